"""Webhook endpoints of the API clients (the МИС), their deliveries and attempts, replay.

Every change is audited. An endpoint belongs to one API client: the REST API passes the
calling client, the CLI names it, the console (staff) sees them all. The secret is returned
only by ``create`` and ``rotate``; lists never carry it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from medsign.config import Settings
from medsign.db.integrity import get_existing
from medsign.db.models import (
    ApiClientRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
)
from medsign.domain import webhooks as rules
from medsign.errors import Conflict, NotFound, Unprocessable
from medsign.records import audit
from medsign.runner import store
from medsign.webhooks import outbox

MAX_ENDPOINTS_PER_CLIENT = 20
DESCRIPTION_LIMIT = 200


@dataclass(frozen=True)
class WithSecret:
    endpoint: WebhookEndpointRow
    secret: str


def webhook_targets(settings: Settings) -> rules.Targets:
    """Where this installation's endpoints may point (``[webhooks] allowed_networks``)."""
    return rules.Targets(production=settings.profile == "production",
                         allowed=settings.webhooks.allowed_networks)


def _checked(url: str, event_types: Sequence[str], *,
             targets: rules.Targets) -> tuple[str, list[str]]:
    try:
        checked_url = targets.check_url(url)
    except rules.UrlRejected as exc:
        raise Unprocessable("invalid_webhook_url", str(exc)) from None
    try:
        types = rules.check_event_types(list(event_types))
    except ValueError as exc:
        raise Unprocessable("invalid_event_types", str(exc)) from None
    return checked_url, types


def client_by_name(db: Session, name: str) -> ApiClientRow:
    row = db.scalars(select(ApiClientRow).where(ApiClientRow.name == name)).first()
    if row is None:
        raise NotFound("client_not_found", f"Клиент «{name}» не найден.")
    return row


def _audit(db: Session, row: WebhookEndpointRow, action: str, *, actor: str, now: datetime,
           **details: object) -> None:
    audit.record(db, at=now, actor=actor, action=f"webhook_endpoint.{action}",
                 subject_type="webhook_endpoint", subject_id=row.id, organization_code=None,
                 details={"api_client_id": row.api_client_id, **details})


def create(db: Session, *, api_client_id: int, url: str, event_types: Sequence[str],
           description: str | None, targets: rules.Targets, actor: str,
           now: datetime) -> WithSecret:
    checked_url, types = _checked(url, event_types, targets=targets)
    description = (description or "").strip() or None
    if description is not None and len(description) > DESCRIPTION_LIMIT:
        raise Unprocessable("invalid_description",
                            f"Описание: не больше {DESCRIPTION_LIMIT} символов.")
    count = len(list(db.scalars(select(WebhookEndpointRow.id).where(
        WebhookEndpointRow.api_client_id == api_client_id))))
    if count >= MAX_ENDPOINTS_PER_CLIENT:
        raise Conflict("too_many_endpoints",
                       f"У клиента уже {count} адресов событий; удалите или отключите лишние.")
    secret = rules.new_secret()
    row = WebhookEndpointRow(id=str(uuid.uuid4()), api_client_id=api_client_id,
                             url=checked_url, description=description, event_types=types,
                             secret=secret, state=outbox.ACTIVE, created_at=now,
                             updated_at=now)
    db.add(row)
    db.flush()
    _audit(db, row, "created", actor=actor, now=now, url=checked_url, event_types=types)
    return WithSecret(row, secret)


def list_for_client(db: Session, api_client_id: int) -> list[WebhookEndpointRow]:
    return list(db.scalars(select(WebhookEndpointRow)
                           .where(WebhookEndpointRow.api_client_id == api_client_id)
                           .order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.id)))


def get(db: Session, *, api_client_id: int | None, endpoint_id: str,
        lock: bool = False) -> WebhookEndpointRow:
    """The endpoint; another client's (``api_client_id`` given) is not found."""
    query = select(WebhookEndpointRow).where(WebhookEndpointRow.id == endpoint_id)
    if lock:
        query = query.with_for_update()
    row = db.scalars(query).first()
    if row is None or (api_client_id is not None and row.api_client_id != api_client_id):
        raise NotFound("webhook_endpoint_not_found", "Адрес событий не найден.")
    return row


def update(db: Session, *, api_client_id: int | None, endpoint_id: str, url: str | None,
           event_types: Sequence[str] | None, targets: rules.Targets, actor: str,
           now: datetime) -> WebhookEndpointRow:
    row = get(db, api_client_id=api_client_id, endpoint_id=endpoint_id, lock=True)
    checked_url, types = _checked(url if url is not None else row.url,
                                  event_types if event_types is not None else row.event_types,
                                  targets=targets)
    row.url, row.event_types, row.updated_at = checked_url, types, now
    _audit(db, row, "updated", actor=actor, now=now, url=checked_url, event_types=types)
    return row


def rotate(db: Session, *, api_client_id: int | None, endpoint_id: str, actor: str,
           now: datetime) -> WithSecret:
    """A new secret at once; deliveries from now on are signed with it."""
    row = get(db, api_client_id=api_client_id, endpoint_id=endpoint_id, lock=True)
    row.secret, row.updated_at = rules.new_secret(), now
    _audit(db, row, "secret_rotated", actor=actor, now=now)
    return WithSecret(row, row.secret)


