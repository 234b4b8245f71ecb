"""The wire format of REST API v1 (request and response bodies)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Code = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")


def _iso_8601(value: object) -> object:
    """Refuse numbers: pydantic would read ``20261126`` as Unix time (23 August 1970)."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("ожидается дата или время в формате ISO 8601")
    return value


def _utc_representable(value: datetime) -> datetime:
    """The database keeps UTC: 0001-01-01T00:00+05:00 has no UTC equivalent (year 0)."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("дата и время вне допустимого диапазона") from None
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_8601), AfterValidator(_utc_representable)]
AwareInstant = Annotated[AwareDatetime, BeforeValidator(_iso_8601),
                         AfterValidator(_utc_representable)]
IsoDate = Annotated[date, BeforeValidator(_iso_8601)]
ConsentKindName = Literal["medical_intervention", "paid_services_contract", "personal_data"]
SigningMethodName = Literal["electronic", "paper"]
# Mirrors medsign.domain.signing.SigningState (a unit test keeps the two equal).
SigningStateName = Literal["new", "sent", "patient_signed", "archive_verified", "countersigned",
                           "uploaded", "completed", "cancelled", "expired", "platform_error",
                           "failed", "signer_mismatch"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL text cannot hold U+0000: refuse it up front, alike on both back ends."""
        if _has_nul(value):
            raise ValueError("строка не может содержать символ U+0000")
        return value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class PartnerSettings(Strict):
    department_id: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="Идентификатор подразделения МО в кабинете партнёра")
    templates: dict[ConsentKindName, Annotated[str, StringConstraints(min_length=1,
                                                                      max_length=100)]] = Field(
        default_factory=dict, description="Идентификаторы шаблонов по видам документов")


class OrganizationIn(Strict):
    name: Text
    address: Annotated[str, StringConstraints(min_length=1, max_length=1000,
                                              strip_whitespace=True)]
    ogrn: Annotated[str, StringConstraints(max_length=15)]
    inn: Annotated[str, StringConstraints(max_length=12)]
    kpp: Annotated[str, StringConstraints(max_length=9)]
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Europe/Moscow"
    quiet_hours: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        None, description="Тихие часы, местное время МО, например 21:00-09:00; "
                          "не задано — значение по умолчанию из конфигурации")
    partner: PartnerSettings = Field(default_factory=lambda: PartnerSettings.model_validate({}))


class OrganizationOut(OrganizationIn):
    code: str
    created_at: datetime
    updated_at: datetime


class PatientIn(Strict):
    organization: Code | None = Field(
        None, description="Необязательно: код МО из адреса; если указан, должен совпадать с ним")
    last_name: Name
    first_name: Name
    middle_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    birth_date: IsoDate
    phone: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="Телефон, с которым пациент зарегистрирован в MAX")
    max_user_id: Annotated[int, Field(gt=0, lt=2**63)] | None = None
    snils: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        None, description="СНИЛС: «XXX-XXX-XXX YY» или 11 цифр, с верным контрольным числом. "
                          "Если указан, вход через Госуслуги сопоставляется с пациентом только "
                          "по нему")


class PatientOut(Strict):
    id: str
    organization: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    phone: str | None
    max_user_id: int | None
    max_reachable: bool
    snils: str | None = Field(description="СНИЛС, 11 цифр")
    created_at: datetime
    updated_at: datetime


class ConsentIn(Strict):
    kind: ConsentKindName
    signing_method: SigningMethodName


class ConsentOut(ConsentIn):
    state: str
    state_title: str


class Doctor(Strict):
    name: Name
    id: ExternalId | None = Field(
        None, description="Необязательно: идентификатор врача в МИС этой МО; по нему врач видит "
                          "в АРМ врача «Мои пациенты» (тот же идентификатор администратор "
                          "указывает в учётной записи врача)")


class AppointmentIn(Strict):
    organization: Code | None = Field(
        None, description="Необязательно: код МО из адреса; если указан, должен совпадать с ним")
    patient: ExternalId = Field(description="Идентификатор пациента этой же МО")
    starts_at: AwareInstant = Field(description="Начало приёма, с часовым поясом (ISO 8601)")
    doctor: Doctor
    service_name: Text
    status: Literal["scheduled", "cancelled"] = "scheduled"
    consents: Annotated[list[ConsentIn], Field(max_length=10)] = Field(default_factory=list)


class AppointmentOut(Strict):
    id: str
    organization: str
    patient: str
    starts_at: datetime
    timezone: str
    doctor: Doctor
    service_name: str
    status: str
    reschedule_count: int
    consents: list[ConsentOut]
    created_at: datetime
    updated_at: datetime


class SigningStart(Strict):
    consents: Annotated[list[ConsentKindName], Field(min_length=1, max_length=10)] | None = Field(
        None, description="Какие документы подписать; по умолчанию все электронные, "
                          "ожидающие подписания")


class CancelRequest(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500,
                                             strip_whitespace=True)]


