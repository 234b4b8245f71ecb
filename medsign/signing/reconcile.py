"""Reconciliation with the platform after a restore (``medsign reconcile``; docs/reconcile.md).

What is looked at: every request the database has open with a transaction id, every ``new``
request whose send call was recorded (it may have reached the platform), and every entry of
the transaction journal (it outlives the database). The platform is asked the status of each
transaction (through the Goskey client, under the ``goskey`` rate limit, transient failures
retried with the runner's backoff); ``medsign.domain.reconciliation.decide`` says what
follows; the changes go through the state machine and the flow's own endings
(``flow.transition``, ``flow.ending_change``), with the request's work item moved, ended or
left as the flow would. Each transaction's changes, its finding (``reconciliation_findings``,
one ``run_id`` per run) and its audit entry are committed together.

A second run changes nothing: requests settled or stopped by the first are no longer open or
are found the same, and a finding identical in outcome to the last one recorded for the same
transaction is reported but not recorded again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.orm import Session

from medsign.clock import Clock
from medsign.db.models import (
    OrganizationRow,
    ReconciliationFindingRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.domain.consents import ConsentState
from medsign.domain.reconciliation import (
    Action,
    Decision,
    Ending,
    Local,
    Outcome,
    Platform,
    PlatformAnswer,
    decide,
    needs_platform,
)
from medsign.domain.signing import FINAL_STATES, SigningRequest, SigningState
from medsign.integrations.goskey.client import GoskeyClient, GoskeyRejected, GoskeyTransient
from medsign.records import audit
from medsign.runner import store
from medsign.runner.backoff import backoff_delay
from medsign.runner.ratelimit import RateLimiter
from medsign.signing import service as signing_service
from medsign.signing.flow import RECOVER, ending_change, transition
from medsign.signing.journal import DamagedLine, JournalEntry, JournalRead

ACTOR = "system:reconcile"
_FINAL = [s.value for s in FINAL_STATES]
_ENDINGS = {Action.settle_expired: Ending.expired, Action.settle_refused: Ending.refused,
            Action.settle_platform_error: Ending.platform_error}


@dataclass(frozen=True)
class Subject:
    """One transaction to look at: a request of the database, a journal entry, or both."""

    request_id: str | None
    transaction_id: str | None
    organization_code: str | None
    organization_name: str | None
    local: Local
    journal: JournalEntry | None = None


@dataclass(frozen=True)
class Finding:
    subject: Subject
    platform: Platform | None
    decision: Decision
    recorded: bool

    def to_json(self) -> dict[str, Any]:
        s, local = self.subject, self.subject.local
        return {
            "signing_request": s.request_id, "transaction": s.transaction_id,
            "organization_code": s.organization_code,
            "organization_name": s.organization_name,
            "local_state": local.state.value if local.state else None,
            "platform_status": self.platform.answer.value if self.platform else None,
            "platform_steps": list(self.platform.steps) if self.platform else [],
            "platform_reason": self.platform.reason if self.platform else None,
            "outcome": self.decision.outcome.value, "reason": self.decision.reason,
            "actions": [a.value for a in self.decision.actions], "recorded": self.recorded,
            "journal": None if s.journal is None else {
                "at": s.journal.at.isoformat(), "appointment": s.journal.appointment},
        }

    def line(self) -> str:
        s, local = self.subject, self.subject.local
        request = s.request_id or "—"
        organization = s.organization_name or s.organization_code or "МО неизвестна"
        state = local.state.title if local.state else "нет в базе"
        platform = "не спрашивали" if self.platform is None else self.platform.answer.title
        journal = "" if s.journal is None else (
            f" (журнал: {s.journal.at:%Y-%m-%d %H:%M} UTC, МО {s.journal.organization}, "
            f"запись {s.journal.appointment})")
        return (f"запрос {request}, транзакция {s.transaction_id or '—'}, {organization}"
                f"{journal}: {state} → платформа: {platform} → {self.decision.outcome.title}. "
                f"{self.decision.reason}")


@dataclass
class Report:
    run_id: str
    started_at: datetime
    dry_run: bool
    findings: list[Finding] = field(default_factory=list)
    damaged: list[DamagedLine] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when everything was resumed or settled; 1 when anything needs an operator or
        could not be asked."""
        good = (Outcome.resumed, Outcome.settled)
        return 0 if all(f.decision.outcome in good for f in self.findings) else 1

    def counts(self) -> dict[str, int]:
        return {o.value: sum(1 for f in self.findings if f.decision.outcome is o)
                for o in Outcome}

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "started_at": self.started_at.isoformat(),
                "dry_run": self.dry_run, "counts": self.counts(),
                "damaged_journal_lines": [str(d) for d in self.damaged],
                "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class Asking:
    """How the platform is asked: the client, the shared rate limit and the retries."""

    client: GoskeyClient
    limiter: RateLimiter | None = None
    attempts: int = 3
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_cap: timedelta = timedelta(seconds=30)


