"""Shapes of the Goskey ПЭП partner API (spec ``goskey-pep-api.md`` §2).

Outgoing bodies are built by :meth:`SendRequest.to_json`; incoming status answers are read by
:meth:`TransactionStatus.from_json`, which keeps unknown statuses and fields as they are — the
real platform is only partly known, so nothing here may crash on a value it has not seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINAL_STATUSES = frozenset({"finished", "cancelled", "error"})
# The platform fills these from the patient's Госуслуги profile; we only name them.
SIGNER_VARIABLES = ("signerLastName", "signerFirstName", "signerMiddleName",
                    "signerBirthDate", "signerPLV")


class MalformedStatus(ValueError):
    """A status answer that is not even shaped like one (not an object, no status string)."""


@dataclass(frozen=True)
class StepStatus:
    type: str
    status: str
    id_zip: str | None
    id_sig: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> StepStatus:
        step = raw if isinstance(raw, dict) else {}
        data = _object(step.get("data"))
        return cls(type=_text(step.get("type")), status=_text(step.get("status")),
                   id_zip=_optional_text(data.get("idZip")),
                   id_sig=_optional_text(data.get("idSig")), data=dict(data))


@dataclass(frozen=True)
class TransactionStatus:
    status: str
    steps: list[StepStatus]
    reason: str | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, raw: Any) -> TransactionStatus:
        if not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
            raise MalformedStatus("the status answer has no 'status' string")
        steps = raw["steps"] if isinstance(raw.get("steps"), list) else []
        return cls(status=raw["status"], steps=[StepStatus.from_json(s) for s in steps],
                   reason=_optional_text(raw.get("reason")), raw=raw)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def patient_signed_zip(self) -> str | None:
        """The archive's file id once the patient has signed (a ``wip_partner`` step)."""
        for step in self.steps:
            if step.status == "wip_partner" and step.id_zip:
                return step.id_zip
        return None

    @property
    def archive_zip(self) -> str | None:
        """The archive's file id in whatever step status: a finished transaction keeps it
        (a reconciliation fetches it again after a restore lost the local copy)."""
        return next((step.id_zip for step in self.steps if step.id_zip), None)


@dataclass(frozen=True)
class DocumentSpec:
    template_id: str
    title: str
    doc_type: str = "med_permission"


@dataclass(frozen=True)
class Executor:
    """The medical organisation as it appears in ``businessData``."""

    name: str
    address: str
    ogrn: str
    inn: str
    kpp: str

    def to_json(self) -> dict[str, str]:
        return {"nameExecutor": self.name, "regAdrExecutor": self.address,
                "ogrnExecutor": self.ogrn, "innExecutor": self.inn, "kppExecutor": self.kpp}


@dataclass(frozen=True)
class SendRequest:
    phone: str
    department_id: str
    deal_type_ids: list[str]
    documents: list[DocumentSpec]
    service_names: list[str]
    executor: Executor

    def to_json(self) -> dict[str, Any]:
        """The §2.1 body: one ``dealTemplates`` entry per document."""
        return {"phoneNumber": self.phone, "departmentId": self.department_id,
                "dealTypes": list(self.deal_type_ids),
                "dealTemplates": [self._deal_template(d) for d in self.documents]}

    def _deal_template(self, document: DocumentSpec) -> dict[str, Any]:
        services = [{"nameService": name} for name in self.service_names]
        return {"templateId": document.template_id, "data": {
            "type": document.doc_type,
            "templates": [{"templateId": document.template_id, "title": document.title}],
            "medicalData": {"serviceInfo": services},
            "businessData": self.executor.to_json(),
            "variables": list(SIGNER_VARIABLES)}}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