class RetryRequest(Strict):
    reason: Annotated[str | None, StringConstraints(min_length=1, max_length=500,
                                                    strip_whitespace=True)] = None


class HistoryEntry(Strict):
    at: datetime
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None


class PersonOut(Strict):
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date | None = Field(description="Нет, если эта сторона её не указала")


class SignerMismatchOut(Strict):
    document_title: str = Field(description="Документ, в котором подписант не совпал")
    in_documents: PersonOut = Field(
        description="Подписант, как его записала платформа в XML документа (signerInfo, "
                    "из профиля Госуслуг владельца телефона)")
    in_patient_record: PersonOut = Field(description="Пациент, как он записан в medsign (из МИС)")
    differences: list[str] = Field(description="Что не совпало: фамилия, имя, отчество, "
                                               "дата рождения")


class SigningRequestOut(Strict):
    id: str
    appointment: str
    organization: str
    patient: str
    appointment_starts_at: datetime
    consents: list[str]
    state: str
    state_title: str
    initiated_by: str
    transaction_id: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    signer_mismatch: SignerMismatchOut | None = Field(
        None, description="Если подписание остановлено потому, что подписант в документах "
                          "платформы не совпал с пациентом (состояние signer_mismatch, и после "
                          "отмены такой транзакции): обе личности")
    history: list[HistoryEntry] | None = None


class SigningRequestPage(Strict):
    items: list[SigningRequestOut]
    next_cursor: str | None = Field(None, description="Передайте в cursor для следующей страницы")


class SignedFileOut(Strict):
    name: str = Field(description="Имя файла (для сохранения в медицинской карте)")
    media_type: str = Field(description="application/pdf или application/pkcs7-signature")
    size: int
    sha256: str = Field(description="SHA-256 содержимого, шестнадцатеричный")
    covers: str = Field(description="Какой файл это или что он подписывает (отсоединённая "
                                    "подпись CMS)")
    url: str = Field(description="Путь для скачивания этого файла")


class SignedDocumentOut(Strict):
    number: int = Field(description="Номер документа (1, 2, …) в адресах скачивания")
    title: str = Field(description="Название документа, как в архиве платформы")
    pdf: SignedFileOut
    patient_signature: SignedFileOut | None = Field(
        description="Подпись пациента над PDF (отсоединённая CMS из архива платформы)")
    mo_signature: SignedFileOut | None = Field(
        description="Подпись медицинской организации: над PDF или над всем архивом платформы "
                    "(см. covers)")


class SignedDocumentsOut(Strict):
    signing_request: str
    documents: list[SignedDocumentOut]


class MaxLinkOut(Strict):
    deep_link: str = Field(description="Ссылка https://max.ru/<бот>?start=<токен> (и для QR-кода)")
    token: str
    expires_at: datetime


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None


EventTypeName = Literal[
    "signing_request.state_changed", "signing_request.completed", "signing_request.refused",
    "signing_request.expired", "signing_request.failed", "invitation.sent",
    "invitation.answered", "max_account.linked"]


class WebhookEndpointIn(Strict):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="Куда присылать события: https (в production обязательно), без имени "
                    "пользователя и пароля в адресе")
    event_types: list[EventTypeName] = Field(min_length=1, max_length=20)
    description: Annotated[str | None, StringConstraints(max_length=200)] = None


class WebhookEndpointPatch(Strict):
    url: Annotated[str | None, StringConstraints(min_length=1, max_length=2000)] = None
    event_types: list[EventTypeName] | None = Field(None, min_length=1, max_length=20)


class WebhookDisableIn(Strict):
    reason: Text


class WebhookEndpointOut(Strict):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    state: Literal["active", "disabled"]
    disabled_reason: str | None = Field(description="Почему отключён (вручную или "
                                                    "автоматически после долгих ошибок)")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="С какого момента доставки подряд "
                                                       "не проходят")
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointOut):
    secret: str = Field(description="Секрет подписи (whsec_…, base64). Показывается только "
                                    "при создании и смене; храните его в МИС")


class WebhookAttemptOut(Strict):
    at: datetime
    status_code: int | None = Field(description="Код ответа; нет — ответа не было")
    duration_ms: int
    response_excerpt: str | None = Field(description="Начало ответа (до 1 КБ)")
    error: str | None


class WebhookDeliveryOut(Strict):
    id: str
    webhook_id: str = Field(description="Заголовок webhook-id этой доставки (тот же при "
                                        "повторах и повторной отправке)")
    event_type: str
    subject: str = Field(description="О чём событие: id транзакции подписания и т. п.")
    state: Literal["pending", "delivered", "stopped"]
    attempts: int
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    last_attempt: WebhookAttemptOut | None = None
    attempt_log: list[WebhookAttemptOut] | None = None


class WebhookDeliveryPage(Strict):
    items: list[WebhookDeliveryOut]
    next_cursor: str | None = None
