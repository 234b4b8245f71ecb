"""Opaque page cursors: a small JSON object, base64url without padding.

One encoding for every paged list (the API's signing requests, the console's pages); what
goes inside is the list's business (``signing.service.Cursor``)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from medsign.httpsafe import bodies

MAX_LENGTH = 500
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}")


def encode(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> dict[str, Any] | None:
    """The cursor's data, or None for anything that is not one of ours."""
    if not token or len(token) > MAX_LENGTH:
        return None
    try:
        data = bodies.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None
    return data if isinstance(data, dict) else None


def is_id(value: object) -> bool:
    """An identifier as the API accepts one in a path (what a cursor may point at)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def moment(value: object) -> datetime | None:
    """A cursor's time (``datetime.isoformat`` text, with its offset), or None for anything
    else, a time without a zone or one the database cannot keep in UTC included."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
        at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return at if at.tzinfo is not None else None
