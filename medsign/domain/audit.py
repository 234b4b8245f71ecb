"""Entries of the append-only audit log: who did what to which object, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Self

from medsign.domain._checks import require_aware, require_text


@dataclass(frozen=True)
class AuditEvent:
    """One audit record; immutable, because the log is evidence.

    ``actor`` is who acted (``doctor:<login>``, ``worker:<id>``, ``mis``, ...),
    ``action`` what happened (``signing.sent``), ``subject_*`` what it was done to.
    """

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    organization_code: str | None
    details: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_text(self.actor, "actor", "Кто выполнил действие")
        require_text(self.action, "action", "Действие")

    @classmethod
    def create(
        cls,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        organization_code: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> Self:
        """A validated event; ``at`` is stored in UTC and ``details`` copied read-only."""
        return cls(
            at=require_aware(at, "at").astimezone(UTC),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            organization_code=organization_code,
            # A copy, so a caller mutating its dict later cannot rewrite history.
            details=MappingProxyType(dict(details or {})),
        )
