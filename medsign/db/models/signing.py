"""Signing transactions: the request, its history and its documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base, Timestamps
from medsign.db.types import UTCDateTime
from medsign.domain.signing import FINAL_STATES

# A request is open until it reaches a final state (``domain.signing.OPEN_STATES``, ``failed``
# included); the SQL is derived from the one list of final states.
OPEN_SIGNING_WHERE = "state NOT IN ({})".format(
    ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES)))


ONE_OPEN_SIGNING_INDEX = "uq_signing_requests_open_appointment"


class SigningRequestRow(Timestamps, Base):
    """One signing transaction. At most one per appointment is open (a partial unique index):
    the service refuses a second start, and the index refuses whatever slips past it."""

    __tablename__ = "signing_requests"
    __table_args__ = (
        UniqueConstraint("api_client_id", "idempotency_key"),
        # The lists' keyset order (created_at, id), alone and under each equality filter
        # (organisation, state, both): every page is one index range (``repository.page``).
        Index("ix_signing_requests_created", "created_at", "id"),
        Index("ix_signing_requests_org_created", "organization_id", "created_at", "id"),
        Index("ix_signing_requests_state_created", "state", "created_at", "id"),
        Index("ix_signing_requests_org_state_created", "organization_id", "state", "created_at",
              "id"),
        # The failed ones alone, in the lists' order: the console's badge counts them on
        # every page (index-only), a list of them pages through it.
        Index("ix_signing_requests_failed", "created_at", "id",
              postgresql_where=text("state = 'failed'"), sqlite_where=text("state = 'failed'")),
        # ... and by when they failed: the «требуют внимания» list, oldest first.
        Index("ix_signing_requests_failed_changed", "updated_at", "id",
              postgresql_where=text("state = 'failed'"), sqlite_where=text("state = 'failed'")),
        # The appointment window (``appointment_from``/``appointment_to``): the window's
        # requests are one range, index-only with the branch's organisation and state.
        Index("ix_signing_requests_appointment_start", "appointment_starts_at", "created_at",
              "id", postgresql_include=["organization_id", "state"]),
        Index(ONE_OPEN_SIGNING_INDEX, "appointment_id", unique=True,
              postgresql_where=text(OPEN_SIGNING_WHERE), sqlite_where=text(OPEN_SIGNING_WHERE)),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    # The appointment's start, kept here by the database (migration 0020's triggers: set on
    # insert, followed on every reschedule, whoever writes) so that the lists' appointment
    # window reads one index range, not a probe per appointment of the window.
    appointment_starts_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=FetchedValue())
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    consent_kinds: Mapped[list[Any]] = mapped_column(JSON)
    phone: Mapped[str] = mapped_column(String(12))
    initiated_by: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    transaction_id: Mapped[str | None] = mapped_column(String(100), index=True)
    zip_file_id: Mapped[str | None] = mapped_column(String(100))
    uploaded_file_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    completion_file_id: Mapped[str | None] = mapped_column(String(100))
    failed_from: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    api_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningEventRow(Base):
    """The history of one signing request: every state change, in order."""

    __tablename__ = "signing_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signing_request_id: Mapped[str] = mapped_column(ForeignKey("signing_requests.id"),
                                                    index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DocumentRow(Base):
    """A file of a signing request: the platform's archive as received, the MO's signatures."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signing_request_id: Mapped[str] = mapped_column(ForeignKey("signing_requests.id"),
                                                    index=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    covers: Mapped[str | None] = mapped_column(String(300))
    platform_file_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SigningAlertMailRow(Base):
    """A transaction's alert of one kind (``domain.alerts.AlertKind``) already mailed to the
    operators: each is mailed once, never again after a restart."""

    __tablename__ = "signing_alert_mails"
    request_id: Mapped[str] = mapped_column(ForeignKey("signing_requests.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SigningUnattendedRow(Base):
    """An active transaction found with no scheduled runner item: nothing will move it (the
    engine never leaves one so; a crash between steps or a hand edit can). The alert scan
    (``signing.alerts.watch``) keeps this small table, so that the console's badge and lists
    read what it found instead of checking every open transaction at every page."""

    __tablename__ = "signing_unattended"
    request_id: Mapped[str] = mapped_column(ForeignKey("signing_requests.id"), primary_key=True)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
