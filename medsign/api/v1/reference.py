"""Reference data pushed by the МИС: organisations, patients, appointments (idempotent PUT)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from medsign.api import schemas
from medsign.api.deps import Caller, Now, Policy, ReadDb, WriteDb
from medsign.api.v1 import views
from medsign.bot import links as max_links
from medsign.clinic import appointments, patients
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.clinic.patients import PatientInput
from medsign.errors import ServiceUnavailable
from medsign.records import appointments as appointment_records
from medsign.records import organizations
from medsign.records import patients as patient_records
from medsign.records.organizations import OrganizationInput
from medsign.serving import state

router = APIRouter(prefix="/api/v1")
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
CodePath = Annotated[str, Path(pattern=CODE_PATTERN, max_length=64)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=100)]
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": schemas.Problem, "description": text} for code, text in (
        (400, "Некорректный JSON"), (401, "Нет или неверный токен"),
        (404, "Не найдено или вне области доступа токена"), (409, "Конфликт с состоянием"),
        (422, "Данные не прошли проверку"),
        (503, "база данных временно недоступна (database_unavailable): повторите запрос "
              "через Retry-After"))}
# Operations with a JSON body: the request guard (``medsign.api.guard``) may refuse it first.
WITH_BODY: dict[int | str, dict[str, object]] = {**ERRORS, **{
    code: {"model": schemas.Problem, "description": text} for code, text in (
        (413, "Тело запроса больше server.max_body_size"),
        (415, "Тело запроса не в формате JSON"))}}


def unavailable(text: str) -> dict[int | str, dict[str, object]]:
    """A 503: the feature is not configured in this process (or, as everywhere, the database
    is briefly unavailable)."""
    return {503: {"model": schemas.Problem,
                  "description": f"{text}; или {ERRORS[503]['description']}"}}


def _upserted(model: type) -> dict[int | str, dict[str, object]]:
    """An upsert answers 201 when it created the object, 200 when it updated it."""
    return {**WITH_BODY, 201: {"model": model, "description": "Создан новый объект"}}


def _status(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


@router.put("/organizations/{code}", response_model=schemas.OrganizationOut,
            responses=_upserted(schemas.OrganizationOut),
            summary="Создать или обновить медицинскую организацию")
def put_organization(body: schemas.OrganizationIn, db: WriteDb, caller: Caller, now: Now,
                     response: Response, code: CodePath) -> schemas.OrganizationOut:
    data = OrganizationInput(name=body.name, address=body.address, ogrn=body.ogrn, inn=body.inn,
                             kpp=body.kpp, timezone=body.timezone, quiet_hours=body.quiet_hours,
                             partner_department_id=body.partner.department_id,
                             template_ids={str(k): v for k, v in body.partner.templates.items()})
    row, created = organizations.upsert(db, scope=caller.scope, code=code, data=data,
                                        now=now)
    _status(response, created)
    return views.organization(row)


@router.get("/organizations/{code}", response_model=schemas.OrganizationOut, responses=ERRORS,
            summary="Медицинская организация")
def get_organization(db: ReadDb, caller: Caller, code: CodePath) -> schemas.OrganizationOut:
    return views.organization(organizations.get(db, scope=caller.scope, code=code))


@router.put("/organizations/{code}/patients/{patient_id}", response_model=schemas.PatientOut,
            responses=_upserted(schemas.PatientOut),
            summary="Создать или обновить пациента медицинской организации")
def put_patient(body: schemas.PatientIn, db: WriteDb, caller: Caller, now: Now,
                policy: Policy, response: Response, code: CodePath,
                patient_id: IdPath) -> schemas.PatientOut:
    data = PatientInput(organization=body.organization, last_name=body.last_name,
                        first_name=body.first_name, middle_name=body.middle_name,
                        birth_date=body.birth_date, phone=body.phone,
                        max_user_id=body.max_user_id, snils=body.snils)
    row, created = patients.upsert(db, scope=caller.scope, organization=code,
                                   external_id=patient_id, data=data, now=now, policy=policy)
    _status(response, created)
    _, org = patient_records.get(db, scope=caller.scope, organization=code, external_id=patient_id)
    return views.patient(row, org)


@router.get("/organizations/{code}/patients/{patient_id}", response_model=schemas.PatientOut,
            responses=ERRORS, summary="Пациент медицинской организации")
def get_patient(db: ReadDb, caller: Caller, code: CodePath,
                patient_id: IdPath) -> schemas.PatientOut:
    row, org = patient_records.get(db, scope=caller.scope, organization=code,
                                   external_id=patient_id)
    return views.patient(row, org)


@router.put("/organizations/{code}/appointments/{appointment_id}",
            response_model=schemas.AppointmentOut, responses=_upserted(schemas.AppointmentOut),
            summary="Создать или обновить запись на приём медицинской организации с её "
                    "документами")
def put_appointment(body: schemas.AppointmentIn, db: WriteDb, caller: Caller, now: Now,
                    policy: Policy, response: Response, code: CodePath,
                    appointment_id: IdPath) -> schemas.AppointmentOut:
    data = AppointmentInput(
        organization=body.organization, patient=body.patient, starts_at=body.starts_at,
        doctor_name=body.doctor.name, doctor_external_id=body.doctor.id,
        service_name=body.service_name, status=body.status,
        consents=[ConsentInput(c.kind, c.signing_method) for c in body.consents])
    _, created = appointments.upsert(db, scope=caller.scope, organization=code,
                                     external_id=appointment_id, data=data, now=now,
                                     policy=policy)
    _status(response, created)
    return views.appointment(*appointment_records.get(db, scope=caller.scope, organization=code,
                                               external_id=appointment_id))


@router.get("/organizations/{code}/appointments/{appointment_id}",
            response_model=schemas.AppointmentOut, responses=ERRORS,
            summary="Запись на приём медицинской организации")
def get_appointment(db: ReadDb, caller: Caller, code: CodePath,
                    appointment_id: IdPath) -> schemas.AppointmentOut:
    return views.appointment(*appointment_records.get(db, scope=caller.scope, organization=code,
                                               external_id=appointment_id))


@router.post("/organizations/{code}/patients/{patient_id}/max-link",
             response_model=schemas.MaxLinkOut, status_code=201,
             responses={**ERRORS, **unavailable("Бот MAX не настроен (max.bot_deep_link_base)")},
             summary="Одноразовая ссылка для привязки аккаунта MAX пациента (для портала)")
def issue_max_link(code: CodePath, patient_id: IdPath, db: WriteDb, caller: Caller, now: Now,
                   request: Request) -> schemas.MaxLinkOut:
    bot = state(request).bot
    if bot is None or not bot.deep_link_base:
        raise ServiceUnavailable("max_not_configured", "Бот MAX не настроен: нет адреса для "
                                 "ссылок (max.bot_deep_link_base).")
    row, org = patient_records.get(db, scope=caller.scope, organization=code,
                                   external_id=patient_id)
    link = max_links.issue(db, patient=row, link_base=bot.deep_link_base, ttl=bot.link_ttl,
                           actor=caller.scope.actor, organization_code=org.code, now=now)
    return schemas.MaxLinkOut(deep_link=link.deep_link, token=link.token,
                              expires_at=link.expires_at)
