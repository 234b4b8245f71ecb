"""Reading request bodies the way the platform would: strict on what matters, blind to extras.

Every problem is a :class:`ValidationFailed` whose message names the field, answered as
``400 validation.failed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from medsign.integrations.goskey.emulator.model import Document

PHONE = re.compile(r"\+7\d{10}")
_EXECUTOR_FIELDS = ("nameExecutor", "regAdrExecutor", "ogrnExecutor", "innExecutor",
                    "kppExecutor")


class ValidationFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SendBody:
    phone: str
    department_id: str
    deal_types: list[str]
    documents: list[Document]


def parse_send(body: Any) -> SendBody:
    root = _object(body, "body")
    templates = _list(root.get("dealTemplates"), "dealTemplates")
    if not templates:
        raise ValidationFailed("dealTemplates: at least one document is required")
    deal_types = _list(root.get("dealTypes", []), "dealTypes")
    return SendBody(phone=phone_of(root),
                    department_id=_text(root.get("departmentId"), "departmentId"),
                    deal_types=[_text(t, f"dealTypes[{n}]") for n, t in enumerate(deal_types)],
                    documents=[_document(t, f"dealTemplates[{n}]")
                               for n, t in enumerate(templates)])


def phone_of(body: Any) -> str:
    phone = _object(body, "body").get("phoneNumber")
    if phone is None:
        raise ValidationFailed("phoneNumber: required")
    if not isinstance(phone, str) or not PHONE.fullmatch(phone):
        raise ValidationFailed("phoneNumber: expected +7XXXXXXXXXX")
    return phone


def parse_complete(body: Any) -> tuple[str, str]:
    """Phone and completion template id; the id's meaning is unknown, so an empty or missing
    one is accepted (and recorded in the transaction)."""
    root = _object(body, "body")
    return phone_of(root), _optional_text(root.get("templateId"), "templateId") or ""


def _document(raw: Any, where: str) -> Document:
    entry = _object(raw, where)
    data = _object(entry.get("data"), f"{where}.data")
    templates = _list(data.get("templates"), f"{where}.data.templates")
    if not templates:
        raise ValidationFailed(f"{where}.data.templates: at least one template is required")
    template = _object(templates[0], f"{where}.data.templates[0]")
    deal_template_id = _text(entry.get("templateId"), f"{where}.templateId")
    return Document(
        template_id=_optional_text(template.get("templateId"), f"{where}.data.templates[0]")
        or deal_template_id,
        title=_text(template.get("title"), f"{where}.data.templates[0].title"),
        doc_type=_optional_text(data.get("type"), f"{where}.data.type") or "med_permission",
        services=_services(data.get("medicalData"), f"{where}.data.medicalData"),
        executor=_executor(data.get("businessData"), f"{where}.data.businessData"),
        deal_template_id=deal_template_id)


def _services(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    items = _list(_object(raw, where).get("serviceInfo", []), f"{where}.serviceInfo")
    return [_text(_object(item, f"{where}.serviceInfo[{n}]").get("nameService"),
                  f"{where}.serviceInfo[{n}].nameService") for n, item in enumerate(items)]


def _executor(raw: Any, where: str) -> dict[str, str]:
    business = _object(raw, where)
    _text(business.get("nameExecutor"), f"{where}.nameExecutor")
    return {name: _optional_text(business.get(name), f"{where}.{name}") or ""
            for name in _EXECUTOR_FIELDS}


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationFailed(f"{where}: expected a list")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{where}: expected a non-empty string")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{where}: expected a string")
    return value
