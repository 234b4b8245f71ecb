"""What the evidence says, gathered once: the verification report as data.

The JSON report, the HTML page and the signature sheet are three views of this one
dictionary, so they cannot disagree. Times are on the organisation's clock, to the second
(ISO 8601 with the offset); people are named in words beside the stored actor.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from defusedxml import ElementTree
from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.crypto import CryptoError, SignatureReport, TrustStore, verify_detached
from medsign.crypto.certs import parse_certificate
from medsign.db.integrity import get_existing
from medsign.db.models import (
    AppointmentRow,
    AuditRow,
    DocumentRow,
    OrganizationRow,
    PatientRow,
    SigningRequestRow,
    StaffUserRow,
)
from medsign.domain import evidence as words
from medsign.domain.signing import STATE_TITLES, SigningState
from medsign.errors import Conflict
from medsign.records.scope import Scope
from medsign.signing import service as signing
from medsign.signing.archive import (
    ArchiveDocument,
    ArchiveRejected,
    Limits,
    VerifiedArchive,
    verify_archive,
)
from medsign.signing.countersign import ARCHIVE_NAME

REPORT_VERSION = 2


@dataclass(frozen=True)
class EvidenceConfig:
    operator_trust: TrustStore
    limits: Limits


@dataclass(frozen=True)
class Gathered:
    """The report (for JSON, HTML and the sheet), the trail, and the files to package."""

    report: dict[str, Any]
    trail: dict[str, Any]
    archive: DocumentRow
    mo_files: list[DocumentRow]


def gather(db: Session, *, scope: Scope, request_id: str, config: EvidenceConfig,
           now: datetime) -> Gathered:
    view = signing.get(db, scope=scope, request_id=request_id)
    if view.row.state != SigningState.completed:
        raise Conflict("evidence_not_ready", "Пакет доказательств доступен только для "
                       "завершённого подписания.", state=view.row.state)
    docs = list(db.scalars(select(DocumentRow).where(DocumentRow.signing_request_id ==
                                                      request_id).order_by(DocumentRow.id)))
    archive = next(d for d in docs if d.kind == "platform_archive")
    mo = [d for d in docs if d.kind == "mo_signature"]
    org = get_existing(db, OrganizationRow, view.row.organization_id)
    report = _report(db, view.row, org, archive, mo, config, now)
    return Gathered(report, _trail(db, request_id, org.timezone), archive, mo)


def _report(db: Session, row: SigningRequestRow, org: OrganizationRow, archive: DocumentRow,
            mo: list[DocumentRow], config: EvidenceConfig, now: datetime) -> dict[str, Any]:
    tz = org.timezone
    try:
        verified: VerifiedArchive | None = verify_archive(
            archive.content, expected_documents=len(row.consent_kinds),
            trust=config.operator_trust, limits=config.limits, at=now)
        archive_problem = None
    except ArchiveRejected as exc:
        verified, archive_problem = None, exc.message
    contents = _contents(archive.content) if verified else {}
    mo_entries = [_mo_entry(doc, contents, archive.content, tz) for doc in mo]
    return {
        "version": REPORT_VERSION, "signing_request": row.id,
        "transaction_id": row.transaction_id, "state": row.state, "timezone": tz,
        "organization": {"code": org.code, "name": org.name, "ogrn": org.ogrn,
                         "inn": org.inn},
        "patient": _patient(get_existing(db, PatientRow, row.patient_id)),
        "appointment": _appointment(get_existing(db, AppointmentRow, row.appointment_id), tz),
        "completed_at": words.local_iso(row.completed_at, tz),
        "checked_at": words.local_iso(now, tz),
        "platform_archive": {"name": ARCHIVE_NAME, "sha256": archive.sha256,
                             "size": archive.size, "valid": verified is not None,
                             "problem": archive_problem},
        "documents": [] if verified is None else [
            _document(doc, mo_entries, tz) for doc in verified.documents],
        "operator_signatures": [] if verified is None else [
            _entry(signed.name, signed.report, tz) for doc in verified.documents
            for signed in (doc.pdf, doc.xml)],
        "mo_signatures": mo_entries,
    }


def _patient(p: PatientRow) -> dict[str, Any]:
    full_name = " ".join(n for n in (p.last_name, p.first_name, p.middle_name) if n)
    return {"external_id": p.external_id, "full_name": full_name,
            "birth_date": p.birth_date.isoformat()}


def _appointment(a: AppointmentRow, tz: str) -> dict[str, Any]:
    return {"external_id": a.external_id, "starts_at": words.local_iso(a.starts_at, tz),
            "doctor": a.doctor_name, "service": a.service_name}


def _document(doc: ArchiveDocument, mo_entries: list[dict[str, Any]],
              tz: str) -> dict[str, Any]:
    """One signed document: what the sheet lists for it."""
    return {
        "title": doc.title, "pdf": doc.pdf.name,
        "pdf_sha256": hashlib.sha256(doc.pdf.content).hexdigest(),
        "xml": doc.xml.name, "xml_sha256": hashlib.sha256(doc.xml.content).hexdigest(),
        "signer": signer_info(doc.xml.content),
        "patient_signature": _entry(doc.pdf.name, doc.pdf.report, tz),
        "mo_signatures": [m for m in mo_entries
                          if m["covers"] in (doc.pdf.name, doc.xml.name, ARCHIVE_NAME)],
    }


def signer_info(xml: bytes) -> dict[str, str | None]:
    """Who the platform says signed: ``signerInfo`` of the agreement XML (spec §2.3)."""
    root = ElementTree.fromstring(xml, forbid_dtd=True)
    info = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "signerInfo"), None)

    def field(name: str) -> str | None:
        found = None if info is None else next(
            (el for el in info if el.tag.rsplit("}", 1)[-1] == name), None)
        text = (found.text or "").strip() if found is not None else ""
        return text or None

    parts = [field(n) for n in ("signerLastName", "signerFirstName", "signerMiddleName")]
    return {"full_name": " ".join(p for p in parts if p) or None,
            "birth_date": field("signerBirthDate")}


def _contents(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _entry(covers: str, report: SignatureReport, tz: str) -> dict[str, Any]:
    """One valid signature, naming the certificate embedded in it — the one that made it,
    whatever the signer's key store holds today."""
    data = asdict(report)
    data["certificate_thumbprint"] = parse_certificate(data.pop("certificate_der")).thumbprint
    return {"covers": covers, "valid": True,
            **{k: words.local_iso(v, tz) if isinstance(v, datetime) else v
               for k, v in data.items()}}


