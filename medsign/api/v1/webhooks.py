"""Webhook endpoints of the calling API client (the МИС): create, list, change, rotate the
secret, disable, enable; deliveries with their attempts; replay. The events themselves are
documented in the OpenAPI document's ``webhooks`` section (:func:`document_events`)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from medsign.api import schemas
from medsign.api.deps import Caller, Now, ReadDb, WriteDb
from medsign.api.v1.reference import ERRORS, WITH_BODY
from medsign.db.models import WebhookAttemptRow, WebhookEndpointRow
from medsign.domain import webhooks as rules
from medsign.errors import Unprocessable
from medsign.serving import state
from medsign.webhooks import service as webhooks

router = APIRouter(prefix="/api/v1/webhook-endpoints")
EndpointPath = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", max_length=36)]
DeliveryPath = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", max_length=36)]


def endpoint_out(row: WebhookEndpointRow) -> schemas.WebhookEndpointOut:
    return schemas.WebhookEndpointOut.model_validate(_endpoint_fields(row))


def _endpoint_fields(row: WebhookEndpointRow) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "description": row.description,
            "event_types": list(row.event_types), "state": row.state,
            "disabled_reason": row.disabled_reason, "disabled_at": row.disabled_at,
            "failing_since": row.failing_since, "created_at": row.created_at,
            "updated_at": row.updated_at}


def _with_secret(made: webhooks.WithSecret) -> schemas.WebhookEndpointWithSecret:
    return schemas.WebhookEndpointWithSecret.model_validate(
        {**_endpoint_fields(made.endpoint), "secret": made.secret})


def attempt_out(row: WebhookAttemptRow) -> schemas.WebhookAttemptOut:
    return schemas.WebhookAttemptOut(at=row.at, status_code=row.status_code,
                                     duration_ms=row.duration_ms,
                                     response_excerpt=row.response_excerpt, error=row.error)


def delivery_out(view: webhooks.DeliveryView,
                 log: list[WebhookAttemptRow] | None = None) -> schemas.WebhookDeliveryOut:
    d = view.delivery
    return schemas.WebhookDeliveryOut.model_validate({
        "id": d.id, "webhook_id": rules.message_id(d.id), "event_type": view.event_type,
        "subject": view.subject_id, "state": d.state, "attempts": d.attempts,
        "last_attempt_at": d.last_attempt_at, "delivered_at": d.delivered_at,
        "created_at": d.created_at,
        "last_attempt": attempt_out(view.last) if view.last else None,
        "attempt_log": None if log is None else [attempt_out(a) for a in log]})


@router.post("", status_code=201, response_model=schemas.WebhookEndpointWithSecret,
             responses=WITH_BODY, summary="Добавить адрес для событий (секрет — только в ответе)")
def create_endpoint(body: schemas.WebhookEndpointIn, db: WriteDb, caller: Caller, now: Now,
                    request: Request) -> JSONResponse:
    made = webhooks.create(db, api_client_id=caller.client_id, url=body.url,
                           event_types=body.event_types, description=body.description,
                           targets=state(request).webhook_targets, actor=caller.scope.actor,
                           now=now)
    out = _with_secret(made)
    return JSONResponse(out.model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/webhook-endpoints/{made.endpoint.id}",
                                 "Cache-Control": "no-store"})


@router.get("", response_model=list[schemas.WebhookEndpointOut], responses=ERRORS,
            summary="Адреса для событий этого клиента")
def list_endpoints(db: ReadDb, caller: Caller) -> list[schemas.WebhookEndpointOut]:
    return [endpoint_out(r) for r in webhooks.list_for_client(db, caller.client_id)]


@router.get("/{endpoint_id}", response_model=schemas.WebhookEndpointOut, responses=ERRORS,
            summary="Адрес для событий")
def get_endpoint(endpoint_id: EndpointPath, db: ReadDb,
                 caller: Caller) -> schemas.WebhookEndpointOut:
    return endpoint_out(webhooks.get(db, api_client_id=caller.client_id,
                                     endpoint_id=endpoint_id))


@router.patch("/{endpoint_id}", response_model=schemas.WebhookEndpointOut,
              responses=WITH_BODY, summary="Изменить адрес или типы событий")
def update_endpoint(endpoint_id: EndpointPath, body: schemas.WebhookEndpointPatch,
                    db: WriteDb, caller: Caller, now: Now,
                    request: Request) -> schemas.WebhookEndpointOut:
    return endpoint_out(webhooks.update(
        db, api_client_id=caller.client_id, endpoint_id=endpoint_id, url=body.url,
        event_types=body.event_types, targets=state(request).webhook_targets,
        actor=caller.scope.actor, now=now))


@router.post("/{endpoint_id}/rotate-secret", response_model=schemas.WebhookEndpointWithSecret,
             responses=ERRORS, summary="Сменить секрет подписи (новый — только в ответе)")
def rotate_secret(endpoint_id: EndpointPath, db: WriteDb, caller: Caller,
                  now: Now) -> JSONResponse:
    made = webhooks.rotate(db, api_client_id=caller.client_id, endpoint_id=endpoint_id,
                           actor=caller.scope.actor, now=now)
    return JSONResponse(_with_secret(made).model_dump(mode="json"),
                        headers={"Cache-Control": "no-store"})


@router.post("/{endpoint_id}/disable", response_model=schemas.WebhookEndpointOut,
             responses=WITH_BODY, summary="Отключить адрес (доставки в него остановятся)")
def disable_endpoint(endpoint_id: EndpointPath, body: schemas.WebhookDisableIn, db: WriteDb,
                     caller: Caller, now: Now) -> schemas.WebhookEndpointOut:
    return endpoint_out(webhooks.disable(db, api_client_id=caller.client_id,
                                         endpoint_id=endpoint_id, reason=body.reason,
                                         actor=caller.scope.actor, now=now))


@router.post("/{endpoint_id}/enable", response_model=schemas.WebhookEndpointOut,
             responses=ERRORS, summary="Включить адрес снова")
def enable_endpoint(endpoint_id: EndpointPath, db: WriteDb, caller: Caller,
                    now: Now) -> schemas.WebhookEndpointOut:
    return endpoint_out(webhooks.enable(db, api_client_id=caller.client_id,
                                        endpoint_id=endpoint_id, actor=caller.scope.actor,
                                        now=now))


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if value is None:
        return None
    try:
        at, _, delivery_id = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
        return datetime.fromisoformat(at), delivery_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unprocessable("invalid_cursor", "Некорректный курсор страницы.") from None


@router.get("/{endpoint_id}/deliveries", response_model=schemas.WebhookDeliveryPage,
            responses=ERRORS, summary="Доставки событий в этот адрес (новые первыми)")
def list_deliveries(endpoint_id: EndpointPath, db: ReadDb, caller: Caller,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    cursor: Annotated[str | None, Query(max_length=200)] = None,
                    ) -> schemas.WebhookDeliveryPage:
    webhooks.get(db, api_client_id=caller.client_id, endpoint_id=endpoint_id)
    found = webhooks.deliveries(db, endpoint_id=endpoint_id, limit=limit + 1,
                                before=_cursor(cursor))
    page, more = found[:limit], len(found) > limit
    last = page[-1].delivery if page else None
    next_cursor = base64.urlsafe_b64encode(
        f"{last.created_at.isoformat()}|{last.id}".encode()).decode() if more and last else None
    return schemas.WebhookDeliveryPage(items=[delivery_out(v) for v in page],
                                       next_cursor=next_cursor)


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=schemas.WebhookDeliveryOut,
            responses=ERRORS, summary="Доставка со всеми попытками")
def get_delivery(endpoint_id: EndpointPath, delivery_id: DeliveryPath, db: ReadDb,
                 caller: Caller) -> schemas.WebhookDeliveryOut:
    view = webhooks.delivery_view(db, api_client_id=caller.client_id, endpoint_id=endpoint_id,
                                  delivery_id=delivery_id)
    return delivery_out(view, webhooks.attempts(db, delivery_id))


@router.post("/{endpoint_id}/deliveries/{delivery_id}/replay", status_code=202,
             response_model=schemas.WebhookDeliveryOut, responses={
                 **ERRORS, 409: {"model": schemas.Problem, "description":
                                 "`webhook_endpoint_disabled` — адрес отключён"}},
             summary="Отправить событие ещё раз (то же тело, тот же webhook-id)")
def replay_delivery(endpoint_id: EndpointPath, delivery_id: DeliveryPath, db: WriteDb,
                    caller: Caller, now: Now) -> schemas.WebhookDeliveryOut:
    webhooks.replay(db, api_client_id=caller.client_id, endpoint_id=endpoint_id,
                    delivery_id=delivery_id, actor=caller.scope.actor, now=now)
    return delivery_out(webhooks.delivery_view(db, api_client_id=caller.client_id,
                                               endpoint_id=endpoint_id,
                                               delivery_id=delivery_id))


# ---- The events, as the МИС receives them (the OpenAPI document's ``webhooks`` section) ----

HEADERS_NOTE = (
    "\n\nЗаголовки Standard Webhooks: `webhook-id` (один на событие и адрес, тот же при "
    "повторах — по нему отбрасывают дубликаты), `webhook-timestamp` (Unix-время попытки), "
    "`webhook-signature` (`v1,<base64 HMAC-SHA256>` от `id.timestamp.тело` секретом адреса). "
    "Ответ 2xx — доставлено; иначе повтор с нарастающей паузой. Доставка «хотя бы один раз»: "
    "событие может прийти повторно, порядок не гарантирован — сверяйте `data.at`.")
_REQUEST = "3f2c1e7a-9b0d-4c1e-8f4a-2b6d9e0c1a55"
_BASE = f"/api/v1/signing-requests/{_REQUEST}"


class DocumentLinks(BaseModel):
    number: int = Field(description="Номер документа, как в …/documents")
    pdf: str
    patient_signature: str
    mo_signature: str


class SigningEventData(BaseModel):
    model_config = ConfigDict(extra="allow")
    signing_request: str
    organization: str = Field(description="Код МО")
    appointment: str = Field(description="Id записи на приём в МИС")
    previous_state: str | None
    state: str
    state_title: str
    reason: str | None
    at: datetime
    url: str = Field(description="Путь транзакции в API")
    documents_url: str | None = Field(None, description="Только в signing_request.completed: "
                                                        "список подписанных документов")
    documents: list[DocumentLinks] | None = Field(
        None, description="Только в signing_request.completed: пути для скачивания каждого "
                          "файла")


def _example(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": "6c1f0d3e-2a4b-4f7e-9d1c-0b8a7e6f5d43", "type": event_type,
            "timestamp": "2026-12-07T09:15:02Z", "data": data}


def _signing_data(previous: str | None, state_: str, title: str,
                  reason: str | None = None) -> dict[str, Any]:
    return {"signing_request": _REQUEST, "organization": "mo1", "appointment": "a-1001",
            "previous_state": previous, "state": state_, "state_title": title,
            "reason": reason, "at": "2026-12-07T09:15:02Z", "url": _BASE}


_COMPLETED = {**_signing_data("uploaded", "completed", "Подписано"),
              "documents_url": f"{_BASE}/documents",
              "documents": [{"number": 1, "pdf": f"{_BASE}/documents/1/pdf",
                             "patient_signature": f"{_BASE}/documents/1/patient-signature",
                             "mo_signature": f"{_BASE}/documents/1/mo-signature"}]}
SIGNING_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "signing_request.state_changed": (
        "Состояние транзакции подписания изменилось (каждый переход).",
        _signing_data("new", "sent", "Отправлено пациенту")),
    "signing_request.completed": (
        "Документы подписаны пациентом и МО: ссылки на каждый файл для медицинской карты.",
        _COMPLETED),
    "signing_request.refused": (
        "Пациент отказался подписывать.",
        _signing_data("sent", "cancelled", "Отменено", "пациент отказался")),
    "signing_request.expired": (
        "Пациент не подписал в срок.", _signing_data("sent", "expired", "Срок истёк")),
    "signing_request.failed": (
        "Транзакция остановлена ошибкой (её можно повторить: POST …/retry).",
        _signing_data("archive_verified", "failed", "Ошибка", "подпись оператора неверна")),
}


class SigningEvent(BaseModel):
    id: str = Field(description="Id события")
    type: schemas.EventTypeName
    timestamp: datetime
    data: SigningEventData


class PatientEventData(BaseModel):
    model_config = ConfigDict(extra="allow")
    organization: str = Field(description="Код МО")
    patient: str = Field(description="Id пациента в МИС")
    appointment: str | None = Field(None, description="Id записи на приём (приглашения)")
    channel: str | None = Field(None, description="invitation.sent: канал, `max`")
    choice: str | None = Field(None, description="invitation.answered: `sign` — подписать "
                                                 "онлайн, `paper` — на бумаге в клинике")
    how: str | None = Field(None, description="max_account.linked: как привязан "
                                              "(`deep_link` — по ссылке, `contact` — по "
                                              "номеру телефона)")
    at: datetime


class PatientEvent(BaseModel):
    id: str = Field(description="Id события")
    type: schemas.EventTypeName
    timestamp: datetime
    data: PatientEventData


PATIENT_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "invitation.sent": (
        "Приглашение подписать документы пришло пациенту в MAX (накануне приёма).",
        {"organization": "mo1", "patient": "p-77", "appointment": "a-1001", "channel": "max",
         "at": "2026-12-06T15:00:00Z"}),
    "invitation.answered": (
        "Пациент выбрал в приглашении, как подписывать.",
        {"organization": "mo1", "patient": "p-77", "appointment": "a-1001", "choice": "sign",
         "at": "2026-12-06T15:04:11Z"}),
    "max_account.linked": (
        "Пациент привязал аккаунт MAX: ему можно отправлять приглашения.",
        {"organization": "mo1", "patient": "p-77", "how": "deep_link",
         "at": "2026-12-05T10:20:00Z"}),
}


def _document(app: FastAPI, name: str, summary: str, data: dict[str, Any],
              model: type[BaseModel]) -> None:
    def receive(body: BaseModel) -> None:
        """Placeholder body: FastAPI documents webhooks by their handler's signature."""

    receive.__annotations__["body"] = model
    app.webhooks.post(name, summary=summary, description=summary + HEADERS_NOTE,
                      openapi_extra={"requestBody": {"content": {"application/json": {
                          "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                          "example": _example(name, data)}}}})(receive)


def document_events(app: FastAPI) -> None:
    """Each event this installation sends, with its payload and an example."""
    for name, (summary, data) in SIGNING_EVENTS.items():
        _document(app, name, summary, data, SigningEvent)
    for name, (summary, data) in PATIENT_EVENTS.items():
        _document(app, name, summary, data, PatientEvent)
