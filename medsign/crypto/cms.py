"""Detached CMS SignedData (RFC 5652) with GOST, shaped like ``openssl cms -sign -cades``.

One signer, its certificate embedded, no content (detached), signed attributes contentType,
signingTime, messageDigest and ESS signingCertificateV2 (CAdES-BES). The algorithm
identifiers carry NULL parameters and the SignerInfo names the key algorithm — byte for byte
what OpenSSL's GOST engine and CryptoPro produce, so strict verifiers see nothing unusual.
"""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import cms, core, tsp, x509

from medsign.crypto import gost, oids
from medsign.crypto.certs import Certificate


def sign_detached(data: bytes, *, key: gost.PrivateKey, certificate: Certificate,
                  signing_time: datetime) -> bytes:
    digest_oid = key.digest_algorithm
    size = oids.DIGEST_SIZE[digest_oid]
    attributes = signed_attributes(gost.streebog(data, size), signing_time, certificate,
                                   digest_oid)
    # the signature covers the attributes DER-encoded as a SET, not as the [0] they travel in
    signature = gost.sign_digest(key, gost.streebog(attributes.dump(), size))
    return signed_data(certificate, attributes, signature, digest_oid, key.algorithm)


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
        "certificates": [cms.CertificateChoices("certificate",
                                                x509.Certificate.load(certificate.der))],
        "signer_infos": [signer],
    })
    info = cms.ContentInfo({"content_type": "signed_data", "content": content})
    return bytes(info.dump())


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
