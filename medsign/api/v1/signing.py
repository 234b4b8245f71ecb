"""Signing requests: start one now (flow B), list them, read one with its history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from medsign.api import schemas
from medsign.api.deps import Caller, Now, ReadDb, WriteDb
from medsign.api.v1 import views
from medsign.api.v1.reference import CODE_PATTERN, ERRORS, WITH_BODY, CodePath, IdPath, unavailable
from medsign.domain.signing import CancelledBy
from medsign.errors import NotFound, ServiceUnavailable, Unprocessable
from medsign.serving import identities, state
from medsign.signing import documents, evidence
from medsign.signing import service as signing

router = APIRouter(prefix="/api/v1")
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Повтор запроса с тем же ключом вернёт тот же ответ и не создаст второй "
                "транзакции")]


START_ERRORS: dict[int | str, dict[str, object]] = {
    **WITH_BODY,
    409: {"model": schemas.Problem, "description":
          "Конфликт с состоянием. `code`: `appointment_cancelled` — запись отменена; "
          "`signing_request_active` — по записи уже открыта транзакция (её id — в "
          "`signing_request`); `mo_signing_unavailable` — медицинская организация сейчас не "
          "может подписывать (сертификат истёк, ещё не действует, нет ключа или он непригоден; "
          "`detail` называет МО и причину, `organization` — её код, `identity_state` — "
          "состояние: `expired`, `not_yet_valid`, `missing`, `invalid`), другие МО подписывают "
          "как обычно; `idempotency_in_progress` — запрос с этим ключом ещё выполняется"},
    **unavailable("В этом процессе не настроена подпись медицинских организаций")}


@router.post("/organizations/{code}/appointments/{appointment_id}/signing-requests",
             status_code=201, response_model=schemas.SigningRequestOut, responses=START_ERRORS,
             summary="Отправить документы записи на приём медицинской организации на "
                     "подписание сейчас")
def start_signing(code: CodePath, appointment_id: IdPath, db: WriteDb, caller: Caller, now: Now,
                  request: Request, body: schemas.SigningStart | None = None,
                  key: IdempotencyKey = None) -> JSONResponse:
    """The service starts (or, for a repeated ``Idempotency-Key``, replays) the request; this
    only turns its answer into HTTP."""
    command = signing.StartRequest(
        organization_code=code, appointment_external_id=appointment_id,
        consent_kinds=body.consents if body else None, initiated_by="mis",
        api_client_id=caller.client_id, idempotency_key=key)
    started = signing.start_once(
        db, scope=caller.scope, command=command, identities=identities(request), now=now,
        answer=lambda view: jsonable_encoder(views.signing_request(view)))
    headers = {"Location": f"/api/v1/signing-requests/{started.request_id}"}
    if started.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(started.body, status_code=201, headers=headers)


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
    next_cursor = signing.Cursor(page[-1].row.created_at, page[-1].row.id).encode() \
        if more else None
    mismatches = signing.signer_mismatches(db, [v.row.id for v in page])
    return schemas.SigningRequestPage(items=[views.signing_request(v, mismatch=mismatches.get(
                                          v.row.id)) for v in page],
                                      next_cursor=next_cursor)


@router.get("/signing-requests/{request_id}", response_model=schemas.SigningRequestOut,
            responses=ERRORS, summary="Транзакция подписания с историей")
def get_signing_request(request_id: IdPath, db: ReadDb,
                        caller: Caller) -> schemas.SigningRequestOut:
    view = signing.get(db, scope=caller.scope, request_id=request_id)
    return views.signing_request(view, signing.history(db, request_id),
                                 signing.signer_mismatches(db, [request_id]).get(request_id))


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Unprocessable("naive_datetime",
                            f"Параметр {field}: укажите время с часовым поясом (ISO 8601).")
    return value


def _decode_cursor(cursor: str | None) -> signing.Cursor | None:
    if cursor is None:
        return None
    found = signing.Cursor.decode(cursor)
    if found is None:
        raise Unprocessable("invalid_cursor", "Некорректный курсор страницы.")
    return found


@router.get("/signing-requests/{request_id}/evidence", responses={
    **ERRORS, **unavailable("Проверка подписей не настроена в этом процессе"),
    200: {"content": {"application/zip": {}},
                    "description": "ZIP: архив платформы, подписи МО, отчёт о проверке, история"}},
    response_class=Response, summary="Пакет доказательств завершённого подписания")
def get_evidence(request_id: IdPath, db: ReadDb, caller: Caller, now: Now,
                 request: Request) -> Response:
    content = evidence.build(db, scope=caller.scope, request_id=request_id,
                             config=_evidence_config(request), now=now)
    return Response(content, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="evidence-{request_id}.zip"'})


@router.get("/signing-requests/{request_id}/signature-sheet", responses={
    **ERRORS, **unavailable("Проверка подписей не настроена в этом процессе"),
    200: {"content": {"application/pdf": {}},
          "description": "PDF «Лист подписания»: документы и их SHA-256, подпись пациента, "
                         "подпись МО, идентификаторы транзакций (тот же, что в пакете "
                         "доказательств)"}},
    response_class=Response, summary="Лист подписания завершённого подписания (PDF)")
def get_signature_sheet(request_id: IdPath, db: ReadDb, caller: Caller, now: Now,
                        request: Request) -> Response:
    content = evidence.signature_sheet(db, scope=caller.scope, request_id=request_id,
                                       config=_evidence_config(request), now=now)
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="signature-sheet-{request_id}.pdf"'})


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
    return views.signing_request(signing.get(db, scope=caller.scope, request_id=request_id),
                                 mismatch=signing.signer_mismatches(db, [request_id]).get(
                                     request_id))


def _evidence_config(request: Request) -> evidence.EvidenceConfig:
    """What checking the signatures needs; a process without it answers 503."""
    config = state(request).evidence
    if config is None:
        raise ServiceUnavailable("evidence_unavailable",
                                 "Проверка подписей не настроена в этом процессе.")
    return config


NOT_READY: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": schemas.Problem, "description":
          "`documents_not_ready` — подписание ещё не завершено (или завершилось без подписи)"}}


@router.get("/signing-requests/{request_id}/documents", response_model=schemas.SignedDocumentsOut,
            responses=NOT_READY, summary="Подписанные документы: PDF, подписи и их хэши")
def list_documents(request_id: IdPath, db: ReadDb, caller: Caller) -> schemas.SignedDocumentsOut:
    """Each document of a completed request with its PDF, the patient's signature and the
    МО's signature; each file is downloaded by itself at its ``url``."""
    found = _signed(db, caller, request_id)
    base = f"/api/v1/signing-requests/{request_id}/documents"

    def out(number: int, part: str, file: documents.SignedFile) -> schemas.SignedFileOut:
        return schemas.SignedFileOut(name=file.name, media_type=file.media_type,
                                     size=len(file.content), sha256=file.sha256,
                                     covers=file.covers, url=f"{base}/{number}/{part}")

    return schemas.SignedDocumentsOut(signing_request=request_id, documents=[
        schemas.SignedDocumentOut(
            number=d.number, title=d.title, pdf=out(d.number, "pdf", d.pdf),
            patient_signature=None if d.patient_signature is None else out(
                d.number, "patient-signature", d.patient_signature),
            mo_signature=None if d.mo_signature is None else out(
                d.number, "mo-signature", d.mo_signature))
        for d in found])


