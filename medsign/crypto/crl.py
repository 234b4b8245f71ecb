"""Certificate revocation lists (X.509 v2 CRLs, RFC 5280 §5) signed with GOST.

:func:`parse_crl` reads a CRL (PEM or DER) into a :class:`RevocationList`; a CRL medsign cannot
use correctly — a critical extension outside :data:`KNOWN_CRL_EXTENSIONS` (a delta CRL, an
indirect or partitioned one with issuingDistributionPoint, entries naming another
certificateIssuer) — is ``CryptoError("crl_unsupported")``, a broken one ``invalid_crl``.

The trust store asks a :class:`RevocationSource` for the lists it has and, for each link of a
path, takes the newest list of the issuing CA: same issuer name (and key id when both say),
the CA has keyUsage cRLSign, and the CA's GOST signature on the list holds
(:func:`list_for`). A list that names the CA but fails those checks is not used; the source is
told why (:meth:`RevocationSource.reject`), so its status can show it. A list past its
nextUpdate is still used — it is the best knowledge there is — and a source reports it as
stale. Delta CRLs, indirect CRLs and OCSP are not supported (``docs/crypto.md``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from asn1crypto import crl, pem, x509

from medsign.crypto.asn1 import as_received, name_text
from medsign.crypto.certs import Certificate
from medsign.crypto.errors import CryptoError

# CRL extensions medsign understands; any other one marked critical makes the list unusable.
KNOWN_CRL_EXTENSIONS: dict[str, str] = {
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.20": "cRLNumber",
    "2.5.29.46": "freshestCRL",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.4.1.311.21.1": "msCaVersion",
    "1.3.6.1.4.1.311.21.4": "msNextCrlPublish",
    "1.3.6.1.4.1.311.21.14": "msPublishedCrlLocations",
}
KNOWN_ENTRY_EXTENSIONS: dict[str, str] = {
    "2.5.29.21": "reasonCode",
    "2.5.29.24": "invalidityDate",
    "2.5.29.23": "holdInstructionCode",
}
_NAMED = {"2.5.29.27": "deltaCRLIndicator (разностный список)",
          "2.5.29.28": "issuingDistributionPoint (неполный или косвенный список)",
          "2.5.29.29": "certificateIssuer (косвенный список)"}
CRL_SIGN = "crl_sign"
_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


@dataclass(frozen=True)
class RevocationList:
    """A parsed CRL; ``revoked`` maps a serial number to its revocation date."""

    der: bytes = field(repr=False)
    asn: crl.CertificateList = field(repr=False, compare=False)
    issuer: str
    this_update: datetime
    next_update: datetime | None
    # serial number → the DER of its revocationDate, decoded when asked (see _entries)
    revoked: dict[int, bytes] = field(repr=False, compare=False)
    _signed_by: dict[bytes, bool] = field(default_factory=dict, repr=False, compare=False)

    def revocation(self, serial: int) -> datetime | None:
        """When ``serial`` was revoked, or None when this list does not name it."""
        date = self.revoked.get(serial)
        if date is None:
            return None
        moment: datetime = x509.Time.load(date).native
        return moment

    def stale(self, at: datetime) -> bool:
        """Past its nextUpdate: a newer list should exist."""
        return self.next_update is not None and at > self.next_update

    def names_issuer(self, cert: Certificate) -> bool:
        """This list claims to be ``cert``'s (name and, when both give one, key id)."""
        return cert.is_named_by(self.asn["tbs_cert_list"]["issuer"],
                                self.asn.authority_key_identifier)

    def signed_by(self, cert: Certificate) -> bool:
        """The GOST signature on the list holds with ``cert``'s key (cached per issuer)."""
        known = self._signed_by.get(cert.der)
        if known is None:
            known = self._signed_by[cert.der] = self._signature_holds(cert)
        return known

    def _signature_holds(self, cert: Certificate) -> bool:
        return cert.signed(as_received(self.asn["tbs_cert_list"]),
                           self.asn["signature_algorithm"]["algorithm"].dotted,
                           self.asn["signature"].native)


def parse_crl(data: bytes) -> RevocationList:
    """A CRL from DER or PEM (``X509 CRL``) bytes; raises ``CryptoError`` (``invalid_crl``,
    ``crl_unsupported``) naming what is wrong."""
    der = _der(data)
    try:
        asn = crl.CertificateList.load(der, strict=True)
        tbs = asn["tbs_cert_list"]
        _check_extensions(tbs["crl_extensions"], KNOWN_CRL_EXTENSIONS, "списка")
        revoked = _entries(tbs["revoked_certificates"].contents or b"")
        next_update = tbs["next_update"].native if tbs["next_update"] else None
        return RevocationList(der, asn, name_text(tbs["issuer"]), tbs["this_update"].native,
                              next_update, revoked)
    except _ASN1_ERRORS as exc:
        raise CryptoError("invalid_crl", str(exc)) from None


