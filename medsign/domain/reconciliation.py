"""What to do with a platform transaction after a restore: the reconciliation's decisions.

A restore puts the database back to a backup; the platform went on. For each transaction —
a request the database still has open, a ``new`` request whose send call was recorded, or a
line of the transaction journal — the reconciliation asks the platform its status and
``decide`` says what follows from both sides:

- ``resumed``: the request's flow goes on from its step (the platform's answer is what the
  flow's next step expects); for a ``new`` request whose transaction the journal names, the
  transaction is recorded first, so that the flow polls it instead of sending again;
- ``settled``: the platform's final answer is applied as the poll step would apply it
  (refusal, expiry, platform error), or — for a request whose MO signature had been uploaded —
  the completion that happened after the backup;
- ``operator``: a person must decide (``reason`` says what and why, in words for staff); a
  request the flow must not carry on is stopped (``Action.stop``: it fails, its work ends);
- ``unreachable``: the platform could not be asked; nothing changes.

``platform_ending`` is the one mapping of a final platform status to the request's ending,
used by the poll step and here alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from medsign.domain.signing import ACTIVE_STATES, FINAL_STATES, SigningState

S = SigningState


class PlatformAnswer(StrEnum):
    active = "active"
    finished = "finished"
    cancelled = "cancelled"
    error = "error"
    not_found = "not_found"
    unreachable = "unreachable"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return _ANSWER_TITLES[self]


_ANSWER_TITLES = {
    PlatformAnswer.active: "идёт",
    PlatformAnswer.finished: "завершена",
    PlatformAnswer.cancelled: "отменена",
    PlatformAnswer.error: "ошибка",
    PlatformAnswer.not_found: "не найдена",
    PlatformAnswer.unreachable: "не ответила",
}


class Ending(StrEnum):
    """How a request ends on a final platform status reached before the patient signed."""

    expired = "expired"
    refused = "refused"
    platform_error = "platform_error"


def platform_ending(status: str, reason: str | None) -> Ending | None:
    """The ending a final status means for a request waiting for the patient (``sent``);
    ``None`` while the transaction goes on. ``finished`` before the patient signed is no
    ending this service made: an error of the platform."""
    if status == "cancelled":
        return Ending.expired if reason == "expired" else Ending.refused
    if status in ("error", "finished"):
        return Ending.platform_error
    return None


class Outcome(StrEnum):
    resumed = "resumed"
    settled = "settled"
    operator = "operator"
    unreachable = "unreachable"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return _OUTCOME_TITLES[self]


_OUTCOME_TITLES = {
    Outcome.resumed: "продолжено",
    Outcome.settled: "приведено к ответу платформы",
    Outcome.operator: "нужно решение оператора",
    Outcome.unreachable: "не проверено",
}


class Action(StrEnum):
    """A change the reconciliation makes, in the order of ``Decision.actions``."""

    record_transaction = "record_transaction"  # new -> sent with the journal's transaction
    settle_expired = "settle_expired"
    settle_refused = "settle_refused"
    settle_platform_error = "settle_platform_error"
    settle_completed = "settle_completed"  # uploaded -> completed: completed after the backup
    # countersigned -> completed: the platform completed with the signature the database has
    settle_recovered = "settle_recovered"
    # fetch the archive again, counter-sign it again, complete without a second upload
    recover = "recover"
    stop = "stop"  # fail the request and end its work: the flow must not go on


_SETTLE = {Ending.expired: Action.settle_expired, Ending.refused: Action.settle_refused,
           Ending.platform_error: Action.settle_platform_error}
# Where the MO's upload happened: the platform's step status once the MO has uploaded [INV].
_MO_UPLOADED_STEP = "done"


@dataclass(frozen=True)
class Local:
    """The request as the restored database has it; ``state`` None: not in the database."""

    state: SigningState | None
    transaction_id: str | None = None
    send_recorded: bool = False
    journal_transaction_id: str | None = None
    recovering: bool = False  # an earlier reconciliation set its work to fetch it again


@dataclass(frozen=True)
class Platform:
    answer: PlatformAnswer
    steps: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    actions: tuple[Action, ...] = ()


def needs_platform(local: Local) -> bool:
    """Whether the platform is asked at all: a ``new`` request with a recorded send call but
    no transaction in the journal has nothing to ask about."""
    return local.state is None or bool(local.transaction_id or local.journal_transaction_id)


def decide(local: Local, platform: Platform | None) -> Decision:
    """The decision for one transaction (``platform`` None when ``needs_platform`` says no)."""
    if local.state is None and platform is None:
        return Decision(Outcome.operator, _UNCONFIRMED)
    if platform is None or not needs_platform(local):
        return _unsent(local)
    if platform.answer is PlatformAnswer.unreachable:
        return Decision(Outcome.unreachable, "Платформа не ответила: ничего не изменено, "
                        "повторите сверку позже.")
    if local.state is None:
        return Decision(Outcome.operator, _UNKNOWN + _platform_says(platform))
    if local.state in FINAL_STATES:
        return Decision(Outcome.settled, f"Запрос уже завершён («{local.state.title}»): "
                                         "менять нечего.")
    if local.state not in ACTIVE_STATES:
        return Decision(Outcome.operator, f"Запрос остановлен («{local.state.title}»), "
                        "решает оператор: повторить или отменить. " + _platform_says(platform))
    recorded = local.state is S.new
    record = (Action.record_transaction,) if recorded else ()
    if platform.answer is PlatformAnswer.not_found:
        return Decision(Outcome.operator, "Платформа не знает эту транзакцию: подписание "
                        "остановлено, проверьте в кабинете партнёра и начните его заново.",
                        (Action.stop,))
    if platform.answer is PlatformAnswer.active:
        return _active(local.state, platform, record)
    if platform.answer is PlatformAnswer.finished:
        if local.recovering:
            return Decision(Outcome.resumed, "Архив уже получается заново по решению прошлой "
                            "сверки: менять нечего.")
        return _finished(local.state, record)
    return _ended(local.state, platform, record)


_UNCONFIRMED = ("Запроса нет в базе: он начат после резервной копии. Журнал записал начало "
                "отправки, но не номер транзакции: процесс остановился, не дождавшись ответа "
                "платформы. Дошла ли отправка до пациента, неизвестно — проверьте в кабинете "
                "партнёра по записи на приём и свяжитесь с пациентом; при необходимости начните "
                "подписание заново.")
_UNKNOWN = ("Транзакции нет в базе: запрос начат после резервной копии и потерян при "
            "восстановлении. Свяжитесь с пациентом; при необходимости начните подписание "
            "заново. ")


def _platform_says(platform: Platform) -> str:
    return f"Платформа: транзакция {platform.answer.title}."


def _unsent(local: Local) -> Decision:
    if local.state is S.new and local.send_recorded:
        return Decision(Outcome.resumed, "Отправка была начата, транзакции нет ни в базе, ни "
                        "в журнале: отправка повторится с тем же ключом идемпотентности, и "
                        "платформа вернёт ту же транзакцию, если она уже создана.")
    return Decision(Outcome.settled, "Спрашивать платформу не о чем.")


def _active(state: SigningState, platform: Platform, record: tuple[Action, ...]) -> Decision:
    if _MO_UPLOADED_STEP in platform.steps and state is not S.uploaded:
        return Decision(Outcome.operator, "Подпись МО уже передана на платформу после "
                        "резервной копии, а в базе её нет: подписание остановлено. "
                        "Отмените его и начните заново.", (*record, Action.stop))
    if record:
        return Decision(Outcome.resumed, "Транзакция из журнала записана в запрос: "
                        "подписание продолжится с опроса платформы, без повторной отправки.",
                        record)
    return Decision(Outcome.resumed, f"Подписание продолжится с шага «{state.title}».")


RECOVERED = ("Платформа завершила подписание после резервной копии, а в базе не было "
             "архива и подписи МО: архив, подписанный пациентом, получен заново и подписан МО "
             "заново. На платформе хранится подпись МО, переданная до потери данных.")


def _finished(state: SigningState, record: tuple[Action, ...]) -> Decision:
    if state is S.uploaded:
        return Decision(Outcome.settled, "Платформа завершила транзакцию после резервной "
                        "копии; подпись МО уже была передана: подписание отмечено "
                        "завершённым.", (Action.settle_completed,))
    if state is S.countersigned:
        return Decision(Outcome.settled, "Платформа завершила транзакцию после резервной "
                        "копии с подписью МО, которая есть в базе: подписание отмечено "
                        "завершённым без повторной передачи.", (Action.settle_recovered,))
    return Decision(Outcome.resumed, "Платформа завершила транзакцию после резервной копии, "
                    "а в базе нет архива или подписи МО: архив будет получен заново и подписан "
                    "МО заново, затем подписание отмечено завершённым. Если платформа архив "
                    "уже не отдаёт, подписание остановится с причиной для оператора.",
                    (*record, Action.recover))


def _ended(state: SigningState, platform: Platform, record: tuple[Action, ...]) -> Decision:
    """``cancelled`` or ``error``: settled as the poll step would, from where it polls."""
    ending = platform_ending(platform.answer.value, platform.reason)
    if ending is not None and state in (S.new, S.sent):
        return Decision(Outcome.settled, f"Платформа: транзакция {platform.answer.title}"
                        + (f" ({platform.reason})" if platform.reason else "")
                        + ": запрос завершён так же, как при обычном опросе.",
                        (*record, _SETTLE[ending]))
    return Decision(Outcome.operator, f"Платформа: транзакция {platform.answer.title} после "
                    f"того, как запрос дошёл до шага «{state.title}»: подписание остановлено. "
                    "Проверьте в кабинете партнёра и отмените его.", (*record, Action.stop))
