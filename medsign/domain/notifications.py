"""When to send the day-before invitation to sign (flow A, step 1).

The rule, in the medical organisation's own time zone:

1. aim for ``appointment_start - offset``; if that moment has passed, aim for
   ``now`` (the appointment was booked late: send as soon as allowed);
2. move the aim forward out of quiet hours;
3. if it now lands later than ``appointment_start - min_lead`` (the patient
   would have no time to act), take instead the last allowed moment before
   that deadline, provided it is not in the past;
4. otherwise there is no good moment: ``None`` (the doctor signs with the
   patient in the clinic).

Time zone arithmetic is done on wall-clock time through ``zoneinfo``, so a
zone with DST would still be right; Russia has had none since 2014.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medsign.domain._checks import require_aware
from medsign.domain.errors import DomainError
from medsign.domain.organizations import QuietHours, zone


def notification_time(
    appointment_start: datetime,
    offset: timedelta,
    tz: str,
    quiet: QuietHours,
    now: datetime,
    min_lead: timedelta = timedelta(hours=1),
) -> datetime | None:
    """The moment (aware, UTC) to send the invitation, or None if there is none."""
    _check_arguments(appointment_start, offset, now, min_lead)
    local_zone = zone(tz)
    deadline = appointment_start - min_lead
    aim = max(appointment_start - offset, now)
    forward = quiet.next_allowed(aim.astimezone(local_zone))
    if forward <= deadline:
        return forward.astimezone(UTC)
    backward = quiet.previous_allowed(deadline.astimezone(local_zone))
    return backward.astimezone(UTC) if backward >= now else None


def _check_arguments(
    appointment_start: datetime, offset: timedelta, now: datetime, min_lead: timedelta
) -> None:
    require_aware(appointment_start, "appointment_start")
    require_aware(now, "now")
    for name, value in (("offset", offset), ("min_lead", min_lead)):
        if value < timedelta(0):
            raise DomainError(
                "invalid_offset",
                "Интервал до приёма не может быть отрицательным.",
                name,
            )
