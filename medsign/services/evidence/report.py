"""The evidence package of a completed signing: everything needed to prove it later.

A ZIP with the platform's archive exactly as received, the MO's signature files, a
verification report (who signed what and when, certificate subjects and validity, digests) as
JSON and as a readable Russian HTML page, and the request's history and audit trail.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.crypto import CryptoError, SignatureReport, TrustStore, verify_detached
from medsign.db.models import AuditRow, DocumentRow
from medsign.domain.signing import STATE_TITLES, SigningState
from medsign.flows.archive import ArchiveRejected, Limits, VerifiedArchive, verify_archive
from medsign.flows.countersign import ARCHIVE_NAME
from medsign.services import signing
from medsign.services.errors import Conflict
from medsign.services.scope import Scope


@dataclass(frozen=True)
class EvidenceConfig:
    operator_trust: TrustStore
    limits: Limits


def build(db: Session, *, scope: Scope, request_id: str, config: EvidenceConfig,
          now: datetime) -> bytes:
    view = signing.get(db, scope=scope, request_id=request_id)
    if view.row.state != SigningState.completed:
        raise Conflict("evidence_not_ready", "Пакет доказательств доступен только для "
                       "завершённого подписания.", state=view.row.state)
    docs = list(db.scalars(select(DocumentRow).where(DocumentRow.signing_request_id ==
                                                      request_id).order_by(DocumentRow.id)))
    archive = next(d for d in docs if d.kind == "platform_archive")
    report = _report(view, archive, [d for d in docs if d.kind == "mo_signature"], config, now)
    trail = _trail(db, request_id)
    return _zip(archive, docs, report, trail)


def _report(view: signing.RequestView, archive: DocumentRow, mo: list[DocumentRow],
            config: EvidenceConfig, now: datetime) -> dict[str, Any]:
    try:
        verified: VerifiedArchive | None = verify_archive(
            archive.content, expected_documents=len(view.row.consent_kinds),
            trust=config.operator_trust, limits=config.limits, at=now)
        archive_problem = None
    except ArchiveRejected as exc:
        verified, archive_problem = None, exc.message
    contents = _contents(archive.content) if verified else {}
    return {
        "signing_request": view.row.id, "organization": view.organization_code,
        "appointment": view.appointment_external_id, "transaction_id": view.row.transaction_id,
        "state": view.row.state, "completed_at": _iso(view.row.completed_at),
        "checked_at": now.isoformat(),
        "platform_archive": {"sha256": archive.sha256, "size": archive.size,
                             "valid": verified is not None, "problem": archive_problem},
        "operator_signatures": [] if verified is None else [
            _entry(signed.name, signed.report) for doc in verified.documents
            for signed in (doc.pdf, doc.xml)],
        "mo_signatures": [_mo_entry(doc, contents, archive.content) for doc in mo],
    }


def _contents(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _entry(covers: str, report: SignatureReport) -> dict[str, Any]:
    data = asdict(report)
    data.pop("certificate_der")
    return {"covers": covers, "valid": True,
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}}


def _mo_entry(doc: DocumentRow, contents: dict[str, bytes], archive: bytes) -> dict[str, Any]:
    covered = archive if doc.covers == ARCHIVE_NAME else contents.get(doc.covers or "")
    base = {"file": doc.name, "covers": doc.covers, "platform_file_id": doc.platform_file_id}
    if covered is None:
        return {**base, "valid": False, "problem": "подписанный файл не найден в архиве"}
    try:
        return {**base, **_entry(doc.covers or "", verify_detached(covered, doc.content,
                                                                    trust=None))}
    except CryptoError as exc:
        return {**base, "valid": False, "problem": exc.message}


def _trail(db: Session, request_id: str) -> dict[str, Any]:
    history = [{"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state,
                "actor": e.actor, "reason": e.reason} for e in signing.history(db, request_id)]
    audit = [{"at": a.at.isoformat(), "actor": a.actor, "action": a.action,
              "correlation_id": a.correlation_id, "details": a.details}
             for a in db.scalars(select(AuditRow).where(
                 AuditRow.subject_type == "signing_request", AuditRow.subject_id == request_id)
                 .order_by(AuditRow.id))]
    return {"history": history, "audit": audit}


def _zip(archive: DocumentRow, docs: list[DocumentRow], report: dict[str, Any],
         trail: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(ARCHIVE_NAME, archive.content)
        for doc in docs:
            if doc.kind == "mo_signature":
                zf.writestr(f"mo-signatures/{doc.name}", doc.content)
        zf.writestr("verification.json", _json(report))
        zf.writestr("verification.html", render_html(report, trail))
        zf.writestr("audit-trail.json", _json(trail))
    return buffer.getvalue()


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def render_html(report: dict[str, Any], trail: dict[str, Any]) -> str:
    """A self-contained page a lawyer can read: no scripts, no external resources."""
    e = html.escape
    rows = "".join(_signature_row(s, "Оператор платформы (Госключ)")
                   for s in report["operator_signatures"])
    rows += "".join(_signature_row(s, "Медицинская организация") for s in report["mo_signatures"])
    history = "".join(f"<tr><td>{e(h['at'])}</td><td>{e(_title(h['to']))}</td>"
                      f"<td>{e(h['actor'])}</td><td>{e(h['reason'] or '')}</td></tr>"
                      for h in trail["history"])
    archive = report["platform_archive"]
    verdict = "подписи действительны" if archive["valid"] and all(
        s["valid"] for s in report["mo_signatures"]) else "есть недействительные подписи"
    return _PAGE.format(
        request=e(report["signing_request"]), org=e(report["organization"]),
        appointment=e(report["appointment"]), tx=e(str(report["transaction_id"])),
        completed=e(str(report["completed_at"])), checked=e(report["checked_at"]),
        sha=e(archive["sha256"]), size=archive["size"], verdict=e(verdict), rows=rows,
        history=history)


def _title(state: str) -> str:
    try:
        return STATE_TITLES[SigningState(state)]
    except ValueError:
        return state


def _signature_row(s: dict[str, Any], who: str) -> str:
    e = html.escape
    validity = f"{s.get('not_before', '')} — {s.get('not_after', '')}"
    status = "действительна" if s["valid"] else f"недействительна: {s.get('problem', '')}"
    return (f"<tr><td>{e(who)}</td><td>{e(str(s.get('covers')))}</td>"
            f"<td>{e(str(s.get('signer_subject', '')))}</td>"
            f"<td>{e(str(s.get('signing_time', '')))}</td><td>{e(validity)}</td>"
            f"<td><code>{e(str(s.get('message_digest_hex', '')))}</code></td>"
            f"<td>{e(status)}</td></tr>")


_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Отчёт о проверке подписей — {request}</title>
<style>body{{font-family:sans-serif;margin:1rem;max-width:70rem}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
td,th{{border:1px solid #999;padding:.3rem;text-align:left;vertical-align:top;
word-break:break-word}}code{{font-size:.8rem}}</style></head>
<body><h1>Отчёт о проверке подписей</h1>
<p><strong>Итог:</strong> {verdict}.</p>
<dl><dt>Транзакция подписания</dt><dd>{request}</dd><dt>МО</dt><dd>{org}</dd>
<dt>Запись на приём</dt><dd>{appointment}</dd><dt>Транзакция платформы</dt><dd>{tx}</dd>
<dt>Завершена</dt><dd>{completed}</dd><dt>Проверено</dt><dd>{checked}</dd>
<dt>Архив платформы (SHA-256, байт)</dt><dd><code>{sha}</code>, {size}</dd></dl>
<h2>Подписи</h2><table><thead><tr><th>Кто подписал</th><th>Файл</th><th>Сертификат</th>
<th>Время подписи</th><th>Срок действия сертификата</th><th>Хэш (ГОСТ Р 34.11-2012)</th>
<th>Результат</th></tr></thead><tbody>{rows}</tbody></table>
<h2>История</h2><table><thead><tr><th>Время</th><th>Состояние</th><th>Кто</th>
<th>Причина</th></tr></thead><tbody>{history}</tbody></table></body></html>
"""
