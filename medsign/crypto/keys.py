"""GOST keys and certificates for development, tests and the emulator: a CA, the MO's pair.

``KeyPair.private_key`` is a **PKCS#8 DER** PrivateKeyInfo — the scalar little-endian, the
curve named inside — i.e. exactly the body of the ``-----BEGIN PRIVATE KEY-----`` file that
``openssl genpkey -engine gost -algorithm gost2012_256`` writes and the GOST engine reads, so
the same files serve the pure and the OpenSSL back ends. Keys are made on the CryptoPro A
parameter set (``1.2.643.2.2.35.1``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import crl, pem, x509

from medsign.crypto import gost, oids
from medsign.crypto.asn1 import GostCertificate, GostTbsCertificate, build_name
from medsign.crypto.certs import Certificate, parse_certificate
from medsign.crypto.errors import CryptoError

log = logging.getLogger("medsign.crypto")

_CA_USAGE = frozenset({"key_cert_sign", "crl_sign", "digital_signature"})
_SIGNER_USAGE = frozenset({"digital_signature", "non_repudiation"})
# A brand-new certificate must not look "not yet valid" to a clock somewhat behind ours, nor to
# a check at a moment taken a while before it was made (a request's time, a long test run's
# start): made-here certificates (development keys, the emulators') start a day back.
_BACKDATE = timedelta(days=1)
_RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True, repr=False)  # repr=False: keep the key out of logs and tracebacks
class KeyPair:
    private_key: bytes  # PKCS#8 DER, see the module docstring
    certificate_der: bytes

    def __repr__(self) -> str:
        return f"KeyPair(certificate={parse_certificate(self.certificate_der).subject!r})"


def generate_private_key() -> bytes:
    """A new GOST R 34.10-2012 (256) key as PKCS#8 DER."""
    return gost.encode_private_key(gost.new_private_key())


Extra = tuple[str, bool, object]


@dataclass(frozen=True)
class Profile:
    """What tests vary in a certificate beyond names and dates: ``usage`` replaces the
    default keyUsage (an empty set: no keyUsage extension at all), ``path_length`` is the CA's
    pathLenConstraint, ``extra`` adds extensions as ``(oid, critical, value)`` — the value's
    DER bytes, or asn1crypto's native value for an extension it knows."""

    usage: frozenset[str] | None = None
    path_length: int | None = None
    extra: tuple[Extra, ...] = ()


DEFAULT = Profile()


def make_ca(common_name: str, *, organization: str, valid_days: int = 3650,
            profile: Profile = DEFAULT, not_before: datetime | None = None) -> KeyPair:
    """A self-signed CA certificate and its key; ``not_before`` as in
    :func:`issue_certificate`."""
    key = gost.new_private_key()
    name = build_name(common_name, organization, ogrn=None, inn=None)
    tbs = _tbs(subject=name, issuer=name, public=key.public_key(), issuer_key_id=None,
               period=_period(not_before, valid_days), ca=True, profile=profile)
    return KeyPair(gost.encode_private_key(key), _signed_certificate(tbs, key))


def issue_certificate(ca: KeyPair, *, common_name: str, organization: str,
                      ogrn: str | None = None, inn: str | None = None, valid_days: int = 365,
                      not_before: datetime | None = None, intermediate: bool = False,
                      profile: Profile = DEFAULT) -> KeyPair:
    """An end-entity signing certificate (digitalSignature + nonRepudiation) from ``ca``.

    ``not_before`` (default: now) lets tests make certificates that are expired or not yet
    valid; ``intermediate`` makes a subordinate CA instead (as the operator's chain has one);
    ``profile`` makes the certificates a PKI must refuse (see :class:`Profile`).
    """
    ca_key = load_private_key(ca.private_key)
    ca_cert = parse_certificate(ca.certificate_der)
    key = gost.new_private_key()
    tbs = _tbs(subject=build_name(common_name, organization, ogrn=ogrn, inn=inn),
               issuer=ca_cert.asn.subject, public=key.public_key(),
               issuer_key_id=ca_cert.asn.key_identifier,
               period=_period(not_before, valid_days), ca=intermediate, profile=profile)
    return KeyPair(gost.encode_private_key(key), _signed_certificate(tbs, ca_key))