def _signed(db: ReadDb, caller: Caller, request_id: str) -> list[documents.SignedDocument]:
    view = signing.get(db, scope=caller.scope, request_id=request_id)
    return documents.signed_documents(db, request_id=request_id, state=view.row.state)


def _download(file: documents.SignedFile | None) -> Response:
    if file is None:
        raise NotFound("document_file_not_found", "Такого файла у документа нет.")
    quoted = quote(file.name)
    return Response(file.content, media_type=file.media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}"})


def _document(db: ReadDb, caller: Caller, request_id: str,
              number: int) -> documents.SignedDocument:
    found = next((d for d in _signed(db, caller, request_id) if d.number == number), None)
    if found is None:
        raise NotFound("document_not_found", "Документ не найден.")
    return found


DocumentNumber = Annotated[int, Path(ge=1, le=64, description="Номер документа из списка")]
_FILE_RESPONSES: dict[int | str, dict[str, object]] = {**NOT_READY}


@router.get("/signing-requests/{request_id}/documents/{number}/pdf", response_class=Response,
            responses={**_FILE_RESPONSES, 200: {"content": {"application/pdf": {}},
                                                "description": "PDF документа"}},
            summary="PDF подписанного документа")
def get_document_pdf(request_id: IdPath, number: DocumentNumber, db: ReadDb,
                     caller: Caller) -> Response:
    return _download(_document(db, caller, request_id, number).pdf)


@router.get("/signing-requests/{request_id}/documents/{number}/patient-signature",
            response_class=Response, responses={
                **_FILE_RESPONSES, 200: {"content": {"application/pkcs7-signature": {}},
                                         "description": "Отсоединённая подпись CMS"}},
            summary="Подпись пациента над PDF документа")
def get_patient_signature(request_id: IdPath, number: DocumentNumber, db: ReadDb,
                          caller: Caller) -> Response:
    return _download(_document(db, caller, request_id, number).patient_signature)


@router.get("/signing-requests/{request_id}/documents/{number}/mo-signature",
            response_class=Response, responses={
                **_FILE_RESPONSES, 200: {"content": {"application/pkcs7-signature": {}},
                                         "description": "Отсоединённая подпись CMS"}},
            summary="Подпись медицинской организации")
def get_mo_signature(request_id: IdPath, number: DocumentNumber, db: ReadDb,
                     caller: Caller) -> Response:
    return _download(_document(db, caller, request_id, number).mo_signature)
