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
    """Append one entry in the caller's transaction.

    Written through the connection with one prepared statement, not through the ORM: a
    Session would flush every pending object first and compile a new statement each time —
    most of the cost of a signing step's commit, for a row nothing reads back."""
    event = AuditEvent.create(at=at, actor=actor, action=action, subject_type=subject_type,
                              subject_id=subject_id, organization_code=organization_code,
                              details=details or {})
    conn = db.connection() if isinstance(db, Session) else db
    conn.execute(_INSERT, {
        "at": event.at, "actor": event.actor, "action": event.action,
        "subject_type": event.subject_type, "subject_id": event.subject_id,
        "organization_code": event.organization_code, "correlation_id": correlation_id(),
        "details": dict(event.details)})


_INSERT = insert(AuditRow.__table__)  # type: ignore[arg-type]
