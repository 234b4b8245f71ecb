"""The signed documents of a completed signing request, for download from the web pages.

The platform's archive is kept exactly as received (``documents``, kind ``platform_archive``);
its PDFs are what a doctor or a patient wants to open. The archive was verified when it
arrived, but it is still read with the size limits: a page must not be a decompression bomb.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from medsign.config import SigningSettings
from medsign.domain.signing import SigningState
from medsign.errors import Conflict, NotFound
from medsign.signing import repository
from medsign.signing.archive import PDF_SIG_SUFFIX, PDF_SUFFIX, Limits, entry_ceiling
from medsign.signing.countersign import ARCHIVE_NAME

DEFAULT_LIMITS: Limits = SigningSettings()  # the documented defaults of signing.max_*
UNREADABLE = "documents_unreadable"
# What reading a damaged ZIP raises, in the directory or in an entry's data.
_DAMAGED = (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError)

log = logging.getLogger("medsign.signing.documents")


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


@contextmanager
def _opened(db: Session, request_id: str, state: str) -> Iterator[zipfile.ZipFile]:
    """The stored archive, open. It was verified when it arrived: one that no longer reads
    (damaged in storage, restored from a bad copy) is a ``Conflict`` that says so, logged
    for the operators, never a server error."""
    content = _archive(db, request_id, state)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            yield archive
    except _DAMAGED as exc:
        log.error("the stored archive of signing request %s does not read: %s", request_id,
                  exc)
        raise Conflict(UNREADABLE, "Подписанные документы не удаётся открыть: файл "
                                   "повреждён.") from exc


def list_pdfs(db: Session, *, request_id: str, state: str) -> list[SignedPdf]:
    if state != SigningState.completed:
        return []
    with _opened(db, request_id, state) as archive:
        return [SignedPdf(n, i.filename[: -len(PDF_SUFFIX)], i.filename)
                for n, i in enumerate(_pdf_infos(archive), start=1)]


def shown_pdfs(db: Session,
               requests: Iterable[tuple[str, str]]) -> dict[str, list[SignedPdf] | None]:
    """The PDFs of each (request id, state) a page lists; None: the request is completed,
    but its archive is missing or does not read (logged): the page says so beside that
    request and shows the rest."""
    shown: dict[str, list[SignedPdf] | None] = {}
    for request_id, state in requests:
        try:
            shown[request_id] = list_pdfs(db, request_id=request_id, state=state)
        except (Conflict, NotFound) as exc:
            if exc.code != UNREADABLE:  # a damaged one is logged where it is found
                log.error("signing request %s is completed, its archive: %s", request_id,
                          exc.code)
            shown[request_id] = None
    return shown


def read_pdf(db: Session, *, request_id: str, state: str, number: int,
             limits: Limits | None = None) -> tuple[str, bytes]:
    """The ``number``-th PDF (name, content)."""
    limits = limits or DEFAULT_LIMITS
    with _opened(db, request_id, state) as archive:
        infos = _pdf_infos(archive)
        if not 1 <= number <= len(infos):
            raise NotFound("document_not_found", "Документ не найден.")
        info = infos[number - 1]
        return info.filename, _bounded(archive, info, limits.max_uncompressed_bytes, limits)


@dataclass(frozen=True)
class SignedFile:
    """One file of a signed document, as the МИС downloads it."""

    name: str
    media_type: str
    content: bytes
    covers: str  # the file this one is, or signs

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class SignedDocument:
    """A document of a completed request: its PDF, the patient's signature over it (the
    platform's detached CMS beside it in the archive) and the МО's counter-signature (over
    the PDF, or over the whole archive when the МО signs the archive)."""

    number: int  # 1-based, in the archive's name order, as ``read_pdf`` counts
    title: str
    pdf: SignedFile
    patient_signature: SignedFile | None
    mo_signature: SignedFile | None


SIGNATURE_TYPE = "application/pkcs7-signature"
PDF_TYPE = "application/pdf"


def signed_documents(db: Session, *, request_id: str, state: str,
                     limits: Limits | None = None) -> list[SignedDocument]:
    """Every document with its files; ``documents_not_ready`` (409) before completion,
    ``documents_unreadable`` (409) when the stored archive does not read."""
    limits = limits or DEFAULT_LIMITS
    mo = {row.covers: row for row in repository.mo_signatures(db.connection(),
                                                              request_id=request_id)}
    found: list[SignedDocument] = []
    with _opened(db, request_id, state) as archive:
        budget = limits.max_uncompressed_bytes
        names = {i.filename: i for i in archive.infolist()}
        for number, info in enumerate(_pdf_infos(archive), start=1):
            title = info.filename[: -len(PDF_SUFFIX)]
            pdf = _bounded(archive, info, budget, limits)
            budget -= len(pdf)
            sig_info = names.get(title + PDF_SIG_SUFFIX)
            patient = None
            if sig_info is not None:
                sig = _bounded(archive, sig_info, budget, limits)
                budget -= len(sig)
                patient = SignedFile(sig_info.filename, SIGNATURE_TYPE, sig, info.filename)
            row = mo.get(info.filename) or mo.get(ARCHIVE_NAME)
            found.append(SignedDocument(
                number, title, SignedFile(info.filename, PDF_TYPE, pdf, info.filename), patient,
                None if row is None else SignedFile(row.name, SIGNATURE_TYPE, bytes(row.content),
                                                    row.covers or info.filename)))
    return found


def _bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int,
             limits: Limits) -> bytes:
    ceiling = entry_ceiling(info, budget, limits)
    with archive.open(info) as stream:
        content = stream.read(ceiling + 1)
    if len(content) > ceiling:
        raise Conflict("document_too_large", "Документ слишком велик для выдачи.")
    return content