def _mo_entry(doc: DocumentRow, contents: dict[str, bytes], archive: bytes,
              tz: str) -> dict[str, Any]:
    covered = archive if doc.covers == ARCHIVE_NAME else contents.get(doc.covers or "")
    base = {"file": doc.name, "covers": doc.covers, "platform_file_id": doc.platform_file_id}
    if covered is None:
        return {**base, "valid": False, "problem": "подписанный файл не найден в архиве"}
    try:
        return {**base, **_entry(doc.covers or "", verify_detached(covered, doc.content,
                                                                    trust=None), tz)}
    except CryptoError as exc:
        return {**base, "valid": False, "problem": exc.message}


def _trail(db: Session, request_id: str, tz: str) -> dict[str, Any]:
    events = signing.history(db, request_id)
    audit = list(db.scalars(select(AuditRow).where(
        AuditRow.subject_type == "signing_request", AuditRow.subject_id == request_id)
        .order_by(AuditRow.id)))
    staff = _staff(db, [e.actor for e in events] + [a.actor for a in audit])
    history = [{"at": words.local_iso(e.at, tz), "from": e.from_state, "to": e.to_state,
                "state_title": state_title(e.to_state), "actor": e.actor,
                "actor_title": words.actor_words(e.actor, staff), "reason": e.reason}
               for e in events]
    entries = [{"at": words.local_iso(a.at, tz), "actor": a.actor,
                "actor_title": words.actor_words(a.actor, staff), "action": a.action,
                "correlation_id": a.correlation_id, "details": a.details} for a in audit]
    return {"timezone": tz, "history": history, "audit": entries}


def _staff(db: Session, actors: list[str]) -> dict[str, words.StaffName]:
    logins = words.staff_logins(actors)
    if not logins:
        return {}
    rows = db.scalars(select(StaffUserRow).where(StaffUserRow.login.in_(sorted(logins))))
    return {r.login: words.StaffName(r.full_name, r.role) for r in rows}


def state_title(state: str) -> str:
    try:
        return STATE_TITLES[SigningState(state)]
    except ValueError:
        return state