# -- what to look at ------------------------------------------------------------------------

def subjects(conn: Connection, journal: JournalRead) -> list[Subject]:
    """Open requests with a transaction, ``new`` ones with a recorded send, journal entries."""
    with Session(bind=conn) as db:
        rows = db.execute(
            select(SigningRequestRow, OrganizationRow)
            .join(OrganizationRow, OrganizationRow.id == SigningRequestRow.organization_id)
            .where(SigningRequestRow.state.not_in(_FINAL),
                   SigningRequestRow.transaction_id.is_not(None))
            .order_by(SigningRequestRow.created_at, SigningRequestRow.id)).all()
        sending = db.execute(
            select(SigningRequestRow, OrganizationRow)
            .join(OrganizationRow, OrganizationRow.id == SigningRequestRow.organization_id)
            .join(WorkItemRow, (WorkItemRow.ref == SigningRequestRow.id)
                  & (WorkItemRow.kind == signing_service.SIGNING_KIND))
            .where(SigningRequestRow.state == SigningState.new.value,
                   WorkItemRow.step == signing_service.FIRST_STEP,
                   WorkItemRow.call_key.is_not(None))
            .order_by(SigningRequestRow.created_at, SigningRequestRow.id)).all()
        by_request: dict[str, tuple[SigningRequestRow, OrganizationRow]] = {
            r.id: (r, o) for r, o in [*rows, *sending]}
        found: list[Subject] = []
        journal_of = {e.signing_request: e for e in journal.entries}
        recovering = {ref for ref, data in db.execute(
            select(WorkItemRow.ref, WorkItemRow.data)
            .where(WorkItemRow.kind == signing_service.SIGNING_KIND,
                   WorkItemRow.ref.in_(list(by_request)))) if (data or {}).get(RECOVER)}
        for row, org in by_request.values():
            entry = journal_of.get(row.id)
            found.append(_known(row, org, entry, send_recorded=True,
                                recovering=row.id in recovering))
        seen = set(by_request)
        names = {o.code: o.name for o in db.scalars(select(OrganizationRow))}
        for entry in journal.entries:
            if entry.signing_request in seen:
                continue
            seen.add(entry.signing_request)
            request = db.get(SigningRequestRow, entry.signing_request)
            if request is not None and (request.state in _FINAL or request.transaction_id):
                continue  # ended, or open with its transaction: listed above when open
            owner = None if request is None else db.get(OrganizationRow,
                                                         request.organization_id)
            if request is not None and owner is not None:
                found.append(_known(request, owner, entry, send_recorded=False))
                continue
            found.append(Subject(entry.signing_request, entry.transaction or None,
                                 entry.organization, names.get(entry.organization), Local(None),
                                 entry))
    return found


def _known(row: SigningRequestRow, org: OrganizationRow, entry: JournalEntry | None, *,
           send_recorded: bool, recovering: bool = False) -> Subject:
    state = SigningState(row.state)
    journal_tx = (entry.transaction or None) if entry is not None and state is SigningState.new \
        else None
    local = Local(state, row.transaction_id, send_recorded=send_recorded,
                  journal_transaction_id=journal_tx, recovering=recovering)
    return Subject(row.id, row.transaction_id or journal_tx, org.code, org.name, local, entry)


