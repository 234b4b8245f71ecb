"""The platform's signed archive, read as hostile input.

What a valid archive looks like (spec §2.3): for every document ``T`` exactly four entries —
``T XML.xml``, ``T подпись к XML.p7s``, ``T PDF.pdf``, ``T подпись к PDF.p7s`` — where each
``.p7s`` is a detached CMS (one line of base64) by the platform operator over the file beside
it. Anything else is refused with a specific reason: a zip bomb, a name that tries to leave
the folder, a missing or an extra entry, XML that is not well-formed, a signature that does
not verify against the trust store, a document that does not say who signed it
(``signerInfo`` without a last or a first name, or an unreadable birth date).
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from medsign.crypto import SignatureInvalid, SignatureReport, TrustStore, verify_detached
from medsign.crypto.errors import MESSAGES
from medsign.domain.signer_check import Identity

XML_SUFFIX = " XML.xml"
XML_SIG_SUFFIX = " подпись к XML.p7s"
PDF_SUFFIX = " PDF.pdf"
PDF_SIG_SUFFIX = " подпись к PDF.p7s"
SUFFIXES = (XML_SIG_SUFFIX, PDF_SIG_SUFFIX, XML_SUFFIX, PDF_SUFFIX)  # longest first
_DAMAGED_CMS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)
_UNSAFE_NAME = re.compile(r"(^[/\\])|(^[A-Za-z]:)|((^|[/\\])\.\.([/\\]|$))|[\\\x00-\x1f]")


class ArchiveRejected(Exception):
    """The archive is unacceptable; ``code`` is stable, ``message`` is for people (Russian)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Limits(Protocol):
    """How far an archive may unpack. The signing settings are such limits
    (``signing.max_uncompressed_bytes``, ``signing.max_compression_ratio``) and are passed
    as they are; this module reads no configuration."""

    @property
    def max_uncompressed_bytes(self) -> int: ...

    @property
    def max_compression_ratio(self) -> int: ...


# Four entries per document; a request has a handful of documents.
MAX_ENTRIES = 64


@dataclass(frozen=True)
class SignedFile:
    name: str
    content: bytes
    signature: bytes
    report: SignatureReport


@dataclass(frozen=True)
class ArchiveDocument:
    """One document; ``signer`` is who the platform's XML says signed it (``signerInfo``)."""

    title: str
    pdf: SignedFile
    xml: SignedFile
    signer: Identity


@dataclass(frozen=True)
class VerifiedArchive:
    documents: list[ArchiveDocument]


def verify_archive(data: bytes, *, expected_documents: int, trust: TrustStore, limits: Limits,
                   at: datetime) -> VerifiedArchive:
    """Check everything about the archive; return its documents with their signature reports."""
    entries = _read_entries(data, limits)
    groups = _group(entries)
    if len(groups) != expected_documents:
        raise ArchiveRejected("archive_document_count",
                              f"В архиве {len(groups)} документ(ов), ожидалось "
                              f"{expected_documents}.")
    return VerifiedArchive([_document(title, files, trust, at)
                            for title, files in sorted(groups.items())])


def _read_entries(data: bytes, limits: Limits) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ArchiveRejected("archive_corrupt", f"Архив повреждён или не ZIP: {exc}.") from None
    if len(infos) > MAX_ENTRIES:
        raise ArchiveRejected("archive_too_many_entries", f"В архиве {len(infos)} файлов.")
    entries: dict[str, bytes] = {}
    budget = limits.max_uncompressed_bytes
    for info in infos:
        _check_entry(info, limits)
        content = _read_bounded(archive, info, budget, limits)
        budget -= len(content)
        if info.filename in entries:
            raise ArchiveRejected("archive_duplicate_entry",
                                  f"Файл «{info.filename}» встречается в архиве дважды.")
        entries[info.filename] = content
    return entries


def _check_entry(info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    if info.is_dir() or _UNSAFE_NAME.search(name) or "/" in name:
        raise ArchiveRejected("archive_path_traversal",
                              f"Недопустимое имя файла в архиве: «{name!r}».")
    if info.flag_bits & 0x1:
        raise ArchiveRejected("archive_encrypted", f"Файл «{name}» в архиве зашифрован.")


def entry_ceiling(info: zipfile.ZipInfo, budget: int, limits: Limits) -> int:
    """How many bytes an entry may unpack to: the budget left, and the compression ratio
    limit applied to its compressed size (its header's own claim is not trusted)."""
    return int(min(budget, max(info.compress_size, 1) * limits.max_compression_ratio))


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int,
                  limits: Limits) -> bytes:
    """Read one entry without trusting its header: stop at the size or ratio limit."""
    ceiling = entry_ceiling(info, budget, limits)
    try:
        with archive.open(info) as stream:
            content = stream.read(ceiling + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
            zlib.error, lzma.LZMAError) as exc:  # a garbled stream fails in the decompressor
        raise ArchiveRejected("archive_corrupt",
                              f"Файл «{info.filename}» в архиве не читается: {exc}.") from None
    if len(content) > ceiling:
        code = "archive_too_large" if ceiling == budget else "archive_zip_bomb"
        raise ArchiveRejected(code, f"Файл «{info.filename}» распаковывается в слишком большой "
                                    "объём (защита от zip-бомбы).")
    return content


