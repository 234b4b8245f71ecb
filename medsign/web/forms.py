"""Small readers of filter forms: dates in the console's time zone, opaque page cursors."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def day_range(value: str, tz: str) -> tuple[datetime, datetime] | None:
    """``YYYY-MM-DD`` as the UTC-aware bounds of that day in ``tz``; None if not a date."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    start = datetime.combine(day, time.min, ZoneInfo(tz))
    return start, start + timedelta(days=1)


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
