"""Events as durable work: an event (``webhook_events``), one delivery per subscribed
endpoint and one runner work item per delivery are written in the caller's transaction —
the transaction of the change the event tells about — so an event exists exactly when its
change does (the outbox pattern). The ``webhook.deliver`` step reads and records through
here."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.orm import Session

from medsign.db.integrity import get_existing
from medsign.db.models import (
    ApiClientRow,
    AppointmentRow,
    NotificationRow,
    OrganizationRow,
    PatientRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
)
from medsign.domain import webhooks as rules
from medsign.domain.webhooks import EventType
from medsign.runner import store

KIND = "webhook.deliver"
STEP = "deliver"
ACTIVE, DISABLED = "active", "disabled"
PENDING, DELIVERED, STOPPED = "pending", "delivered", "stopped"


def body(event_id: str, event_type: EventType, data: dict[str, Any], now: datetime) -> str:
    """The JSON sent (Standard Webhooks' ``type``, ``timestamp``, ``data``), made once."""
    return json.dumps({"id": event_id, "type": event_type.value,
                       "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                       "data": data}, ensure_ascii=False, separators=(",", ":"))


def _listening(db: Session, event_type: EventType, organization_code: str
               ) -> list[WebhookEndpointRow]:
    """Active endpoints subscribed to ``event_type`` whose live client may see the МО."""
    rows = db.execute(select(WebhookEndpointRow, ApiClientRow.organizations)
                      .join(ApiClientRow, ApiClientRow.id == WebhookEndpointRow.api_client_id)
                      .where(WebhookEndpointRow.state == ACTIVE,
                             ApiClientRow.revoked_at.is_(None))
                      .order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.id)).all()
    return [endpoint for endpoint, organizations in rows
            if event_type.value in endpoint.event_types
            and (organizations is None or organization_code in organizations)]


def emit(db: Session, event_type: EventType, *, organization_id: int, organization_code: str,
         subject_id: str, data: dict[str, Any], now: datetime) -> str | None:
    """Record the event for every endpoint that listens; its id, or None when none does
    (nothing is written then)."""
    endpoints = _listening(db, event_type, organization_code)
    if not endpoints:
        return None
    event_id = str(uuid.uuid4())
    db.add(WebhookEventRow(id=event_id, type=event_type.value, organization_id=organization_id,
                           subject_id=subject_id[:100], created_at=now,
                           body=body(event_id, event_type, data, now)))
    db.flush()
    conn = db.connection()
    for endpoint in endpoints:
        delivery_id = str(uuid.uuid4())
        db.add(WebhookDeliveryRow(id=delivery_id, event_id=event_id, endpoint_id=endpoint.id,
                                  state=PENDING, attempts=0, created_at=now))
        db.flush()
        store.enqueue(conn, kind=KIND, step=STEP, ref=delivery_id, now=now)
    return event_id


@dataclass(frozen=True)
class Loaded:
    """What one delivery attempt needs, read at the start of the step."""

    delivery_id: str
    delivery_state: str
    attempts: int
    endpoint_id: str
    endpoint_state: str
    url: str
    secret: str
    body: str


def load(conn: Connection, delivery_id: str) -> Loaded | None:
    row = conn.execute(
        select(WebhookDeliveryRow.id, WebhookDeliveryRow.state, WebhookDeliveryRow.attempts,
               WebhookEndpointRow.id, WebhookEndpointRow.state, WebhookEndpointRow.url,
               WebhookEndpointRow.secret, WebhookEventRow.body)
        .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id)
        .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
        .where(WebhookDeliveryRow.id == delivery_id)).first()
    return None if row is None else Loaded(*row)


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_D = cast(Table, WebhookDeliveryRow.__table__)
_E = cast(Table, WebhookEndpointRow.__table__)
_A = cast(Table, WebhookAttemptRow.__table__)


def record(conn: Connection, loaded: Loaded, attempt: Attempt, *, disable_after: timedelta) -> None:
    """Store the attempt, move the delivery, and apply the disable rule to its endpoint
    (runs in the runner's transaction, only while the item's lease holds)."""
    conn.execute(_A.insert().values(
        delivery_id=loaded.delivery_id, at=attempt.at, status_code=attempt.status_code,
        duration_ms=attempt.duration_ms, response_excerpt=attempt.response_excerpt,
        error=attempt.error))
    values: dict[str, Any] = {"attempts": _D.c.attempts + 1, "last_attempt_at": attempt.at}
    if attempt.delivered:
        values |= {"state": DELIVERED, "delivered_at": attempt.at}
    conn.execute(update(_D).where(_D.c.id == loaded.delivery_id).values(**values))
    if attempt.delivered:
        conn.execute(update(_E).where(_E.c.id == loaded.endpoint_id,
                                      _E.c.failing_since.is_not(None))
                     .values(failing_since=None))
        return
    conn.execute(update(_E).where(_E.c.id == loaded.endpoint_id)
                 .values(failing_since=func.coalesce(_E.c.failing_since, attempt.at)))
    since = conn.execute(select(_E.c.failing_since).where(
        _E.c.id == loaded.endpoint_id)).scalar_one()
    decision = rules.after_attempt(delivered=False, failing_since=since, now=attempt.at,
                                   period=disable_after)
    if decision.disable:
        conn.execute(update(_E).where(_E.c.id == loaded.endpoint_id, _E.c.state == ACTIVE)
                     .values(state=DISABLED, disabled_at=attempt.at, updated_at=attempt.at,
                             disabled_reason=rules.disabled_reason(disable_after)))


def stop(conn: Connection, delivery_id: str) -> None:
    """The endpoint is disabled: the delivery ends undelivered (it may be replayed)."""
    conn.execute(update(_D).where(_D.c.id == delivery_id, _D.c.state == PENDING)
                 .values(state=STOPPED))


# ---- What each non-signing event says; called from the one place its change is made ----

def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _organization(db: Session, organization_id: int) -> OrganizationRow:
    return get_existing(db, OrganizationRow, organization_id)


def invitation_sent(db: Session, row: NotificationRow, *, now: datetime) -> None:
    """The day-before invitation reached the patient's MAX chat."""
    appt = get_existing(db, AppointmentRow, row.appointment_id)
    patient = get_existing(db, PatientRow, row.patient_id)
    org = _organization(db, appt.organization_id)
    emit(db, EventType.invitation_sent, organization_id=org.id, organization_code=org.code,
         subject_id=appt.external_id, now=now,
         data={"organization": org.code, "appointment": appt.external_id,
               "patient": patient.external_id, "channel": "max", "at": _iso(now)})


def invitation_answered(db: Session, notification_id: int, *, choice: str,
                        now: datetime) -> None:
    """The patient chose how to sign (``online`` or ``paper``) on an invitation."""
    row = get_existing(db, NotificationRow, notification_id)
    appt = get_existing(db, AppointmentRow, row.appointment_id)
    patient = get_existing(db, PatientRow, row.patient_id)
    org = _organization(db, appt.organization_id)
    emit(db, EventType.invitation_answered, organization_id=org.id,
         organization_code=org.code, subject_id=appt.external_id, now=now,
         data={"organization": org.code, "appointment": appt.external_id,
               "patient": patient.external_id, "choice": choice, "at": _iso(now)})


def max_account_linked(db: Session, patient: PatientRow, *, how: str, now: datetime) -> None:
    """The patient's MAX account is linked (or re-linked) to their record."""
    org = _organization(db, patient.organization_id)
    emit(db, EventType.max_account_linked, organization_id=org.id, organization_code=org.code,
         subject_id=patient.external_id, now=now,
         data={"organization": org.code, "patient": patient.external_id, "how": how,
               "at": _iso(now)})
