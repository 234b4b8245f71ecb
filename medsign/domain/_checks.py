"""Small argument checks shared by the domain modules (private)."""

from __future__ import annotations

from datetime import datetime

from medsign.domain.errors import DomainError


def require_text(value: str, field: str, label: str) -> str:
    """Return ``value`` unchanged if it has visible characters, else raise."""
    if not value or not value.strip():
        raise DomainError("required", f"Не заполнено поле «{label}».", field)
    return value


def require_aware(value: datetime, field: str) -> datetime:
    """Reject naive datetimes: with eleven time zones, a bare wall time is ambiguous."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(
            "naive_datetime",
            f"Время {value:%d.%m.%Y %H:%M} указано без часового пояса.",
            field,
        )
    return value
