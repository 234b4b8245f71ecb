"""Outbound events to the МИС (Standard Webhooks): endpoints, the outbox of events, one
delivery per event and subscribed endpoint, and every attempt of a delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base
from medsign.db.types import UTCDateTime


class WebhookEndpointRow(Base):
    """Where one API client (the МИС) wants events. ``secret`` signs them (``whsec_…``); it
    must be kept readable to sign, and is shown to people only when created or rotated.
    ``failing_since``: the first failed attempt after the last success (the disable rule)."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[Any]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEventRow(Base):
    """One event, written in the transaction of the change that caused it. ``body`` is the
    JSON sent, kept as text so that a retry or a replay sends exactly the same bytes."""

    __tablename__ = "webhook_events"
    # Housekeeping: events past ``webhook_history``, oldest first.
    __table_args__ = (Index("ix_webhook_events_created_at", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    subject_id: Mapped[str] = mapped_column(String(100), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDeliveryRow(Base):
    """One event for one endpoint; its id is the ``webhook-id`` (the same on every retry and
    replay). ``state``: ``pending`` → ``delivered``, or ``stopped`` when its endpoint was
    disabled."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        # Housekeeping: ended deliveries past ``webhook_history``, oldest first.
        Index("ix_webhook_deliveries_ended", "created_at",
              postgresql_where=text("state IN ('delivered', 'stopped')"),
              sqlite_where=text("state IN ('delivered', 'stopped')")),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttemptRow(Base):
    """One POST of a delivery: when, the answer's status (none: no answer), how long it took,
    the answer's first kilobyte, the error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
