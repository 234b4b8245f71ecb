"""When to send the day-before invitation to sign (flow A, step 1).

The rule, in the medical organisation's own time zone:

1. the invitation is *due* at ``appointment_start - offset``;
2. it may go out only in ``[now, appointment_start - min_lead]`` (never in the past, never
   so late that the patient has no time to act) and outside quiet hours;
3. of those moments it goes out at the one nearest to the due time, earlier or later; at
   equal distance the earlier one (a patient would rather be told sooner than later);
4. when there is no such moment: ``None`` (the doctor signs with the patient in the clinic).

So a 22:30 visit with quiet hours 21:00–09:00 is announced at 21:00 the evening before (an
hour and a half early), not at 09:00 the same day; a booking made after its due time is
announced at once, or when the quiet hours end if that still leaves the lead.

Quiet hours are one window a day, so the nearest allowed moment is the aim itself (when
allowed) or one of the two ends of the window around it. Time zone arithmetic is done on
wall-clock time through ``zoneinfo``, so a zone with DST would still be right; Russia has had
none since 2014.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medsign.domain._checks import require_aware
from medsign.domain.errors import DomainError
from medsign.domain.organizations import QuietHours, zone

# The default of ``notifications.min_lead``: half a day to read the documents and sign.
DEFAULT_MIN_LEAD = timedelta(hours=12)


def notification_time(
    appointment_start: datetime,
    offset: timedelta,
    tz: str,
    quiet: QuietHours,
    now: datetime,
    min_lead: timedelta = DEFAULT_MIN_LEAD,
) -> datetime | None:
    """The moment (aware, UTC) to send the invitation, or None if there is none."""
    _check_arguments(appointment_start, offset, now, min_lead)
    local_zone = zone(tz)
    due = appointment_start - offset
    deadline = appointment_start - min_lead
    if deadline < now:
        return None
    aim = min(max(due, now), deadline).astimezone(local_zone)
    candidates = [moment for moment in (quiet.previous_allowed(aim), quiet.next_allowed(aim))
                  if now <= moment <= deadline]
    if not candidates:
        return None
    # Earlier first, so that min() keeps it on a tie.
    best = min(candidates, key=lambda moment: abs(moment - due))
    return best.astimezone(UTC)


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
