"""Verification of a detached GOST CMS signature: structure, digest, signature, certificate.

The checks run from the cheapest and most specific to the trust decision, so a tampered
document reports ``digest_mismatch`` and not a vaguer code. Every failure is a
``SignatureInvalid`` with one of the codes listed in ``medsign.crypto``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import pem

from medsign.crypto import gost, oids
from medsign.crypto.certs import Certificate, parse_certificate
from medsign.crypto.errors import CryptoError, SignatureInvalid
from medsign.crypto.parse import ParsedSignature, parse_signature
from medsign.crypto.trust import TrustStore


@dataclass(frozen=True)
class SignatureReport:
    """What a valid signature says about itself; kept as evidence next to the document."""

    signer_subject: str
    signer_serial: str
    issuer_subject: str
    not_before: datetime
    not_after: datetime
    signing_time: datetime | None
    digest_algorithm: str
    signature_algorithm: str
    message_digest_hex: str
    certificate_der: bytes
    certificate_sha256: str


def verify_detached(data: bytes, cms: bytes, *, trust: TrustStore | None,
                    at: datetime | None = None) -> SignatureReport:
    """Checks ``cms`` (DER, PEM or one line of base64, as in the platform's ``.p7s``) over
    ``data``.

    With a ``trust`` store the signer certificate must chain to it and be valid at ``at``
    (default: now) and at the signed signingTime. Without one only the cryptography is checked
    — plus the validity period if ``at`` is given — which suits our own signatures.
    """
    parsed = parse_signature(decode_cms(cms))
    cert = _signer_certificate(parsed)
    key = _public_key(cert)
    _check_algorithms(parsed, key)
    _check_content(parsed, data)
    _check_signature(parsed, key)
    _check_signing_certificate(parsed, cert)
    if trust is not None:
        _check_trust(parsed, cert, trust, at or datetime.now(UTC))
    elif at is not None and not cert.valid_at(at):
        raise SignatureInvalid("certificate_expired", f"«{cert.subject}»")
    return _report(parsed, cert)


def decode_cms(blob: bytes) -> bytes:
    """DER as is; PEM or base64 (line breaks allowed) decoded to DER."""
    if blob[:1] == b"\x30":
        return blob
    text = blob.strip()
    try:
        if pem.detect(text):
            return bytes(pem.unarmor(text)[2])
        der = base64.b64decode(b"".join(text.split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SignatureInvalid("malformed_cms", f"ни DER, ни base64: {exc}") from None
    if der[:1] != b"\x30":
        raise SignatureInvalid("malformed_cms", "после base64 не DER")
    return der


def _signer_certificate(parsed: ParsedSignature) -> Certificate:
    for der in parsed.certificates:
        try:
            cert = parse_certificate(der)
        except CryptoError as exc:
            raise SignatureInvalid("malformed_cms", exc.message) from None
        if parsed.signer_id.matches(cert.asn):
            return cert
    raise SignatureInvalid("no_signer_certificate")


def _public_key(cert: Certificate) -> gost.PublicKey:
    try:
        return cert.public_key()
    except gost.UnsupportedParameters as exc:
        raise SignatureInvalid("unsupported_algorithm", str(exc)) from None
    except ValueError as exc:
        raise SignatureInvalid("malformed_cms", f"ключ сертификата: {exc}") from None


def _check_algorithms(parsed: ParsedSignature, key: gost.PublicKey) -> None:
    expected = key.digest_algorithm
    if parsed.digest_algorithm != expected:
        raise SignatureInvalid("unsupported_algorithm", f"хэш {parsed.digest_algorithm}")
    if oids.SIGNATURE_DIGEST.get(parsed.signature_algorithm) != expected:
        raise SignatureInvalid("unsupported_algorithm", f"подпись {parsed.signature_algorithm}")


def _check_content(parsed: ParsedSignature, data: bytes) -> None:
    if parsed.content_type != parsed.encapsulated_type or parsed.content_type != oids.DATA:
        raise SignatureInvalid("wrong_content_type",
                               f"{parsed.content_type} / {parsed.encapsulated_type}")
    size = oids.DIGEST_SIZE[parsed.digest_algorithm]
    if gost.streebog(data, size) != parsed.message_digest:
        raise SignatureInvalid("digest_mismatch")


def _check_signature(parsed: ParsedSignature, key: gost.PublicKey) -> None:
    size = oids.DIGEST_SIZE[parsed.digest_algorithm]
    digest = gost.streebog(parsed.signed_attributes_der, size)
    if not gost.verify_digest(key, digest, parsed.signature):
        raise SignatureInvalid("bad_signature")


def _check_signing_certificate(parsed: ParsedSignature, cert: Certificate) -> None:
    """signingCertificateV2, when present, must name exactly the embedded certificate."""
    if parsed.certificate_hash is None:
        return
    hash_oid, value = parsed.certificate_hash
    if hash_oid in oids.DIGEST_SIZE:
        actual = gost.streebog(cert.der, oids.DIGEST_SIZE[hash_oid])
    elif hash_oid in ("sha256", "2.16.840.1.101.3.4.2.1"):
        actual = hashlib.sha256(cert.der).digest()
    else:
        raise SignatureInvalid("unsupported_algorithm", f"signingCertificateV2: {hash_oid}")
    if actual != value:
        raise SignatureInvalid("bad_signature", "signingCertificateV2 не совпадает с сертификатом")


def _check_trust(parsed: ParsedSignature, cert: Certificate, trust: TrustStore,
                 at: datetime) -> None:
    trust.verify_parsed(cert, at=at, intermediates=parsed.certificates)
    if parsed.signing_time is not None and not cert.valid_at(parsed.signing_time):
        raise SignatureInvalid("certificate_expired",
                               f"подписано {parsed.signing_time:%d.%m.%Y %H:%M} UTC")


def _report(parsed: ParsedSignature, cert: Certificate) -> SignatureReport:
    return SignatureReport(
        signer_subject=cert.subject, signer_serial=cert.serial_hex, issuer_subject=cert.issuer,
        not_before=cert.not_before, not_after=cert.not_after,
        signing_time=parsed.signing_time, digest_algorithm=parsed.digest_algorithm,
        signature_algorithm=parsed.signature_algorithm,
        message_digest_hex=parsed.message_digest.hex(), certificate_der=cert.der,
        certificate_sha256=cert.sha256)