def make_crl(ca: KeyPair, *, revoked: Sequence[tuple[int, datetime]] = (),
             this_update: datetime | None = None, next_update: datetime | None = None,
             number: int = 1, extra: tuple[Extra, ...] = (),
             entry_extra: tuple[Extra, ...] = ()) -> bytes:
    """A DER X.509 v2 CRL of ``ca``, signed with its GOST key: ``revoked`` lists
    ``(serial number, revocation date)``; ``this_update`` defaults to now, ``next_update`` to
    a week later; ``extra`` adds CRL extensions as in :class:`Profile`, ``entry_extra``
    extensions to every entry."""
    ca_key = load_private_key(ca.private_key)
    ca_cert = parse_certificate(ca.certificate_der)
    issued = (this_update or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    extensions = [
        {"extn_id": "authority_key_identifier", "critical": False,
         "extn_value": {"key_identifier": ca_cert.asn.key_identifier}},
        {"extn_id": "crl_number", "critical": False, "extn_value": number},
        *(_extension(*added) for added in extra),
    ]
    tbs = crl.TbsCertList({
        "version": "v2",
        "signature": {"algorithm": _signature_oid(ca_key)},
        "issuer": ca_cert.asn.subject,
        "this_update": _x509_time(issued),
        "next_update": _x509_time(next_update or issued + timedelta(days=7)),
        "revoked_certificates": [
            {"user_certificate": serial, "revocation_date": _x509_time(when.astimezone(UTC)),
             **({"crl_entry_extensions": [_extension(*e) for e in entry_extra]}
                if entry_extra else {})}
            for serial, when in revoked],
        "crl_extensions": extensions,
    })
    digest = gost.streebog(tbs.dump(), ca_key.curve.size)
    return bytes(crl.CertificateList({
        "tbs_cert_list": tbs,
        "signature_algorithm": {"algorithm": _signature_oid(ca_key)},
        "signature": gost.sign_digest(ca_key, digest),
    }).dump())


def load_private_key(der: bytes) -> gost.PrivateKey:
    try:
        return gost.decode_private_key(der)
    except ValueError as exc:  # UnsupportedParameters included
        raise CryptoError("invalid_key", str(exc)) from None


def check_pair(pair: KeyPair) -> tuple[gost.PrivateKey, Certificate]:
    """The parsed key and certificate, after making sure they belong together."""
    key = load_private_key(pair.private_key)
    cert = parse_certificate(pair.certificate_der)
    try:
        public, expected = cert.public_key(), key.public_key()
        # compare the curve, not the OID: CryptoPro A and XchA name the same curve
        matches = (public.curve, public.point) == (expected.curve, expected.point)
    except ValueError as exc:
        raise CryptoError("invalid_certificate", str(exc)) from None
    if not matches:
        raise CryptoError("invalid_key", "ключ не соответствует сертификату")
    return key, cert


def save_pem(pair: KeyPair, key_path: Path, cert_path: Path) -> None:
    """Writes PEM files; the key file is created owner-only (0600) before any byte is in it."""
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its old mode otherwise
        out.write(private_key_pem(pair.private_key))
    cert_path.write_bytes(certificate_pem(pair.certificate_der))


def private_key_pem(der: bytes) -> bytes:
    """A PKCS#8 key as the ``-----BEGIN PRIVATE KEY-----`` file OpenSSL reads."""
    return bytes(pem.armor("PRIVATE KEY", der))


def certificate_pem(der: bytes) -> bytes:
    return bytes(pem.armor("CERTIFICATE", der))


def load_pem(key_path: Path | str, cert_path: Path | str) -> KeyPair:
    """Reads a pair written by :func:`save_pem` or by OpenSSL (PEM or DER files)."""
    pair = KeyPair(read_der(Path(key_path)), read_der(Path(cert_path)))
    check_pair(pair)
    return pair


def read_der(path: Path) -> bytes:
    data = path.read_bytes()
    if not pem.detect(data):
        return data
    try:
        return bytes(pem.unarmor(data)[2])
    except ValueError as exc:
        raise CryptoError("invalid_key", f"{path}: {exc}") from None


def init_development_keys(folder: Path, *, organization: str, ogrn: str, inn: str,
                          ca_folder: Path | None = None) -> tuple[Path, Path, Path]:
    """A development CA and the MO's key and certificate in ``folder``; idempotent.

    Returns ``(ca_certificate, mo_key, mo_certificate)``. Existing files are reused; the MO
    certificate is reissued only when it is missing, broken, not from this CA or has less than
    30 days left. The CA key stays beside its certificate so that reissuing keeps the trust
    store valid; ``ca_folder`` lets several MOs of one installation share one development CA.
    """
    ca_dir = ca_folder or folder
    ca_key, ca_cert = ca_dir / "dev-ca.key", ca_dir / "dev-ca.pem"
    mo_key, mo_cert = folder / "key.pem", folder / "certificate.pem"
    ca = _existing(ca_key, ca_cert)
    if ca is None:
        ca = make_ca("Тестовый УЦ medsign (разработка)", organization=organization)
        save_pem(ca, ca_key, ca_cert)
        log.info("создан тестовый УЦ разработки: %s", ca_cert)
    mo = _existing(mo_key, mo_cert)
    if mo is None or not _usable(mo, ca):
        mo = issue_certificate(ca, common_name=organization, organization=organization,
                               ogrn=ogrn, inn=inn)
        save_pem(mo, mo_key, mo_cert)
        log.info("выпущен сертификат МО для разработки: %s", mo_cert)
    return ca_cert, mo_key, mo_cert


def _existing(key_path: Path, cert_path: Path) -> KeyPair | None:
    if not (key_path.exists() and cert_path.exists()):
        return None
    try:
        return load_pem(key_path, cert_path)
    except CryptoError as exc:
        log.warning("ключ %s не читается (%s): создаю заново", key_path, exc.message)
        return None


def _usable(pair: KeyPair, ca: KeyPair) -> bool:
    cert = parse_certificate(pair.certificate_der)
    fresh = cert.not_after - datetime.now(UTC) > _RENEW_BEFORE
    return fresh and cert.issued_by(parse_certificate(ca.certificate_der))


def _period(not_before: datetime | None, valid_days: int) -> tuple[datetime, datetime]:
    start = (not_before or datetime.now(UTC) - _BACKDATE).astimezone(UTC).replace(microsecond=0)
    return start, start + timedelta(days=valid_days)


def _tbs(*, subject: x509.Name, issuer: x509.Name, public: gost.PublicKey,
         issuer_key_id: bytes | None, period: tuple[datetime, datetime], ca: bool,
         profile: Profile) -> GostTbsCertificate:
    spki = gost.encode_public_key(public)
    # RFC 5280 §4.2.1.2 method 1; an identifier, not a security function, so SHA-1 is fine
    key_id = hashlib.sha1(spki["public_key"].contents[1:], usedforsecurity=False).digest()
    usage = profile.usage if profile.usage is not None else _CA_USAGE if ca else _SIGNER_USAGE
    extensions: list[Any] = [
        {"extn_id": "key_identifier", "critical": False, "extn_value": key_id}]
    if usage:
        extensions.insert(0, {"extn_id": "key_usage", "critical": True,
                              "extn_value": set(usage)})
    if ca:
        extensions.append({"extn_id": "basic_constraints", "critical": True,
                           "extn_value": {"ca": True, "path_len_constraint":
                                          profile.path_length}})
    if issuer_key_id or ca:
        extensions.append({"extn_id": "authority_key_identifier", "critical": False,
                           "extn_value": {"key_identifier": issuer_key_id or key_id}})
    extensions.extend(_extension(*added) for added in profile.extra)
    return GostTbsCertificate({
        "version": "v3",
        "serial_number": secrets.randbits(159) | 1,
        "signature": {"algorithm": _signature_oid(public)},
        "issuer": issuer,
        "validity": {"not_before": _x509_time(period[0]), "not_after": _x509_time(period[1])},
        "subject": subject,
        "subject_public_key_info": spki,
        "extensions": extensions,
    })


def _extension(oid: str, critical: bool, value: object) -> dict[str, Any]:
    return {"extn_id": oid, "critical": critical, "extn_value": value}


def _signed_certificate(tbs: GostTbsCertificate, key: gost.PrivateKey) -> bytes:
    digest = gost.streebog(tbs.dump(), key.curve.size)
    certificate = GostCertificate({
        "tbs_certificate": tbs,
        "signature_algorithm": {"algorithm": _signature_oid(key)},
        "signature_value": gost.sign_digest(key, digest),
    })
    return bytes(certificate.dump())


def _signature_oid(key: gost.PublicKey | gost.PrivateKey) -> str:
    # certificates name the signature-with-digest OID and omit parameters (RFC 9215 §3.1)
    return oids.GOST_256_SIGN if key.curve.size == 32 else oids.GOST_512_SIGN


def _x509_time(when: datetime) -> x509.Time:
    kind = "utc_time" if when.year < 2050 else "general_time"
    return x509.Time(name=kind, value=when)
