"""What the doctor may do after online signing ended without a signature: when the patient
refused in Госключ or the request expired, he may send the documents again («Отправить ещё
раз») or move them to paper («На бумаге»). After any other end (an operator's or the clinic's
cancel, a cancelled visit, a completion) neither applies, and while a request is open neither
does: the one open request holds the appointment.
"""

from __future__ import annotations

from enum import StrEnum

from medsign.domain.signing import OPEN_STATES, SigningAction, SigningState

# The ends after which the patient may be asked again.
FOLLOW_UP_AFTER = frozenset({SigningAction.refused, SigningAction.expired})


class FollowUp(StrEnum):
    resend = "resend"
    paper = "paper"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return {"resend": "Отправить ещё раз", "paper": "На бумаге"}[self.value]


def follow_up_blocker(latest_state: str | None, last_action: str | None,
                      waiting: bool) -> str | None:
    """Why the doctor cannot follow up now (None: he can), from the appointment's latest
    signing request: its state and the action of its last move; ``waiting``: some of its
    documents still wait for an electronic signature (or were refused in Госключ)."""
    if latest_state is None:
        return "документы этой записи на подписание ещё не отправлялись"
    if SigningState(latest_state) in OPEN_STATES:
        return "подписание уже идёт"
    if last_action not in FOLLOW_UP_AFTER:
        return "последнее подписание закончилось не отказом пациента и не истечением срока"
    if not waiting:
        return "нет документов, ожидающих электронного подписания"
    return None
