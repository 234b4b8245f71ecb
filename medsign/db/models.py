"""The tables. Rows are plain storage: rules live in ``medsign.domain``.

Relationships are ``lazy="raise"`` so that a hidden query fails loudly instead of slowly.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from medsign.db.types import UTCDateTime
from medsign.domain.signing import FINAL_STATES

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrganizationRow(Timestamps, Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    address: Mapped[str] = mapped_column(String(1000))
    ogrn: Mapped[str] = mapped_column(String(15))
    inn: Mapped[str] = mapped_column(String(12))
    kpp: Mapped[str] = mapped_column(String(9))
    timezone: Mapped[str] = mapped_column(String(64))
    quiet_hours: Mapped[str | None] = mapped_column(String(11))
    partner_department_id: Mapped[str | None] = mapped_column(String(100))
    template_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PatientRow(Timestamps, Base):
    __tablename__ = "patients"
    # The МИС's id is unique within its organisation only: two clinics may both count from 1.
    __table_args__ = (UniqueConstraint("organization_id", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    last_name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(200))
    middle_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(12))
    max_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    max_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    max_reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    # 11 digits; one person is a patient of several МО, so not unique (``domain.identity``).
    snils: Mapped[str | None] = mapped_column(String(11), index=True)


class AppointmentRow(Timestamps, Base):
    __tablename__ = "appointments"
    __table_args__ = (UniqueConstraint("organization_id", "external_id"),)  # as patients'
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    doctor_name: Mapped[str] = mapped_column(String(300))
    service_name: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0)


class ConsentRow(Base):
    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("appointment_id", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    signing_method: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
        Index("ix_signing_requests_org_created", "organization_id", "created_at"),
        Index(ONE_OPEN_SIGNING_INDEX, "appointment_id", unique=True,
              postgresql_where=text(OPEN_SIGNING_WHERE), sqlite_where=text(OPEN_SIGNING_WHERE)),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    consent_kinds: Mapped[list[Any]] = mapped_column(JSON)
    phone: Mapped[str] = mapped_column(String(12))
    initiated_by: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), index=True)
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


class AuditRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (see the migration)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(100))
    organization_code: Mapped[str | None] = mapped_column(String(64), index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiClientRow(Base):
    __tablename__ = "api_clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    organizations: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRow(Base):
    """A replayable answer to a POST that carried ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRow(Timestamps, Base):
    """The day-before message of one appointment (flow A): at most one live per appointment.

    ``token`` goes into the buttons' payloads: unguessable, tied to this appointment, and
    refused after ``token_expires_at``. ``choice`` is set once, by compare-and-set, so a press
    delivered twice starts signing once. An appointment moved after its invitation went out
    gets a new row; the old one becomes ``superseded`` (its buttons refused) and stays.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("uq_notifications_live_appointment", "appointment_id", unique=True,
              postgresql_where=text("state <> 'superseded'"),
              sqlite_where=text("state <> 'superseded'")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_user_id: Mapped[int | None] = mapped_column(BigInteger)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_mid: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    announced_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    choice: Mapped[str | None] = mapped_column(String(20))
    choice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signing_request_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)


class MaxLinkTokenRow(Base):
    """A one-time deep-link token that links a MAX account to a patient (flow D)."""

    __tablename__ = "max_link_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class MaxRelinkRow(Base):
    """A MAX account asking to replace the one linked to a patient: waits for «Да» from the
    chat of the current account (``services.max_links``). ``decision``: None while open,
    ``yes`` or ``no``; an open row past ``expires_at`` is refused."""

    __tablename__ = "max_relink_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    current_user_id: Mapped[int] = mapped_column(BigInteger)
    new_user_id: Mapped[int] = mapped_column(BigInteger)
    new_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    how: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(10))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MaxUpdateRow(Base):
    """An update received from MAX (webhook or long polling), kept once by its dedupe key."""

    __tablename__ = "max_updates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    update_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SingletonRow(Base):
    """Names of work that must exist exactly once per installation (e.g. the MAX poller)."""

    __tablename__ = "singletons"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    work_item_id: Mapped[int] = mapped_column(Integer)


class WorkItemRow(Base):
    """One unit of durable work driven by the runner (see ``medsign.runner``).

    ``next_run_at`` is the durable timer. While a worker holds the lease, ``next_run_at`` equals
    the lease expiry, so a dead worker's item simply becomes due again; ``lease_version`` is the
    fencing token every write of the holder must match.
    """

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_due", "next_run_at", postgresql_where=text("status = 'scheduled'"),
              sqlite_where=text("status = 'scheduled'")),
        Index("ix_work_items_kind_ref", "kind", "ref"),
        Index("ix_work_items_status_kind", "status", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_version: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    call_key: Mapped[str | None] = mapped_column(String(200))
    call_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateBucketRow(Base):
    """A token bucket shared by every worker process (one row per external API)."""

    __tablename__ = "rate_buckets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


from medsign.db import models_web  # noqa: E402,F401
