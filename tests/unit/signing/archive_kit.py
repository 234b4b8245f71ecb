"""Platform archives for tests: a genuine one, and hostile ones that differ in one defect.

An archive is built from a list of ``(name, bytes)`` entries (a list, so a name can repeat),
each ``.p7s`` a real detached GOST CMS by an operator certificate, one line of base64 — exactly
what the platform hands out (spec §2.3). :class:`Operator` holds the keys: the service's trust
store is its CA; another CA or an expired certificate is one argument away.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from medsign.crypto import KeyPair, TrustStore, issue_certificate, make_ca
from medsign.crypto.signers import PureSigner

NOW = datetime.now(UTC).replace(microsecond=0)
TITLES = ("ИДС на медицинское вмешательство", "Согласие на обработку персональных данных")
XML_SUFFIX, XML_SIG = " XML.xml", " подпись к XML.p7s"
PDF_SUFFIX, PDF_SIG = " PDF.pdf", " подпись к PDF.p7s"
Entries = list[tuple[str, bytes]]


def agreement_xml(title: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<agreement version="2.0">'
            f"<docInfo><templateNumber>tpl</templateNumber><templateName>{title}</templateName>"
            "</docInfo><signingObject><nameExecutor>ГБУЗ «Поликлиника № 1»</nameExecutor>"
            "</signingObject><signerInfo><signerLastName>Иванов</signerLastName>"
            "<signerFirstName>Иван</signerFirstName></signerInfo></agreement>\n").encode()


def pdf_bytes(title: str) -> bytes:
    """PDF-shaped bytes with binary streams and mixed line ends (never rewritten)."""
    body = title.encode() + b"\r\nstream\r\n" + bytes(range(256)) * 8 + b"\nendstream\r\n"
    return b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n" + body + b"%%EOF\n"


@dataclass
class Operator:
    """The platform operator: a CA (what the service trusts) and the sealing certificate."""

    ca: KeyPair
    keys: KeyPair
    _signer: PureSigner = field(init=False, repr=False)
    _seals: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._signer = PureSigner(self.keys)

    @classmethod
    def create(cls, ca: KeyPair | None = None, *, expired: bool = False,
               name: str = "Минцифры России (тест)") -> Operator:
        ca = ca or make_ca("Тестовый УЦ оператора", organization="Минцифры (тест)")
        not_before = NOW - timedelta(days=400) if expired else None
        keys = issue_certificate(ca, common_name=name, organization="Минцифры (тест)",
                                 valid_days=365 if expired else 3650, not_before=not_before)
        return cls(ca, keys)

    @property
    def trust(self) -> TrustStore:
        return TrustStore.from_certificates([self.ca.certificate_der])

    def seal(self, data: bytes) -> bytes:
        """The ``.p7s`` content: one line of base64 of a DER detached CMS (cached by data)."""
        if data not in self._seals:
            self._seals[data] = base64.b64encode(self._signer.sign(data, signing_time=NOW))
        return self._seals[data]


def document_entries(title: str, seal: Callable[[bytes], bytes], *, xml: bytes | None = None,
                     pdf: bytes | None = None) -> Entries:
    xml = agreement_xml(title) if xml is None else xml
    pdf = pdf_bytes(title) if pdf is None else pdf
    return [(title + XML_SUFFIX, xml), (title + XML_SIG, seal(xml)),
            (title + PDF_SUFFIX, pdf), (title + PDF_SIG, seal(pdf))]


def genuine_entries(operator: Operator, titles: Sequence[str] = TITLES) -> Entries:
    return [entry for title in titles for entry in document_entries(title, operator.seal)]


def replace(entries: Entries, name: str, content: bytes) -> Entries:
    assert any(n == name for n, _ in entries), name
    return [(n, content if n == name else c) for n, c in entries]


def without(entries: Entries, name: str) -> Entries:
    assert any(n == name for n, _ in entries), name
    return [(n, c) for n, c in entries if n != name]


def zip_of(entries: Entries, *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name" is the point, sometimes
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, content in entries:
                archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 26, 12, 0, 0)),
                                 content, compress_type=compression)
    return buffer.getvalue()


def with_flag(archive: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit (0x1: encrypted) in every local and central header."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at != -1:
            flags = int.from_bytes(data[at + offset:at + offset + 2], "little") | bit
            data[at + offset:at + offset + 2] = flags.to_bytes(2, "little")
            at = data.find(signature, at + 4)
    return bytes(data)


def with_declared_size(archive: bytes, name: str, size: int) -> bytes:
    """Make the central directory lie about one entry's uncompressed size."""
    data = bytearray(archive)
    encoded = name.encode()
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = int.from_bytes(data[at + 28:at + 30], "little")
        if bytes(data[at + 46:at + 46 + length]) == encoded:
            data[at + 24:at + 28] = size.to_bytes(4, "little")
            return bytes(data)
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{name} not in the central directory")


def deflate_stream_damaged(archive: bytes, name: str) -> bytes:
    """Keep every header intact but garble the compressed bytes of one entry."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        info = opened.getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(archive)
    for i in range(start + 2, start + min(info.compress_size, 40)):
        data[i] ^= 0xFF
    return bytes(data)


def zeros_bomb(size: int) -> bytes:
    """A PDF-looking file of ``size`` bytes that deflates by a factor of about 1000."""
    return b"%PDF-1.7\n" + bytes(size - 9)


def incompressible(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<agreement version="2.0">&lol9;</agreement>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE agreement [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<agreement version="2.0">&xxe;</agreement>
"""
