"""Small readers of filter forms: dates in the console's time zone, opaque page cursors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


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


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any] | None:
    """The cursor's data, or None for anything that is not one of ours (a fresh first page)."""
    if not cursor or len(cursor) > 500:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def page_number(value: int, total: int, size: int) -> int:
    last = max(1, -(-total // size))
    return min(max(1, value), last)