def _group(entries: dict[str, bytes]) -> dict[str, dict[str, tuple[str, bytes]]]:
    groups: dict[str, dict[str, tuple[str, bytes]]] = {}
    for name, content in entries.items():
        suffix = next((s for s in SUFFIXES if name.endswith(s) and len(name) > len(s)), None)
        if suffix is None:
            raise ArchiveRejected("archive_unexpected_entry",
                                  f"Лишний файл в архиве: «{name}».")
        groups.setdefault(name[: -len(suffix)], {})[suffix] = (name, content)
    for title, files in groups.items():
        missing = [title + s for s in SUFFIXES if s not in files]
        if missing:
            raise ArchiveRejected("archive_missing_entry",
                                  "В архиве нет файла: " + ", ".join(f"«{m}»" for m in missing))
    return groups


def _document(title: str, files: dict[str, tuple[str, bytes]], trust: TrustStore,
              at: datetime) -> ArchiveDocument:
    pdf_name, pdf = files[PDF_SUFFIX]
    xml_name, xml = files[XML_SUFFIX]
    if not pdf.startswith(b"%PDF-"):
        raise ArchiveRejected("archive_not_pdf", f"«{pdf_name}» не является PDF-документом.")
    root = _check_xml(xml_name, xml)
    return ArchiveDocument(
        title,
        pdf=_signed(pdf_name, pdf, files[PDF_SIG_SUFFIX], trust, at),
        xml=_signed(xml_name, xml, files[XML_SIG_SUFFIX], trust, at),
        signer=_signer(xml_name, root))


def _check_xml(name: str, xml: bytes) -> Any:
    try:
        root = ElementTree.fromstring(xml, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        # LookupError: an encoding the parser does not know, declared by the document
        raise ArchiveRejected("archive_xml_invalid",
                              f"«{name}» — некорректный XML: {exc}.") from None
    if root.tag.rsplit("}", 1)[-1] != "agreement":
        raise ArchiveRejected("archive_xml_invalid",
                              f"«{name}»: корневой элемент «{root.tag}», ожидался «agreement».")
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _signer(name: str, root: Any) -> Identity:
    """``signerInfo`` (spec §2.3): the names the platform took from the Госуслуги profile of
    the phone's owner, and the birth date where the document carries one."""
    info = next((e for e in root if _local(e.tag) == "signerInfo"), None)
    fields = {_local(e.tag): (e.text or "").strip() for e in (info if info is not None else [])}
    last, first = fields.get("signerLastName", ""), fields.get("signerFirstName", "")
    if not last or not first:
        raise ArchiveRejected("archive_signer_missing",
                              f"«{name}»: в документе не указан подписант (signerInfo: фамилия "
                              "и имя).")
    return Identity(last, first, fields.get("signerMiddleName") or None,
                    _birth_date(name, fields.get("signerBirthDate", "")))


def _birth_date(name: str, text: str) -> date | None:
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text[:10], pattern).date()
        except ValueError:
            continue
    raise ArchiveRejected("archive_signer_invalid",
                          f"«{name}»: дата рождения подписанта «{text[:40]}» не читается.")


def _signed(name: str, content: bytes, signature: tuple[str, bytes], trust: TrustStore,
            at: datetime) -> SignedFile:
    sig_name, sig = signature
    try:
        report = verify_detached(content, sig.strip(), trust=trust, at=at)
    except SignatureInvalid as exc:
        raise ArchiveRejected(f"archive_signature_{exc.code}",
                              f"Подпись «{sig_name}» не прошла проверку: {exc.message}") from None
    except _DAMAGED_CMS as exc:
        # asn1crypto parses lazily, so a damaged field (a name that is not UTF-8, a bad tag)
        # can still fail deep inside the check, past the parser's own guard
        detail = (str(exc).splitlines() or [""])[0][:200]
        raise ArchiveRejected("archive_signature_malformed_cms",
                              f"Подпись «{sig_name}» не прошла проверку: "
                              f"{MESSAGES['malformed_cms']} ({type(exc).__name__}: {detail})"
                              ) from None
    return SignedFile(name, content, sig.strip(), report)