def disable(db: Session, *, api_client_id: int | None, endpoint_id: str, reason: str,
            actor: str, now: datetime) -> WebhookEndpointRow:
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise Unprocessable("invalid_reason", "Укажите причину отключения (до 500 символов).")
    row = get(db, api_client_id=api_client_id, endpoint_id=endpoint_id, lock=True)
    if row.state != outbox.DISABLED:
        row.state, row.disabled_reason, row.disabled_at = outbox.DISABLED, reason, now
        row.updated_at = now
        _audit(db, row, "disabled", actor=actor, now=now, reason=reason)
    return row


def enable(db: Session, *, api_client_id: int | None, endpoint_id: str, actor: str,
           now: datetime) -> WebhookEndpointRow:
    """Active again, with a fresh failure clock; deliveries stopped meanwhile stay stopped
    (each can be replayed)."""
    row = get(db, api_client_id=api_client_id, endpoint_id=endpoint_id, lock=True)
    if row.state != outbox.ACTIVE:
        row.state, row.disabled_reason, row.disabled_at = outbox.ACTIVE, None, None
        row.failing_since, row.updated_at = None, now
        _audit(db, row, "enabled", actor=actor, now=now)
    return row


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDeliveryRow
    event_type: str
    subject_id: str
    last: WebhookAttemptRow | None


def deliveries(db: Session, *, endpoint_id: str, limit: int = 50,
               before: tuple[datetime, str] | None = None) -> list[DeliveryView]:
    """Newest first, ``before`` a (created_at, id) keyset cursor; each with its last attempt
    (``ix_webhook_deliveries_endpoint_created`` serves the page)."""
    query = (select(WebhookDeliveryRow, WebhookEventRow.type, WebhookEventRow.subject_id)
             .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
             .where(WebhookDeliveryRow.endpoint_id == endpoint_id))
    if before is not None:
        query = query.where(tuple_(WebhookDeliveryRow.created_at, WebhookDeliveryRow.id)
                            < tuple_(*before))
    rows = db.execute(query.order_by(WebhookDeliveryRow.created_at.desc(),
                                     WebhookDeliveryRow.id.desc()).limit(limit)).all()
    last = _last_attempts(db, [r[0].id for r in rows])
    return [DeliveryView(d, t, s, last.get(d.id)) for d, t, s in rows]


def _last_attempts(db: Session, delivery_ids: list[str]) -> dict[str, WebhookAttemptRow]:
    if not delivery_ids:
        return {}
    found: dict[str, WebhookAttemptRow] = {}
    for row in db.scalars(select(WebhookAttemptRow)
                          .where(WebhookAttemptRow.delivery_id.in_(delivery_ids))
                          .order_by(WebhookAttemptRow.id)):
        found[row.delivery_id] = row
    return found


def attempts(db: Session, delivery_id: str) -> list[WebhookAttemptRow]:
    return list(db.scalars(select(WebhookAttemptRow)
                           .where(WebhookAttemptRow.delivery_id == delivery_id)
                           .order_by(WebhookAttemptRow.id)))


def delivery(db: Session, *, api_client_id: int | None, endpoint_id: str,
             delivery_id: str) -> WebhookDeliveryRow:
    get(db, api_client_id=api_client_id, endpoint_id=endpoint_id)
    row = db.get(WebhookDeliveryRow, delivery_id)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound("webhook_delivery_not_found", "Доставка не найдена.")
    return row


def replay(db: Session, *, api_client_id: int | None, endpoint_id: str, delivery_id: str,
           actor: str, now: datetime) -> WebhookDeliveryRow:
    """Send the stored event again now, with the same body and the same ``webhook-id``."""
    endpoint = get(db, api_client_id=api_client_id, endpoint_id=endpoint_id)
    if endpoint.state != outbox.ACTIVE:
        raise Conflict("webhook_endpoint_disabled",
                       "Адрес событий отключён: включите его, затем повторите отправку.")
    row = delivery(db, api_client_id=api_client_id, endpoint_id=endpoint_id,
                   delivery_id=delivery_id)
    row.state = outbox.PENDING
    conn = db.connection()
    db.flush()
    moved = store.move_for_ref(conn, kind=outbox.KIND, ref=row.id, step=outbox.STEP, now=now,
                               data={})
    if not moved:
        store.enqueue(conn, kind=outbox.KIND, step=outbox.STEP, ref=row.id, now=now)
    _audit(db, endpoint, "delivery_replayed", actor=actor, now=now, delivery=row.id)
    return row


@dataclass(frozen=True)
class EndpointSummary:
    """A row of the console's list: the endpoint, its client's name, its latest attempts."""

    endpoint: WebhookEndpointRow
    client_name: str
    recent: list[DeliveryView]


def summaries(db: Session, *, recent: int = 5) -> list[EndpointSummary]:
    rows = db.execute(select(WebhookEndpointRow, ApiClientRow.name)
                      .join(ApiClientRow, ApiClientRow.id == WebhookEndpointRow.api_client_id)
                      .order_by(ApiClientRow.name, WebhookEndpointRow.created_at)).all()
    return [EndpointSummary(e, name, deliveries(db, endpoint_id=e.id, limit=recent))
            for e, name in rows]


def delivery_view(db: Session, *, api_client_id: int | None, endpoint_id: str,
                  delivery_id: str) -> DeliveryView:
    row = delivery(db, api_client_id=api_client_id, endpoint_id=endpoint_id,
                   delivery_id=delivery_id)
    event = get_existing(db, WebhookEventRow, row.event_id)
    return DeliveryView(row, event.type, event.subject_id,
                        _last_attempts(db, [row.id]).get(row.id))
