"""The archive the platform hands out once the patient has signed (spec §2.3).

Per document, with ``<T>`` its title: ``<T> XML.xml``, ``<T> подпись к XML.p7s``,
``<T> PDF.pdf``, ``<T> подпись к PDF.p7s``; UTF-8 names; each ``.p7s`` is one line of base64
(no PEM armour) of a DER detached CMS made by the operator. Titles are made safe as file names
(no path separators or control characters) and unique (`` (2)`` is appended to a repeat).
"""

from __future__ import annotations

import base64
import io
import random
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Seal = Callable[[bytes], bytes]
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
XML_SIGNATURE, PDF_SIGNATURE = "подпись к XML.p7s", "подпись к PDF.p7s"


@dataclass(frozen=True)
class Rendered:
    title: str
    xml: bytes
    pdf: bytes


def p7s_line(cms_der: bytes) -> bytes:
    return base64.b64encode(cms_der)


def safe_titles(titles: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for title in titles:
        base = _UNSAFE.sub("_", title).strip(" .") or "Документ"
        seen[base] = seen.get(base, 0) + 1
        result.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return result


def build_archive(documents: Sequence[Rendered], seal: Seal) -> bytes:
    buffer = io.BytesIO()
    titles = safe_titles([d.title for d in documents])
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for title, document in zip(titles, documents, strict=True):
            archive.writestr(f"{title} XML.xml", document.xml)
            archive.writestr(f"{title} {XML_SIGNATURE}", p7s_line(seal(document.xml)))
            archive.writestr(f"{title} PDF.pdf", document.pdf)
            archive.writestr(f"{title} {PDF_SIGNATURE}", p7s_line(seal(document.pdf)))
    return buffer.getvalue()


def entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {info.filename: opened.read(info) for info in opened.infolist()}


def with_swapped_signatures(archive: bytes) -> bytes:
    """The same archive, each document's XML and PDF signatures exchanged: every one is a real
    operator signature, over the wrong file — what ``bad_operator_signature`` serves."""
    content = entries(archive)
    swapped = dict(content)
    for name in content:
        if name.endswith(XML_SIGNATURE):
            partner = name.removesuffix(XML_SIGNATURE) + PDF_SIGNATURE
            swapped[name], swapped[partner] = content[partner], content[name]
    return _zip(swapped)


def extended(archive: bytes, extra: dict[str, bytes]) -> bytes:
    return _zip({**entries(archive), **extra})


def corrupted(archive: bytes, rng: random.Random) -> bytes:
    """Flip a byte inside the payload and cut off the central directory."""
    cut = max(1, len(archive) * 2 // 3)
    damaged = bytearray(archive[:cut])
    position = rng.randrange(len(damaged))
    damaged[position] ^= 0xFF
    return bytes(damaged)


def _zip(content: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in content.items():
            archive.writestr(name, data)
    return buffer.getvalue()
