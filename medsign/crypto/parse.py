"""A received CMS signature taken apart into plain values, or ``malformed_cms``.

asn1crypto parses lazily, so a broken file can fail at any later field access. Everything the
verifier needs is pulled out here, inside one ``try``, and nothing asn1crypto-shaped leaks out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from asn1crypto import cms, core, tsp, x509

from medsign.crypto import oids
from medsign.crypto.asn1 import as_received, same_name
from medsign.crypto.errors import SignatureInvalid

_T = TypeVar("_T", bound=core.Asn1Value)
_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)
# RFC 5652 §11: these attributes must appear once, with one value
_SINGLE = ("content_type", "message_digest", "signing_time", "signing_certificate_v2")


@dataclass(frozen=True)
class SignerId:
    """Who signed: issuer and serial number, or a subject key identifier."""

    issuer: x509.Name | None = None
    serial: int | None = None
    key_id: bytes | None = None

    def matches(self, cert: x509.Certificate) -> bool:
        if self.key_id is not None:
            return bool(cert.key_identifier == self.key_id)
        return bool(cert.serial_number == self.serial and self.issuer is not None
                    and same_name(cert.issuer, self.issuer))


@dataclass(frozen=True)
class ParsedSignature:
    encapsulated_type: str
    certificates: list[bytes]
    signer_id: SignerId
    digest_algorithm: str
    signature_algorithm: str
    signature: bytes
    signed_attributes_der: bytes  # re-tagged as SET: what the signature covers
    content_type: str
    message_digest: bytes
    signing_time: datetime | None
    certificate_hash: tuple[str, bytes] | None  # from signingCertificateV2


def parse_signature(der: bytes) -> ParsedSignature:
    try:
        return _parse(cms.ContentInfo.load(der, strict=True))
    except _ASN1_ERRORS as exc:
        raise SignatureInvalid("malformed_cms", str(exc) or type(exc).__name__) from None


def _parse(info: cms.ContentInfo) -> ParsedSignature:
    if info["content_type"].dotted != oids.SIGNED_DATA:
        raise SignatureInvalid("malformed_cms", f"не SignedData: {info['content_type'].dotted}")
    signed = info["content"]
    encapsulated = signed["encap_content_info"]
    if encapsulated["content"].native is not None:
        raise SignatureInvalid("malformed_cms", "подпись не отсоединённая (содержит документ)")
    signer = _single_signer(signed)
    attributes = _attributes(signer)
    return ParsedSignature(
        encapsulated_type=encapsulated["content_type"].dotted,
        certificates=[as_received(c.chosen) for c in signed["certificates"]
                      if c.name == "certificate"],
        signer_id=_signer_id(signer["sid"]),
        digest_algorithm=signer["digest_algorithm"]["algorithm"].dotted,
        signature_algorithm=signer["signature_algorithm"]["algorithm"].dotted,
        signature=signer["signature"].native,
        signed_attributes_der=as_received(signer["signed_attrs"], 0x31),
        content_type=_required(attributes, "content_type", cms.ContentType).dotted,
        message_digest=_required(attributes, "message_digest", core.OctetString).native,
        signing_time=_native(attributes.get("signing_time")),
        certificate_hash=_certificate_hash(attributes.get("signing_certificate_v2")),
    )


def _single_signer(signed: cms.SignedData) -> cms.SignerInfo:
    signers = list(signed["signer_infos"])
    if len(signers) != 1:
        raise SignatureInvalid("malformed_cms", f"подписантов {len(signers)}, ожидался один")
    signer: cms.SignerInfo = signers[0]
    if not len(signer["signed_attrs"]):
        # Without signed attributes nothing binds the signing time or the certificate
        # (and the spec forbids -noattr), so such a file is not accepted.
        raise SignatureInvalid("malformed_cms", "нет подписанных атрибутов")
    return signer


def _attributes(signer: cms.SignerInfo) -> dict[str, object]:
    found: dict[str, object] = {}
    for attribute in signer["signed_attrs"]:
        name = attribute["type"].native
        values = list(attribute["values"])
        if name in _SINGLE and (name in found or len(values) != 1):
            raise SignatureInvalid("malformed_cms", f"атрибут {name} повторяется")
        found[name] = values[0] if values else None
    return found


def _required(attributes: dict[str, object], name: str, kind: type[_T]) -> _T:
    value = attributes.get(name)
    if not isinstance(value, kind):
        raise SignatureInvalid("malformed_cms", f"нет атрибута {name}")
    return value


def _native(value: object) -> datetime | None:
    moment = value.native if isinstance(value, cms.Time) else None
    return moment if isinstance(moment, datetime) else None


def _certificate_hash(value: object) -> tuple[str, bytes] | None:
    if not isinstance(value, tsp.SigningCertificateV2):
        return None
    first = value["certs"][0]
    return first["hash_algorithm"]["algorithm"].dotted, first["cert_hash"].native


def _signer_id(sid: cms.SignerIdentifier) -> SignerId:
    if sid.name == "subject_key_identifier":
        return SignerId(key_id=sid.chosen.native)
    return SignerId(issuer=sid.chosen["issuer"], serial=sid.chosen["serial_number"].native)
