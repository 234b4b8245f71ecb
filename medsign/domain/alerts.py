"""When a signing transaction needs an operator: it failed, or it stalled.

A transaction *stalls* when it is still on its way (an active state: not final, not stopped
on an error) and nothing has moved it for ``stall_after`` — its runner item has not changed
(a request waiting for the patient is polled, so its item keeps changing) or it has no open
item at all. A failed one needs an operator whatever its age. Everything else needs nobody.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from medsign.domain.signing import ACTIVE_STATES, SigningState


class AlertKind(StrEnum):
    failed = "failed"
    stalled = "stalled"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian words, shadow str.title
        return {"failed": "ошибка", "stalled": "зависла"}[self.value]


def stalled_before(now: datetime, stall_after: timedelta) -> datetime:
    """A request whose last progress is older than this has stalled."""
    return now - stall_after


def alert_of(state: SigningState, *, last_progress: datetime | None, scheduled: bool,
             now: datetime, stall_after: timedelta) -> AlertKind | None:
    """The alert a request raises: ``last_progress`` is when its runner item last changed,
    ``scheduled`` whether that item is still waiting to run (None/False: nobody will move
    the request by themselves)."""
    if state is SigningState.failed:
        return AlertKind.failed
    if state not in ACTIVE_STATES:
        return None
    if last_progress is None or not scheduled:
        return AlertKind.stalled
    return AlertKind.stalled if last_progress < stalled_before(now, stall_after) else None
