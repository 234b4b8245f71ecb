"""The trust store: which CAs we trust, the paths to them, and the revocation lists it asks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import pem

from medsign.crypto import chain, crl
from medsign.crypto.certs import Certificate, parse_certificate
from medsign.crypto.crl import RevocationSource
from medsign.crypto.errors import CryptoError, SignatureInvalid

_MAX_CHAIN = 5


class TrustStore:
    """The certificates we trust (root and intermediate CAs alike), and the revocation lists
    it consults.

    A certificate is trusted when it is in the store or a chain of valid signatures leads from
    it to a store certificate, through the store or the ``intermediates`` a CMS carried; the
    path then keeps the rules of ``medsign.crypto.chain`` (CA flags and keyCertSign, path
    length, no unknown critical extension, signing key usage, validity) and, with a
    revocation source, no certificate in it is listed in its issuer's CRL (``crl``).
    """

    def __init__(self, certificates: Iterable[Certificate], *, allow_empty: bool = False,
                 revocation: RevocationSource | None = None) -> None:
        self._anchors = list(certificates)
        self._known = {cert.der for cert in self._anchors}
        self._revocation = revocation
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

    def with_revocation(self, source: RevocationSource | None) -> TrustStore:
        """The same anchors, checking revocation against ``source`` (None: not at all)."""
        return TrustStore(self._anchors, allow_empty=True, revocation=source)

    @property
    def certificates(self) -> list[bytes]:
        return [cert.der for cert in self._anchors]

    @property
    def revocation(self) -> RevocationSource | None:
        return self._revocation

    def verify_certificate(self, cert_der: bytes, *, at: datetime,
                           intermediates: Sequence[bytes] = ()) -> None:
        """Raises ``SignatureInvalid``: ``untrusted_certificate``, a code of
        ``medsign.crypto.chain`` or ``certificate_revoked``."""
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
        path = self._chain(cert, pool)
        chain.check_path(path, at=at)
        if self._revocation is not None:
            _check_revocation(path, self._revocation, at)

    def _chain(self, cert: Certificate, pool: list[Certificate]) -> list[Certificate]:
        path = [cert]
        for _ in range(_MAX_CHAIN):
            if path[-1].der in self._known:
                return path
            anchor = _issuer(path[-1], self._anchors)
            if anchor:
                return [*path, anchor]
            step = _issuer(path[-1], pool)
            if step is None or step in path:
                break
            path.append(step)
        raise SignatureInvalid("untrusted_certificate", f"издатель: {cert.issuer}")


def _issuer(cert: Certificate, candidates: list[Certificate]) -> Certificate | None:
    """The candidate that signed ``cert``, preferring one allowed to issue: a certificate
    that is no CA (RFC 5280 §4.2.1.9) is still found, so that the path fails with
    ``ca_not_allowed`` naming it rather than with a vague ``untrusted_certificate``."""
    signers = [c for c in candidates if cert.issued_by(c)]
    return next((c for c in signers if chain.may_issue(c)), signers[0] if signers else None)


def _check_revocation(path: list[Certificate], source: RevocationSource,
                      at: datetime) -> None:
    """Each certificate against its issuer's list, when there is one; the anchor has no
    issuer in the path and is not checked."""
    for cert, issuer in zip(path, path[1:], strict=False):
        found = crl.list_for(issuer, source)
        revoked = found.revocation(cert.asn.serial_number) if found else None
        if found is None or revoked is None or revoked > at:
            continue
        raise SignatureInvalid("certificate_revoked",
                               f"«{cert.subject}» (серийный номер {cert.serial_hex}) отозван "
                               f"{revoked.astimezone(UTC):%d.%m.%Y %H:%M} UTC, список "
                               f"«{found.issuer}» от {found.this_update:%d.%m.%Y %H:%M} UTC")
