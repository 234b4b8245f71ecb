"""When a signing transaction needs an operator: it failed, or it stalled.

A transaction *stalls* when it is still on its way (an active state: not final, not stopped
on an error) and nothing has moved it for ``stall_after`` — its runner item has not changed
(a request waiting for the patient is polled, so its item keeps changing) or it has no open
item at all (that one the alert scan finds within a minute: ``signing.alerts``). A failed
one needs an operator whatever its age. Everything else needs nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


EVERY_ORGANIZATION = "*"


def recipients(alert_emails: Mapping[str, Sequence[str]], organization_code: str) -> list[str]:
    """Who is mailed about an МО's alert: its own addresses, then those for every МО
    (``"*"``), each once (addresses differing only in case are one)."""
    found: dict[str, str] = {}
    for address in [*alert_emails.get(organization_code, ()),
                    *alert_emails.get(EVERY_ORGANIZATION, ())]:
        found.setdefault(address.strip().lower(), address.strip())
    return list(found.values())


@dataclass(frozen=True)
class AlertFacts:
    """What an alert e-mail tells staff about one transaction."""

    request_id: str
    organization_name: str
    patient_name: str
    appointment_local: datetime  # in the МО's own time zone
    state_title: str
    reason: str | None


def alert_mail(kind: AlertKind, facts: AlertFacts, *, console_url: str) -> tuple[str, str]:
    """The subject and plain-text body of the operators' e-mail (staff only)."""
    f = facts
    subject = f"medsign: транзакция подписания — {kind.title}"
    what = ("завершилась ошибкой" if kind is AlertKind.failed
            else "зависла: давно нет движения, сама она не продолжится")
    lines = [
        f"Транзакция подписания {what}.",
        "",
        f"МО: {f.organization_name}",
        f"Пациент: {f.patient_name}",
        f"Приём: {f.appointment_local.strftime('%d.%m.%Y %H:%M')} (время МО)",
        f"Состояние: {f.state_title}",
    ]
    if f.reason:
        lines.append(f"Последняя ошибка: {f.reason}")
    lines += ["", f"Открыть в консоли: {console_url.rstrip('/')}/console/requests/{f.request_id}"]
    return subject, "\n".join(lines) + "\n"
