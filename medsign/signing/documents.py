"""The signed documents of a completed signing request, for download from the web pages.

The platform's archive is kept exactly as received (``documents``, kind ``platform_archive``);
its PDFs are what a doctor or a patient wants to open. The archive was verified when it
arrived, but it is still read with the size limits: a page must not be a decompression bomb.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from sqlalchemy.orm import Session

from medsign.config import SigningSettings
from medsign.domain.signing import SigningState
from medsign.errors import Conflict, NotFound
from medsign.signing import repository
from medsign.signing.archive import PDF_SUFFIX, Limits, entry_ceiling

DEFAULT_LIMITS: Limits = SigningSettings()  # the documented defaults of signing.max_*


@dataclass(frozen=True)
class SignedPdf:
    number: int  # 1-based, in the archive's name order: the address of the download
    title: str
    filename: str


def _archive(db: Session, request_id: str, state: str) -> bytes:
    if state != SigningState.completed:
        raise Conflict("documents_not_ready", "Подписанные документы доступны только после "
                                              "завершения подписания.")
    content = repository.archive_bytes(db, request_id=request_id)
    if content is None:
        raise NotFound("documents_not_found", "Архив подписанных документов не найден.")
    return content


def _pdf_infos(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return sorted((i for i in archive.infolist()
                   if i.filename.endswith(PDF_SUFFIX) and "/" not in i.filename),
                  key=lambda i: i.filename)


def list_pdfs(db: Session, *, request_id: str, state: str) -> list[SignedPdf]:
    if state != SigningState.completed:
        return []
    with zipfile.ZipFile(io.BytesIO(_archive(db, request_id, state))) as archive:
        return [SignedPdf(n, i.filename[: -len(PDF_SUFFIX)], i.filename)
                for n, i in enumerate(_pdf_infos(archive), start=1)]


def read_pdf(db: Session, *, request_id: str, state: str, number: int,
             limits: Limits | None = None) -> tuple[str, bytes]:
    """The ``number``-th PDF (name, content)."""
    limits = limits or DEFAULT_LIMITS
    with zipfile.ZipFile(io.BytesIO(_archive(db, request_id, state))) as archive:
        infos = _pdf_infos(archive)
        if not 1 <= number <= len(infos):
            raise NotFound("document_not_found", "Документ не найден.")
        info = infos[number - 1]
        ceiling = entry_ceiling(info, limits.max_uncompressed_bytes, limits)
        with archive.open(info) as stream:
            content = stream.read(ceiling + 1)
    if len(content) > ceiling:
        raise Conflict("document_too_large", "Документ слишком велик для выдачи.")
    return info.filename, content