# -- asking ---------------------------------------------------------------------------------

async def ask(asking: Asking, transaction_id: str) -> Platform:
    """The platform's status of one transaction; ``unreachable`` once the retries are spent
    (or for an answer that is no status: the platform could not be asked properly)."""
    for attempt in range(1, asking.attempts + 1):
        if asking.limiter is not None:
            limiter = asking.limiter
            wait = await asyncio.to_thread(limiter.reserve, "goskey")
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            status = await asking.client.status(transaction_id)
        except GoskeyTransient as exc:
            if attempt == asking.attempts:
                return Platform(PlatformAnswer.unreachable, reason=exc.message)
            delay = backoff_delay(attempt, base=asking.backoff_base, cap=asking.backoff_cap,
                                  retry_after=exc.retry_after)
            await asyncio.sleep(delay.total_seconds())
            continue
        except GoskeyRejected as exc:
            if exc.status == 404:
                return Platform(PlatformAnswer.not_found, reason=exc.message)
            return Platform(PlatformAnswer.unreachable, reason=f"{exc.code}: {exc.message}")
        known = {a.value for a in PlatformAnswer} - {"not_found", "unreachable"}
        # An unknown status is no ending: the flow keeps polling it, so it reads as active.
        answer = PlatformAnswer(status.status) if status.status in known else \
            PlatformAnswer.active
        return Platform(answer, tuple(s.status for s in status.steps), status.reason)
    raise AssertionError("unreachable: the loop returns")  # pragma: no cover


# -- applying -------------------------------------------------------------------------------

def apply(conn: Connection, finding: Finding, *, run_id: str, clock: Clock) -> bool:
    """The decision's changes, the finding and its audit entry, in the caller's transaction.
    Returns whether the finding was recorded (not when the last one says the same)."""
    subject, decision = finding.subject, finding.decision
    if decision.actions and subject.request_id is not None:
        _change(conn, subject, decision, clock)
    elif _same_as_last(conn, subject, decision.outcome):
        return False
    now = clock.now()
    platform = finding.platform
    conn.execute(insert(ReconciliationFindingRow).values(
        run_id=run_id, found_at=now, signing_request_id=subject.request_id,
        transaction_id=subject.transaction_id, organization_code=subject.organization_code,
        local_state=subject.local.state.value if subject.local.state else None,
        platform_status=platform.answer.value if platform else None,
        outcome=decision.outcome.value, detail=decision.reason))
    audit.record(conn, at=now, actor=ACTOR, action=f"reconcile.{decision.outcome.value}",
                 subject_type="signing_request" if subject.local.state else
                 "platform_transaction",
                 subject_id=subject.request_id or subject.transaction_id or "",
                 organization_code=subject.organization_code,
                 details={"run_id": run_id, "transaction": subject.transaction_id,
                          "local_state": finding.to_json()["local_state"],
                          "platform_status": finding.to_json()["platform_status"],
                          "actions": [a.value for a in decision.actions],
                          "reason": decision.reason})
    return True


def _same_as_last(conn: Connection, subject: Subject, outcome: Outcome) -> bool:
    f = ReconciliationFindingRow
    where = (f.transaction_id == subject.transaction_id) if subject.transaction_id else \
        (f.signing_request_id == subject.request_id)
    last = conn.execute(select(f.outcome).where(where).order_by(f.id.desc()).limit(1)).scalar()
    return last == outcome.value


