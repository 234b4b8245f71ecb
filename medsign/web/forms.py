"""Small readers of filter forms: dates in the console's time zone, opaque page cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from medsign.records.paging import decode as decode_cursor
from medsign.records.paging import encode as encode_cursor

__all__ = ["day_range", "decode_cursor", "encode_cursor"]


def day_range(value: str, tz: str) -> tuple[datetime, datetime] | None:
    """``YYYY-MM-DD`` as the UTC-aware bounds of that day in ``tz``; None if not a date.

    A date picker offers any day from 0001-01-01 to 9999-12-31; at those ends a bound that
    ``datetime`` cannot hold (in UTC, as the database compares) is clamped to the first or
    last instant it can."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    zone = ZoneInfo(tz)
    end = _midnight(day + timedelta(days=1), zone) if day < date.max else LAST_INSTANT
    return _midnight(day, zone), end


FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)
LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, time.min, zone)
    try:
        local.astimezone(UTC)
    except OverflowError:
        return FIRST_INSTANT if day.year == date.min.year else LAST_INSTANT
    return local
