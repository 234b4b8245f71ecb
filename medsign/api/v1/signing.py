"""Signing requests: start one now (flow B), list them, read one with its history."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsign.api import schemas
from medsign.api.deps import Caller, Now, ReadDb, WriteDb, state
from medsign.api.v1 import views
from medsign.api.v1.reference import (
    CODE_PATTERN,
    ERRORS,
    ID_PATTERN,
    WITH_BODY,
    IdPath,
    unavailable,
)
from medsign.db.models import AppointmentRow, IdempotencyRow
from medsign.domain.signing import CancelledBy
from medsign.services import evidence, signing
from medsign.services.api_clients import Principal
from medsign.services.errors import Conflict, ServiceUnavailable, Unprocessable

router = APIRouter(prefix="/api/v1")
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Повтор запроса с тем же ключом вернёт тот же ответ и не создаст второй "
                "транзакции")]


@router.post("/appointments/{appointment_id}/signing-requests", status_code=201,
             response_model=schemas.SigningRequestOut, responses=WITH_BODY,
             summary="Отправить документы записи на подписание сейчас")
def start_signing(appointment_id: IdPath, db: WriteDb, caller: Caller, now: Now,
                  response: Response, body: schemas.SigningStart | None = None,
                  key: IdempotencyKey = None) -> schemas.SigningRequestOut | JSONResponse:
    fingerprint = _fingerprint(appointment_id, body)
    if key is not None:
        replay = _replay(db, caller, key, fingerprint)
        if replay is not None:
            return replay
    _lock_appointment(db, appointment_id)
    command = signing.StartRequest(
        appointment_external_id=appointment_id,
        consent_kinds=body.consents if body else None, initiated_by="mis",
        api_client_id=caller.client_id, idempotency_key=key)
    row = signing.start(db, scope=caller.scope, command=command, now=now)
    out = views.signing_request(signing.get(db, scope=caller.scope, request_id=row.id))
    if key is not None:
        _remember(db, caller, key, fingerprint, out, now)
    response.headers["Location"] = f"/api/v1/signing-requests/{row.id}"
    return out


def _fingerprint(appointment_id: str, body: schemas.SigningStart | None) -> str:
    raw = json.dumps([appointment_id, body.model_dump() if body else None], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(db: Session, caller: Principal, key: str, fingerprint: str) -> JSONResponse | None:
    stored = db.get(IdempotencyRow, (caller.client_id, key))
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Unprocessable("idempotency_key_reused",
                            "Этот Idempotency-Key уже использован с другим запросом.")
    return JSONResponse(stored.body, status_code=stored.status_code,
                        headers={"Idempotent-Replayed": "true",
                                 "Location": f"/api/v1/signing-requests/{stored.body['id']}"})


def _remember(db: Session, caller: Principal, key: str, fingerprint: str,
              out: schemas.SigningRequestOut, now: datetime) -> None:
    db.add(IdempotencyRow(api_client_id=caller.client_id, key=key, request_hash=fingerprint,
                          status_code=201, body=jsonable_encoder(out), created_at=now))
    try:
        db.flush()
    except IntegrityError:  # a concurrent twin won the race; its answer stands
        raise Conflict("idempotency_in_progress",
                       "Запрос с этим Idempotency-Key уже выполняется; повторите позже.") from None


def _lock_appointment(db: Session, appointment_id: str) -> None:
    """Serialise concurrent starts for one appointment (PostgreSQL; SQLite has one writer)."""
    db.execute(select(AppointmentRow.id).where(AppointmentRow.external_id == appointment_id)
               .with_for_update())


@router.get("/signing-requests", response_model=schemas.SigningRequestPage, responses=ERRORS,
            summary="Транзакции подписания (новые первыми)")
def list_signing_requests(
    db: ReadDb, caller: Caller,
    state: Annotated[list[schemas.SigningStateName] | None,
                     Query(description="Состояние (можно несколько)")] = None,
    organization: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
    created_from: schemas.Instant | None = None, created_to: schemas.Instant | None = None,
    appointment_from: schemas.Instant | None = None,
    appointment_to: schemas.Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> schemas.SigningRequestPage:
    where = signing.ListFilter(
        states=state or (), organization=organization,
        created_from=_aware(created_from, "created_from"),
        created_to=_aware(created_to, "created_to"),
        appointment_from=_aware(appointment_from, "appointment_from"),
        appointment_to=_aware(appointment_to, "appointment_to"))
    views_ = signing.list_requests(db, scope=caller.scope, where=where,
                                   after=_decode_cursor(cursor), limit=limit + 1)
    page, more = views_[:limit], len(views_) > limit
    next_cursor = _encode_cursor(page[-1].row.created_at, page[-1].row.id) if more else None
    return schemas.SigningRequestPage(items=[views.signing_request(v) for v in page],
                                      next_cursor=next_cursor)


@router.get("/signing-requests/{request_id}", response_model=schemas.SigningRequestOut,
            responses=ERRORS, summary="Транзакция подписания с историей")
def get_signing_request(request_id: IdPath, db: ReadDb,
                        caller: Caller) -> schemas.SigningRequestOut:
    view = signing.get(db, scope=caller.scope, request_id=request_id)
    return views.signing_request(view, signing.history(db, request_id))


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Unprocessable("naive_datetime",
                            f"Параметр {field}: укажите время с часовым поясом (ISO 8601).")
    return value


def _encode_cursor(created_at: datetime, request_id: str) -> str:
    raw = json.dumps({"c": created_at.isoformat(), "i": request_id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> signing.Cursor | None:
    if cursor is None:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created = datetime.fromisoformat(raw["c"])
        if created.tzinfo is None or not re.fullmatch(ID_PATTERN, raw["i"]):
            raise ValueError
        created.astimezone(UTC)  # representable in UTC, as the database keeps it
        return signing.Cursor(created, raw["i"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError):
        raise Unprocessable("invalid_cursor", "Некорректный курсор страницы.") from None


@router.get("/signing-requests/{request_id}/evidence", responses={
    **ERRORS, **unavailable("Проверка подписей не настроена в этом процессе"),
    200: {"content": {"application/zip": {}},
                    "description": "ZIP: архив платформы, подписи МО, отчёт о проверке, история"}},
    response_class=Response, summary="Пакет доказательств завершённого подписания")
def get_evidence(request_id: IdPath, db: ReadDb, caller: Caller, now: Now,
                 request: Request) -> Response:
    config = state(request).evidence
    if config is None:
        raise ServiceUnavailable("evidence_unavailable",
                                 "Проверка подписей не настроена в этом процессе.")
    content = evidence.build(db, scope=caller.scope, request_id=request_id, config=config,
                             now=now)
    return Response(content, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="evidence-{request_id}.zip"'})


@router.post("/signing-requests/{request_id}/retry", response_model=schemas.SigningRequestOut,
             responses=WITH_BODY, summary="Повторить транзакцию в состоянии «ошибка»")
def retry_signing_request(request_id: IdPath, db: WriteDb, caller: Caller, now: Now,
                          body: schemas.RetryRequest | None = None) -> schemas.SigningRequestOut:
    """The body is optional; its ``reason`` (why the request is retried) goes into the
    request's history and the audit log."""
    signing.retry(db, scope=caller.scope, request_id=request_id, now=now,
                  reason=body.reason if body is not None else None)
    return views.signing_request(signing.get(db, scope=caller.scope, request_id=request_id))


@router.post("/signing-requests/{request_id}/cancel", response_model=schemas.SigningRequestOut,
             responses=WITH_BODY, summary="Отменить незавершённую транзакцию")
def cancel_signing_request(request_id: IdPath, body: schemas.CancelRequest, db: WriteDb,
                           caller: Caller, now: Now) -> schemas.SigningRequestOut:
    signing.cancel(db, scope=caller.scope, request_id=request_id, reason=body.reason,
                   by=CancelledBy.clinic, now=now)
    return views.signing_request(signing.get(db, scope=caller.scope, request_id=request_id))
