"""What the МИС sends and who may call: organisations, patients, appointments,
consents; the audit log, API clients and their idempotency keys."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base, Timestamps
from medsign.db.types import UTCDateTime


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
    __table_args__ = (
        UniqueConstraint("organization_id", "external_id"),
        # The console finds a patient by any part of the name: trigrams on PostgreSQL.
        Index("ix_patients_search_name", "search_name", postgresql_using="gin",
              postgresql_ops={"search_name": "gin_trgm_ops"}),
        Index("ix_patients_phone", "phone"),
    )
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
    # ``domain.search.name_key`` of the full name, kept by ``clinic.patients.upsert``.
    search_name: Mapped[str | None] = mapped_column(String(610))


class AppointmentRow(Timestamps, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("organization_id", "external_id"),  # as patients'
        # The doctor's day board: one МО's (one doctor's) appointments of a day, in order.
        Index("ix_appointments_org_starts", "organization_id", "starts_at", "id"),
        Index("ix_appointments_org_doctor_starts", "organization_id", "doctor_external_id",
              "starts_at", "id"),
        # The patient's pages: one patient's appointments from a moment on, in order.
        Index("ix_appointments_patient_starts", "patient_id", "starts_at", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), index=True)  # the console's search
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    doctor_name: Mapped[str] = mapped_column(String(300))
    # The МИС's id of the doctor (unique within the МО); a staff account names the same id.
    doctor_external_id: Mapped[str | None] = mapped_column(String(100))
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


class AuditRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (see the migration)."""

    __tablename__ = "audit_log"
    # The console's audit page reads newest first by id: each of its filters has an index
    # ending in id (actor and action by prefix, hence the pattern operators on PostgreSQL).
    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id"),
        Index("ix_audit_log_subject_id", "subject_id", "id"),
        Index("ix_audit_log_actor_id", "actor", "id",
              postgresql_ops={"actor": "varchar_pattern_ops"}),
        Index("ix_audit_log_action_id", "action", "id",
              postgresql_ops={"action": "varchar_pattern_ops"}),
    )
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