def _change(conn: Connection, subject: Subject, decision: Decision, clock: Clock) -> None:
    """Move the request through the state machine and its work item as the flow would."""
    request_id = subject.request_id or ""
    actions = decision.actions
    consents: ConsentState | None = None
    moves: list[Callable[[SigningRequest], None]] = []
    for action in actions:
        if action in _ENDINGS:
            move, consents = ending_change(_ENDINGS[action], _status_word(action))
        elif action is Action.settle_completed:
            move, consents = _complete, ConsentState.signed
        elif action is Action.settle_recovered:
            move, consents = _complete_after_restore, ConsentState.signed
        elif action is Action.record_transaction:
            move = _record(subject.local.journal_transaction_id or "")
        elif action is Action.recover:
            continue  # the flow fetches and signs again (the work item below)
        else:
            move = _stop("Сверка после восстановления: " + decision.reason)
        moves.append(move)

    def change(request: SigningRequest) -> None:
        for move in moves:
            move(request)
    transition(clock, request_id, change, consents=consents)(conn)
    now, kind = clock.now(), signing_service.SIGNING_KIND
    if Action.stop in actions or any(a in _ENDINGS for a in actions):
        store.cancel_for_ref(conn, kind=kind, ref=request_id, now=now, reason=decision.reason)
    elif Action.settle_completed in actions or Action.settle_recovered in actions:
        store.finish_for_ref(conn, kind=kind, ref=request_id, now=now, reason=decision.reason)
    elif Action.recover in actions:
        step = _RECOVER_FROM.get(subject.local.state or SigningState.sent, "poll")
        store.move_for_ref(conn, kind=kind, ref=request_id, step=step, now=now,
                           data={"polls": 0, RECOVER: True})
    elif Action.record_transaction in actions:
        store.move_for_ref(conn, kind=kind, ref=request_id, step="poll", now=now,
                           data={"polls": 0})


def _complete(request: SigningRequest) -> None:
    request.mark_completed(None)


def _complete_after_restore(request: SigningRequest) -> None:
    request.complete_after_restore("Сверка после восстановления: платформа завершила "
                                   "подписание с подписью МО, которая есть в базе.")


# where a recovery starts: poll for the archive's id, or use the one the database has
_RECOVER_FROM = {SigningState.new: "poll", SigningState.sent: "poll",
                 SigningState.patient_signed: "download",
                 SigningState.archive_verified: "countersign"}


def _record(transaction_id: str) -> Callable[[SigningRequest], None]:
    return lambda request: request.mark_sent(transaction_id)


def _stop(reason: str) -> Callable[[SigningRequest], None]:
    def stop(request: SigningRequest) -> None:
        if request.can_transition(SigningState.failed):
            request.fail(reason)
    return stop


def _status_word(action: Action) -> str:
    return "error" if action is Action.settle_platform_error else "cancelled"


# -- the run --------------------------------------------------------------------------------

async def reconcile(engine: Engine, asking: Asking, journal: JournalRead, *, clock: Clock,
                    dry_run: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> Report:
    """Look at every subject, ask, decide and (unless ``dry_run``) apply."""
    report = Report(str(uuid.uuid4()), clock.now(), dry_run, damaged=list(journal.damaged))
    with engine.connect() as conn:
        found = subjects(conn, journal)
    for done, subject in enumerate(found, start=1):
        platform = None
        if needs_platform(subject.local) and subject.transaction_id:
            platform = await ask(asking, subject.transaction_id)
        decision = decide(subject.local, platform)
        finding = Finding(subject, platform, decision, recorded=False)
        if not dry_run and decision.outcome is not Outcome.unreachable:
            with engine.begin() as conn:
                recorded = apply(conn, finding, run_id=report.run_id, clock=clock)
            finding = Finding(subject, platform, decision, recorded)
        report.findings.append(finding)
        if progress is not None:
            progress(done, len(found))
    return report


def summary(report: Report) -> Iterable[str]:
    counts = report.counts()
    trial = " (пробный прогон: ничего не изменено)" if report.dry_run else ""
    yield (f"Сверка {report.run_id}{trial}: "
           f"транзакций {len(report.findings)}; продолжено {counts['resumed']}, "
           f"приведено к ответу платформы {counts['settled']}, нужно решение оператора "
           f"{counts['operator']}, платформа не ответила {counts['unreachable']}.")
