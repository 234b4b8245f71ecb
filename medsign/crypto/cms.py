"""Detached CMS SignedData (RFC 5652) with GOST, shaped like ``openssl cms -sign -cades``.

One signer, its certificate embedded, no content (detached), signed attributes contentType,
signingTime, messageDigest and ESS signingCertificateV2 (CAdES-BES). The algorithm
identifiers carry NULL parameters and the SignerInfo names the key algorithm — byte for byte
what OpenSSL's GOST engine and CryptoPro produce, so strict verifiers see nothing unusual.

Everything but the signing time, the document digest and the signature value is the same for
every signature of one signer, so :class:`SignerTemplate` encodes those parts once with
asn1crypto (the certificate, the ESS hash of it, the signer identifier, the algorithms) and a
signature only splices DER bytes: asn1crypto re-encoding the certificate took ~10 ms per
signature. :func:`signed_attributes` and :func:`signed_data` are the asn1crypto reference the
template is tested against byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms, core, tsp, x509

from medsign.crypto import gost, oids
from medsign.crypto.asn1 import tlv
from medsign.crypto.certs import Certificate

_OID_MESSAGE_DIGEST = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x04"  # 1.2.840.113549.1.9.4
_OID_SIGNING_TIME = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x05"  # 1.2.840.113549.1.9.5
_OID_SIGNED_DATA = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"  # 1.2.840.113549.1.7.2


@dataclass(frozen=True)
class SignerTemplate:
    """The constant DER parts of one signer's signatures (immutable, safe across threads)."""

    digest_size: int
    content_type: bytes  # the contentType attribute
    signing_certificate: bytes  # the signingCertificateV2 attribute
    version_and_sid: bytes  # SignerInfo: version, issuerAndSerialNumber, digestAlgorithm
    signature_algorithm: bytes
    head: bytes  # SignedData: version, digestAlgorithms, encapContentInfo, [0] certificates

    @classmethod
    def build(cls, certificate: Certificate, key: gost.PrivateKey) -> SignerTemplate:
        digest_oid = key.digest_algorithm
        ess = _ess_certificate(certificate, digest_oid)
        attributes = cms.CMSAttributes([_attribute("content_type", cms.ContentType(oids.DATA)),
                                        _attribute("signing_certificate_v2", ess)])
        # the reference structure with placeholders; its constant fields are kept as DER
        reference = cms.ContentInfo.load(signed_data(certificate, attributes, b"",
                                                     digest_oid, key.algorithm))
        signed = reference["content"]
        signer = signed["signer_infos"][0]
        return cls(
            digest_size=oids.DIGEST_SIZE[digest_oid],
            content_type=attributes[0].dump(),
            signing_certificate=attributes[1].dump(),
            version_and_sid=b"".join(signer[name].dump() for name in
                                     ("version", "sid", "digest_algorithm")),
            signature_algorithm=signer["signature_algorithm"].dump(),
            head=b"".join(signed[name].dump() for name in
                          ("version", "digest_algorithms", "encap_content_info"))
            + _certificates(certificate),
        )

    def attributes(self, digest: bytes, signing_time: datetime) -> bytes:
        """The signed attributes as the SET the signature covers (what
        ``signed_attributes(...).dump()`` gives)."""
        when = _time_der(signing_time)
        return tlv(0x31, b"".join((
            self.content_type,
            tlv(0x30, _OID_SIGNING_TIME + tlv(0x31, when)),
            tlv(0x30, _OID_MESSAGE_DIGEST + tlv(0x31, tlv(0x04, digest))),
            self.signing_certificate)))

    def sign(self, data: bytes, key: gost.PrivateKey, signing_time: datetime) -> bytes:
        size = self.digest_size
        attributes = self.attributes(gost.streebog(data, size), signing_time)
        # the signature covers the attributes DER-encoded as a SET, not as the [0] they travel
        signature = gost.sign_digest(key, gost.streebog(attributes, size))
        return self.assemble(attributes, signature)

    def assemble(self, attributes: bytes, signature: bytes) -> bytes:
        """The ContentInfo around signed attributes (as a SET) and a signature value."""
        signer = tlv(0x30, b"".join((
            self.version_and_sid, b"\xa0" + attributes[1:], self.signature_algorithm,
            tlv(0x04, signature))))
        signed = tlv(0x30, self.head + tlv(0x31, signer))
        return tlv(0x30, _OID_SIGNED_DATA + tlv(0xA0, signed))


