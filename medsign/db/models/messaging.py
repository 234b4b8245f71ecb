"""The MAX side: day-before invitations and messages, link tokens, re-link requests,
received updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base, Timestamps
from medsign.db.types import UTCDateTime


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
    chat of the current account (``bot.links``). ``decision``: None while open,
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