def _der(data: bytes) -> bytes:
    if not pem.detect(data):
        return data
    try:
        kind, _, der = pem.unarmor(data)
    except ValueError as exc:
        raise CryptoError("invalid_crl", str(exc)) from None
    if kind != "X509 CRL":
        raise CryptoError("invalid_crl", f"PEM «{kind}», ожидался «X509 CRL»")
    return bytes(der)


def _entries(data: bytes) -> dict[int, bytes]:
    """The revokedCertificates of a list, read straight from the DER.

    The lists of big CAs hold a million entries and more; through asn1crypto's objects that
    costs ~30 µs an entry (half a minute for such a list, in the thread that verifies), read
    here it is ~1 µs. Each entry is ``SEQUENCE { serial INTEGER, revocationDate Time,
    crlEntryExtensions Extensions OPTIONAL }``; the date stays DER until asked for, and only
    an entry with extensions has them looked at (for a critical one we do not know)."""
    revoked: dict[int, bytes] = {}
    at = 0
    while at < len(data):
        start, end = _element(data, at, 0x30)
        value_start, value_end = _element(data, start, 0x02)
        date_end = _element(data, value_end, 0x17, 0x18)[1]
        if date_end < end:
            _check_entry_extensions(data[date_end:end])
        revoked[int.from_bytes(data[value_start:value_end], "big", signed=True)] = \
            data[value_end:date_end]
        at = end
    return revoked


def _element(data: bytes, at: int, *tags: int) -> tuple[int, int]:
    """The start and end of the value of the DER element at ``at``, whose tag must be one of
    ``tags``; raises ``ValueError`` for anything else (a caller maps it to ``invalid_crl``)."""
    if at + 2 > len(data) or data[at] not in tags:
        raise ValueError(f"запись списка отзыва повреждена (смещение {at})")
    length, at = data[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or at + size > len(data):
            raise ValueError(f"запись списка отзыва повреждена (длина, смещение {at})")
        length, at = int.from_bytes(data[at:at + size], "big"), at + size
    if at + length > len(data):
        raise ValueError(f"запись списка отзыва обрезана (смещение {at})")
    return at, at + length


def _check_entry_extensions(data: bytes) -> None:
    extensions = x509.Extensions.load(data, strict=True)
    _check_extensions(extensions, KNOWN_ENTRY_EXTENSIONS, "записи")


def _check_extensions(extensions: Iterable[x509.Extension], known: dict[str, str],
                      where: str) -> None:
    for extension in extensions:
        oid = extension["extn_id"].dotted
        if extension["critical"].native and oid not in known:
            raise CryptoError("crl_unsupported",
                              f"критическое расширение {where} {_NAMED.get(oid, oid)}")


class RevocationSource(Protocol):
    """Where the trust store gets CRLs. ``lists`` may refresh (fetch, reread) before it
    answers; ``reject`` tells the source that a list it gave cannot be used, and why."""

    def lists(self) -> Sequence[RevocationList]: ...

    def reject(self, revocation_list: RevocationList, reason: str) -> None: ...


class FixedLists:
    """A source of lists already in hand (tests, the emulator); rejections are kept."""

    def __init__(self, lists: Iterable[RevocationList]) -> None:
        self._lists = list(lists)
        self._lock = threading.Lock()
        self.rejected: dict[bytes, str] = {}

    def lists(self) -> Sequence[RevocationList]:
        return self._lists

    def reject(self, revocation_list: RevocationList, reason: str) -> None:
        with self._lock:
            self.rejected[revocation_list.der] = reason


def list_for(issuer: Certificate, source: RevocationSource) -> RevocationList | None:
    """The newest usable list of ``issuer`` from ``source``, or None (see the module)."""
    usable = [found for found in source.lists()
              if found.names_issuer(issuer) and _usable(found, issuer, source)]
    return max(usable, key=lambda found: found.this_update, default=None)


def _usable(found: RevocationList, issuer: Certificate, source: RevocationSource) -> bool:
    if CRL_SIGN not in issuer.key_usage:
        source.reject(found, f"у издателя «{issuer.subject}» в keyUsage нет cRLSign")
        return False
    if not found.signed_by(issuer):
        source.reject(found, f"подпись списка не подтверждается ключом «{issuer.subject}»")
        return False
    return True