def signed_attributes(digest: bytes, signing_time: datetime, certificate: Certificate,
                      digest_oid: str) -> cms.CMSAttributes:
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    when = signing_time.astimezone(UTC).replace(microsecond=0)
    return cms.CMSAttributes([
        _attribute("content_type", cms.ContentType(oids.DATA)),
        _attribute("signing_time", _time(when)),
        _attribute("message_digest", core.OctetString(digest)),
        _attribute("signing_certificate_v2", _ess_certificate(certificate, digest_oid)),
    ])


def signed_data(certificate: Certificate, attributes: cms.CMSAttributes, signature: bytes,
                digest_oid: str, signature_oid: str) -> bytes:
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier("issuer_and_serial_number", _issuer_serial(certificate)),
        "digest_algorithm": _algorithm(digest_oid),
        "signed_attrs": attributes,
        "signature_algorithm": {"algorithm": signature_oid, "parameters": core.Null()},
        "signature": signature,
    })
    content = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [_algorithm(digest_oid)],
        "encap_content_info": {"content_type": "data"},
        "signer_infos": [signer],
    })
    # the certificate goes in as its bytes, not as an asn1crypto value (asn1.as_received)
    signed = tlv(0x30, b"".join(content[name].dump() for name in
                                ("version", "digest_algorithms", "encap_content_info"))
                 + _certificates(certificate) + content["signer_infos"].dump())
    return tlv(0x30, cms.ContentType("signed_data").dump() + tlv(0xA0, signed))


def _certificates(certificate: Certificate) -> bytes:
    """``certificates [0] IMPLICIT CertificateSet`` holding the one certificate as it is."""
    return tlv(0xA0, certificate.der)


def _attribute(kind: str, value: core.Asn1Value) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": [value]})


def _time(when: datetime) -> cms.Time:
    # RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise
    kind = "utc_time" if 1950 <= when.year < 2050 else "generalized_time"
    return cms.Time(name=kind, value=when)


def _algorithm(oid: str) -> cms.DigestAlgorithm:
    return cms.DigestAlgorithm({"algorithm": oid, "parameters": core.Null()})


def _issuer_serial(certificate: Certificate) -> cms.IssuerAndSerialNumber:
    return cms.IssuerAndSerialNumber({"issuer": certificate.asn.issuer,
                                      "serial_number": certificate.asn.serial_number})


def _ess_certificate(certificate: Certificate, digest_oid: str) -> tsp.SigningCertificateV2:
    """RFC 5035 ESSCertIDv2: binds the signer certificate into the signed attributes."""
    size = oids.DIGEST_SIZE[digest_oid]
    issuer = x509.GeneralName("directory_name", certificate.asn.issuer)
    return tsp.SigningCertificateV2({"certs": [{
        "hash_algorithm": _algorithm(digest_oid),
        "cert_hash": gost.streebog(certificate.der, size),
        "issuer_serial": {"issuer": [issuer], "serial_number": certificate.asn.serial_number},
    }]})


def _time_der(signing_time: datetime) -> bytes:
    """What ``_time(...)`` encodes: UTCTime for 1950–2049, GeneralizedTime otherwise."""
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    w = signing_time.astimezone(UTC)
    clock = f"{w.month:02d}{w.day:02d}{w.hour:02d}{w.minute:02d}{w.second:02d}Z"
    if 1950 <= w.year < 2050:
        return tlv(0x17, f"{w.year % 100:02d}{clock}".encode("ascii"))
    return tlv(0x18, f"{w.year:04d}{clock}".encode("ascii"))


def _contents(der: bytes) -> bytes:
    """The value of a DER TLV (its tag and length stripped)."""
    first = der[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return der[start:]
