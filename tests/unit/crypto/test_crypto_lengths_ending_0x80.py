"""DER lengths whose last byte is 0x80 (0x0180 = 384 bytes, 0x0280 …).

asn1crypto takes a header ending in 0x80 for an indefinite length and re-encodes such a
value on ``dump()``, parsing everything below it — a GOST key with its own key spec, which
raises ``KeyError: '1.2.643.7.1.1.1.1'``. About one certificate in 128 has such a length; CI
met it twice in ``medsign keys import``. Certificates here are grown one byte at a time until
each troublesome length is hit, then signed with, embedded, parsed, verified and chained."""

from __future__ import annotations

import pytest

from medsign.crypto import KeyPair, TrustStore, issue_certificate, make_ca, verify_detached
from medsign.crypto.asn1 import as_received
from medsign.crypto.certs import parse_certificate
from medsign.crypto.parse import parse_signature
from medsign.crypto.signers import PureSigner
from tests.unit.crypto.crypto_support import DOCUMENT

CA = make_ca("Тестовый УЦ", organization="Тестовый УЦ")


def _ends_in_0x80(der: bytes) -> bool:
    """The outer header is ``30 82 xx 80``: a two-byte length whose last byte is 0x80."""
    return der[1] == 0x82 and der[3] == 0x80


def _tbs_ends_in_0x80(der: bytes) -> bool:
    return der[5] == 0x82 and der[7] == 0x80


def grown_until(condition: str) -> KeyPair:
    """A certificate whose common name is padded until ``condition`` holds (the key and the
    signature vary in length a little, so a few tries per padding)."""
    check = {"certificate": _ends_in_0x80, "to-be-signed": _tbs_ends_in_0x80}[condition]
    for padding in range(0, 400):
        for _ in range(4):
            pair = issue_certificate(CA, common_name="МО " + "я" * padding,
                                     organization="ГБУЗ «Поликлиника»",
                                     ogrn="1027700132195", inn="7707083893")
            if check(pair.certificate_der):
                return pair
    raise AssertionError(f"no certificate with a {condition} length ending in 0x80")


@pytest.mark.parametrize("condition", ["certificate", "to-be-signed"])
def test_such_a_certificate_signs_embeds_parses_verifies_and_chains(condition: str) -> None:
    pair = grown_until(condition)
    cert = parse_certificate(pair.certificate_der)
    assert cert.issued_by(parse_certificate(CA.certificate_der))  # the TBS as it came
    signature = PureSigner(pair).sign(DOCUMENT)  # builds the CMS template around it
    parsed = parse_signature(signature)
    assert parsed.certificates == [pair.certificate_der]  # embedded byte for byte
    report = verify_detached(DOCUMENT, signature, trust=TrustStore.from_certificates(
        [CA.certificate_der]))
    assert report.signer_serial == cert.serial_hex


def test_as_received_gives_back_the_bytes_where_dump_would_re_encode() -> None:
    pair = grown_until("certificate")
    asn = parse_certificate(pair.certificate_der).asn
    assert as_received(asn) == pair.certificate_der
