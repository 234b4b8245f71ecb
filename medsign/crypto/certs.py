"""GOST certificates as plain values, and the trust store that checks who issued them."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import pem

from medsign.crypto import gost, oids
from medsign.crypto.asn1 import GostCertificate, name_text, same_name
from medsign.crypto.errors import CryptoError, SignatureInvalid

# Certificate signatures name the signature-with-digest OID; some CAs write the key OID.
_CERT_SIGNATURES = {oids.GOST_256_SIGN: 32, oids.GOST_512_SIGN: 64,
                    oids.GOST_256_KEY: 32, oids.GOST_512_KEY: 64}
_MAX_CHAIN = 5
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
        if not same_name(self.asn.issuer, issuer.asn.subject):
            return False
        aki, ski = self.asn.authority_key_identifier, issuer.asn.key_identifier
        if aki and ski and aki != ski:
            return False
        return _signed_by(self.der, issuer.der)

    def signature_valid(self, issuer: Certificate) -> bool:
        size = _CERT_SIGNATURES.get(self.asn["signature_algorithm"]["algorithm"].dotted)
        try:
            key = issuer.public_key()
        except ValueError:
            return False
        if size != key.curve.size:
            return False
        digest = gost.streebog(self.asn["tbs_certificate"].dump(), size)
        return gost.verify_digest(key, digest, self.asn["signature_value"].native)


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
             cert.is_ca, cert.key_usage, asn.key_identifier, asn.authority_key_identifier)
    except _ASN1_ERRORS as exc:
        raise CryptoError("invalid_certificate", str(exc)) from None
    return cert


class TrustStore:
    """The certificates we trust (root and intermediate CAs alike).

    A certificate is trusted when it is in the store or a chain of valid signatures leads from
    it to a store certificate, through the store or the ``intermediates`` a CMS carried.
    Revocation (CRL/OCSP) is not checked: the platform's signatures come with no revocation
    data and we have no network path to the CAs' lists.
    """

    def __init__(self, certificates: Iterable[Certificate], *, allow_empty: bool = False) -> None:
        self._anchors = list(certificates)
        self._known = {cert.der for cert in self._anchors}
        if not self._anchors and not allow_empty:
            raise CryptoError("invalid_certificate", "в хранилище доверенных нет сертификатов")

    @classmethod
    def empty(cls) -> TrustStore:
        """A store that trusts nobody: every certificate is ``untrusted_certificate``. For a
        service started without ``signing.trust_store``, so that it runs but accepts nothing."""
        return cls((), allow_empty=True)

    @classmethod
    def from_pem(cls, data: bytes) -> TrustStore:
        try:
            blocks = [der for kind, _, der in pem.unarmor(data, multiple=True)
                      if kind in ("CERTIFICATE", "TRUSTED CERTIFICATE")]
        except ValueError as exc:
            raise CryptoError("invalid_certificate", str(exc)) from None
        return cls.from_certificates(blocks)

    @classmethod
    def from_file(cls, path: Path | str) -> TrustStore:
        data = Path(path).read_bytes()
        return cls.from_pem(data) if pem.detect(data) else cls.from_certificates([data])

    @classmethod
    def from_certificates(cls, certificates: Sequence[bytes]) -> TrustStore:
        return cls(parse_certificate(der) for der in certificates)

    @property
    def certificates(self) -> list[bytes]:
        return [cert.der for cert in self._anchors]

    def verify_certificate(self, cert_der: bytes, *, at: datetime,
                           intermediates: Sequence[bytes] = ()) -> None:
        """Raises ``SignatureInvalid`` (``untrusted_certificate``/``certificate_expired``)."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        try:
            cert = parse_certificate(cert_der)
        except CryptoError as exc:
            raise SignatureInvalid("untrusted_certificate", exc.message) from None
        self.verify_parsed(cert, at=at, intermediates=intermediates)

    def verify_parsed(self, cert: Certificate, *, at: datetime,
                      intermediates: Sequence[bytes] = ()) -> None:
        """:meth:`verify_certificate` for a certificate already parsed (by the verifier)."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        try:
            pool = [parse_certificate(der) for der in intermediates if der != cert.der]
        except CryptoError as exc:
            raise SignatureInvalid("untrusted_certificate", exc.message) from None
        for link in self._chain(cert, pool):
            if not link.valid_at(at):
                raise SignatureInvalid("certificate_expired", _period(link, at))

    def _chain(self, cert: Certificate, pool: list[Certificate]) -> list[Certificate]:
        chain = [cert]
        for _ in range(_MAX_CHAIN):
            if chain[-1].der in self._known:
                return chain
            anchor = _issuer(chain[-1], self._anchors)
            if anchor:
                return [*chain, anchor]
            step = _issuer(chain[-1], pool)
            if step is None or step in chain:
                break
            chain.append(step)
        raise SignatureInvalid("untrusted_certificate", f"издатель: {cert.issuer}")


def _issuer(cert: Certificate, candidates: list[Certificate]) -> Certificate | None:
    # a CA without the CA flag must not vouch for anything (RFC 5280 §4.2.1.9)
    return next((c for c in candidates if c.is_ca and cert.issued_by(c)), None)


def _period(cert: Certificate, at: datetime) -> str:
    at = at.astimezone(UTC)
    return (f"«{cert.subject}» действует с {cert.not_before:%d.%m.%Y %H:%M} "
            f"по {cert.not_after:%d.%m.%Y %H:%M} UTC, проверка на {at:%d.%m.%Y %H:%M} UTC")
