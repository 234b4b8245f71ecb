"""Valid request bodies and helpers shared by API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign.accounts import api_clients
from medsign.db.models import OrganizationRow
from medsign.domain.phones import normalize_phone


def now_utc() -> datetime:
    return datetime.now(UTC)


def ogrn(prefix12: str = "102770013219") -> str:
    return prefix12 + str(int(prefix12) % 11 % 10)


def inn10(prefix9: str = "770708389") -> str:
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return prefix9 + str(sum(int(d) * w for d, w in zip(prefix9, weights, strict=True)) % 11 % 10)


def organization(name: str = "ГБУЗ «Городская поликлиника № 1»", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name, "address": "г. Москва, ул. Ленина, д. 1", "ogrn": ogrn(),
        "inn": inn10(), "kpp": "770701001", "timezone": "Europe/Moscow",
        "quiet_hours": "21:00-09:00",
        "partner": {"department_id": "7f1c0d3e-0000-4000-8000-000000000001",
                    "templates": {"medical_intervention": "tpl-ids",
                                  "paid_services_contract": "tpl-paid",
                                  "personal_data": "tpl-pd"}}}
    body.update(over)
    return body


def patient(org: str | None = "mo1", **over: Any) -> dict[str, Any]:
    """A patient's body; ``org`` None leaves out ``organization`` (the path names it)."""
    body: dict[str, Any] = {"organization": org, "last_name": "Иванов", "first_name": "Иван",
                            "middle_name": "Иванович", "birth_date": "1980-05-17",
                            "phone": "+7 (999) 123-45-67"}
    body.update(over)
    return _without_null_organization(body)


def _without_null_organization(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("organization", "") is None:
        del body["organization"]
    return body


def goskey_person(patient_body: dict[str, Any], **over: Any) -> dict[str, Any]:
    """The Госуслуги account of a patient (a ``patient()`` body) for the Goskey emulator's
    registry (``POST /_emulator/people``): the platform fills the documents from it, and the
    service checks that it is the patient."""
    body = {"phone": normalize_phone(patient_body["phone"]),
            "last_name": patient_body["last_name"], "first_name": patient_body["first_name"],
            "middle_name": patient_body.get("middle_name"),
            "birth_date": patient_body["birth_date"], "gender": "M"}
    body.update(over)
    return body


def appointment(org: str | None = "mo1", patient_id: str = "p1", *, in_hours: float = 26,
                **over: Any) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=in_hours)
    body: dict[str, Any] = {
        "organization": org, "patient": patient_id, "starts_at": start.isoformat(),
        "doctor": {"name": "Петрова А. С."}, "service_name": "Приём врача-терапевта",
        "consents": [{"kind": "medical_intervention", "signing_method": "electronic"},
                     {"kind": "personal_data", "signing_method": "electronic"},
                     {"kind": "paid_services_contract", "signing_method": "paper"}]}
    body.update(over)
    return _without_null_organization(body)


def token(engine: Engine, name: str = "mis", organizations: list[str] | None = None) -> str:
    with Session(engine) as db:
        new = api_clients.create(db, name=name, organizations=organizations, actor="test",
                                 now=datetime.now(UTC))
        db.commit()
    return new.token


def organization_row(db: Session, now: datetime, code: str = "mo1") -> OrganizationRow:
    """A bare МО row (for storage tests that need something to point at), flushed."""
    row = OrganizationRow(code=code, name="МО", address="-", ogrn="1027700132195",
                          inn="7707083893", kpp="770701001", timezone="Europe/Moscow",
                          template_ids={}, created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    return row
