"""Tables of running the installation: which processes are alive, and what a reconciliation
after a restore found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base
from medsign.db.types import UTCDateTime


class ServiceProcessRow(Base):
    """A running ``serve`` or ``worker`` of this installation: it registers at start,
    refreshes ``heartbeat_at`` while it runs and removes itself on a clean stop. ``restore``
    reads these rows to refuse overwriting a database that live processes use."""

    __tablename__ = "service_processes"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ReconciliationFindingRow(Base):
    """One platform transaction a reconciliation after a restore looked at, and what it did:
    ``resumed`` (the flow goes on), ``settled`` (the local record now says what the platform
    says) or ``operator`` (a person must decide; ``detail`` says what and why)."""

    __tablename__ = "reconciliation_findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signing_request_id: Mapped[str | None] = mapped_column(String(36), index=True)
    transaction_id: Mapped[str | None] = mapped_column(String(100))
    organization_code: Mapped[str | None] = mapped_column(String(50))
    local_state: Mapped[str | None] = mapped_column(String(20))
    platform_status: Mapped[str | None] = mapped_column(String(50))
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
