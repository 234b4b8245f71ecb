"""The append-only audit log: who did what to which object, and under which request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from medsign.db.models import AuditRow
from medsign.domain.audit import AuditEvent
from medsign.logs import correlation_id


def record(db: Session | Connection, *, at: datetime, actor: str, action: str,
           subject_type: str, subject_id: str, organization_code: str | None,
           details: dict[str, Any] | None = None) -> None:
    event = AuditEvent.create(at=at, actor=actor, action=action, subject_type=subject_type,
                              subject_id=subject_id, organization_code=organization_code,
                              details=details or {})
    db.execute(insert(AuditRow).values(
        at=event.at, actor=event.actor, action=event.action, subject_type=event.subject_type,
        subject_id=event.subject_id, organization_code=event.organization_code,
        correlation_id=correlation_id(), details=dict(event.details)))
