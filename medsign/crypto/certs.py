"""GOST certificates as plain values; the trust store that checks who issued them is
``medsign.crypto.trust``."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import x509

from medsign.crypto import gost
from medsign.crypto.asn1 import GostCertificate, as_received, name_text, same_name
from medsign.crypto.errors import CryptoError

_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


@dataclass(frozen=True)
class Certificate:
    """A parsed certificate; ``der`` is the exact bytes it came as."""

    der: bytes
    asn: GostCertificate = field(repr=False, compare=False)

    @property
    def subject(self) -> str:
        return name_text(self.asn.subject)

    @property
    def issuer(self) -> str:
        return name_text(self.asn.issuer)

    @property
    def serial_hex(self) -> str:
        return format(self.asn.serial_number, "X")

    @property
    def not_before(self) -> datetime:
        moment: datetime = self.asn.not_valid_before
        return moment

    @property
    def not_after(self) -> datetime:
        moment: datetime = self.asn.not_valid_after
        return moment

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER, hex upper case: how КриптоПро and Windows name a certificate."""
        return hashlib.sha1(self.der, usedforsecurity=False).hexdigest().upper()

    @property
    def is_ca(self) -> bool:
        constraints = self.asn.basic_constraints_value
        return bool(constraints and constraints["ca"].native)

    @property
    def key_usage(self) -> set[str]:
        usage = self.asn.key_usage_value
        return set(usage.native) if usage else set()

    @property
    def path_length(self) -> int | None:
        """A CA's pathLenConstraint: how many intermediates may follow it (None: any)."""
        constraints = self.asn.basic_constraints_value
        limit = constraints["path_len_constraint"].native if constraints else None
        return int(limit) if limit is not None else None

    @functools.cached_property
    def extensions(self) -> dict[str, bool]:
        """Every extension's OID (dotted) and whether it is critical."""
        return {extension["extn_id"].dotted: bool(extension["critical"].native)
                for extension in self.asn["tbs_certificate"]["extensions"]}

    @property
    def self_issued(self) -> bool:
        return same_name(self.asn.subject, self.asn.issuer)

    def public_key(self) -> gost.PublicKey:
        """Raises ``gost.UnsupportedParameters`` for a non-GOST or unknown-curve key."""
        return self._key

    @functools.cached_property
    def _key(self) -> gost.PublicKey:
        # decoded once per (cached) certificate; a failure is not cached and raises every time
        return gost.decode_public_key(self.asn["tbs_certificate"]["subject_public_key_info"])

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after

    def issued_by(self, issuer: Certificate) -> bool:
        """Names match, key ids (when both given) match, and the issuer's signature holds."""
        return (issuer.is_named_by(self.asn.issuer, self.asn.authority_key_identifier)
                and _signed_by(self.der, issuer.der))

    def signature_valid(self, issuer: Certificate) -> bool:
        return issuer.signed(as_received(self.asn["tbs_certificate"]),
                             self.asn["signature_algorithm"]["algorithm"].dotted,
                             self.asn["signature_value"].native)

    def is_named_by(self, issuer_name: x509.Name, authority_key_id: bytes | None) -> bool:
        """A certificate's or a CRL's issuer name and authority key id point at this
        certificate: the names match and the key ids, when both are given."""
        if not same_name(issuer_name, self.asn.subject):
            return False
        ski = self.asn.key_identifier
        return not (authority_key_id and ski and authority_key_id != ski)

    def signed(self, tbs_der: bytes, algorithm: str, signature: bytes) -> bool:
        """This certificate's key made ``signature`` over a certificate's or a CRL's
        to-be-signed part (False for a key that is not GOST)."""
        try:
            key = self.public_key()
        except ValueError:
            return False
        return gost.verify_signed(key, tbs_der, algorithm, signature)


@functools.lru_cache(maxsize=512)
def _signed_by(cert_der: bytes, issuer_der: bytes) -> bool:
    """Cached: the service checks the same operator certificate against the same CA for every
    archive, and the answer depends on the bytes alone (validity is checked separately)."""
    return parse_certificate(cert_der).signature_valid(parse_certificate(issuer_der))


def parse_certificate(der: bytes) -> Certificate:
    """Parses eagerly, so a broken certificate fails here and not in the middle of a check.

    Cached by the exact bytes: every archive of the platform carries the same operator
    certificate in each of its signatures, and a parsed certificate is never changed."""
    return _parse_certificate(bytes(der))


@functools.lru_cache(maxsize=256)
def _parse_certificate(der: bytes) -> Certificate:
    try:
        asn = GostCertificate.load(der, strict=True)
        cert = Certificate(der, asn)
        _ = (cert.subject, cert.issuer, cert.serial_hex, cert.not_before, cert.not_after,
             cert.is_ca, cert.key_usage, cert.path_length, cert.extensions,
             asn.key_identifier, asn.authority_key_identifier)
    except _ASN1_ERRORS as exc:
        raise CryptoError("invalid_certificate", str(exc)) from None
    return cert
