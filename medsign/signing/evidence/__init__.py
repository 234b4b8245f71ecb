"""The evidence package of a completed signing: everything needed to prove it later.

A ZIP with the platform's archive exactly as received, the MO's signature files, a
verification report (who signed what and when, certificate subjects and validity, digests) as
JSON and as a readable Russian HTML page, the signature sheet («Лист подписания», PDF), and
the request's history and audit trail. Every entry is a plain readable file (``0644``) dated
when the package was made, on the organisation's clock — what an unzip shows a person.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from medsign.records.scope import Scope
from medsign.signing.countersign import ARCHIVE_NAME
from medsign.signing.evidence.facts import EvidenceConfig, Gathered, gather
from medsign.signing.evidence.report import render_html
from medsign.signing.evidence.sheet import render_sheet

__all__ = ["SHEET_NAME", "EvidenceConfig", "build", "render_html", "render_sheet",
           "signature_sheet"]

SHEET_NAME = "signature-sheet.pdf"
FILE_MODE = 0o100644  # a regular file, rw-r--r--
_EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # what a ZIP header can say


def build(db: Session, *, scope: Scope, request_id: str, config: EvidenceConfig,
          now: datetime) -> bytes:
    gathered = gather(db, scope=scope, request_id=request_id, config=config, now=now)
    return _zip(gathered, now)


def signature_sheet(db: Session, *, scope: Scope, request_id: str, config: EvidenceConfig,
                    now: datetime) -> bytes:
    """The signature sheet alone (the same PDF as inside the package)."""
    return render_sheet(gather(db, scope=scope, request_id=request_id, config=config,
                               now=now).report)


def _zip(gathered: Gathered, now: datetime) -> bytes:
    report, trail = gathered.report, gathered.trail
    stamp = _zip_time(datetime.fromisoformat(report["checked_at"]) if report["checked_at"]
                      else now)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        def put(name: str, data: bytes | str) -> None:
            zf.writestr(entry(name, stamp), data)

        put(ARCHIVE_NAME, gathered.archive.content)
        for doc in gathered.mo_files:
            put(f"mo-signatures/{doc.name}", doc.content)
        put("verification.json", _json(report))
        put("verification.html", render_html(report, trail))
        put(SHEET_NAME, render_sheet(report))
        put("audit-trail.json", _json(trail))
    return buffer.getvalue()


def entry(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    """A readable file entry: without the mode, unzip on Unix creates it unreadable (0000)."""
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the mode in external_attr is honoured
    info.external_attr = FILE_MODE << 16
    return info


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    """A ZIP entry keeps local wall time without a zone: the organisation's clock."""
    stamp = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return max(stamp, _EARLIEST_ZIP_TIME)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
