"""Which key signs for which medical organisation.

Production: one configured key and certificate (files, or an external certified provider)
— ``signing.key_file`` / ``certificate_file`` / ``signer_command``. Development and demo: a
development CA shared by the installation (``<keys_dir>/dev-ca.pem``) and a key per MO
(``<keys_dir>/<code>/``), made on first use — the same files ``medsign keys init`` makes.

A configured key is signed by the back end the configuration names and by no other: when
that back end cannot run (no GOST engine, no command), signing fails with
``SignerUnavailable`` and is retried; it never falls back to ``pure``. Only development keys
may: they are made by the installation itself, are not secret and sign nothing that counts.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from medsign.config import Problem, SigningSettings
from medsign.crypto import (
    CryptoError,
    Signer,
    SignerUnavailable,
    init_development_keys,
    load_signer,
    openssl_gost_available,
    openssl_problem,
)
from medsign.crypto.certs import parse_certificate
from medsign.domain.signing_identity import (
    CertificateFacts,
    IdentityState,
    IdentityStatus,
    by_validity,
)

_INSTALL_GOST = (
    "установите OpenSSL с движком ГОСТ (apt-get install libengine-gost-openssl) или выберите "
    "signing.signer = «external» (сертифицированное средство подписи); в production подпись "
    "МО не переходит на «pure»"
)


class ConfiguredSigners:
    def __init__(self, settings: SigningSettings, *, keys_dir: Path,
                 allow_development_keys: bool) -> None:
        self._settings = settings
        self._keys_dir = keys_dir
        self._allow_dev = allow_development_keys
        self._cache: dict[str, Signer] = {}
        self._lock = threading.Lock()

    def for_organization(self, code: str, *, name: str, ogrn: str, inn: str) -> Signer:
        with self._lock:
            signer = self._cache.get(code)
            if signer is None:
                signer = self._cache[code] = self._load(code, name, ogrn, inn)
            return signer

    def status(self, code: str, *, name: str, ogrn: str, inn: str,
               now: datetime) -> IdentityStatus:
        try:
            signer = self.for_organization(code, name=name, ogrn=ogrn, inn=inn)
        except SignerUnavailable as exc:
            return IdentityStatus(code, IdentityState.missing, exc.message)
        except CryptoError as exc:
            return IdentityStatus(code, IdentityState.invalid, exc.message)
        if not signer.certificate_der:
            return IdentityStatus(code, IdentityState.ok)
        facts = certificate_facts(signer.certificate_der)
        state, days_left = by_validity(facts.not_before, facts.not_after, now=now,
                                       warning=self._settings.expiry_warning)
        return IdentityStatus(code, state, certificate=facts, days_left=days_left)

    def _load(self, code: str, name: str, ogrn: str, inn: str) -> Signer:
        s = self._settings
        if s.key_file is not None or s.signer == "external" or not self._allow_dev:
            return load_signer(s.signer, key_file=s.key_file, certificate_file=s.certificate_file,
                               command=s.signer_command)
        _, key, cert = development_keys(self._keys_dir, code=code, name=name, ogrn=ogrn, inn=inn)
        return load_signer(s.signer, key_file=key, certificate_file=cert,
                           fallback_to_pure=True)


def certificate_facts(der: bytes) -> CertificateFacts:
    cert = parse_certificate(der)
    return CertificateFacts(
        subject=cert.subject, serial=cert.serial_hex, issuer=cert.issuer,
        not_before=cert.not_before, not_after=cert.not_after,
        thumbprint=cert.thumbprint,
        sha256=cert.sha256)


def machine_problems(settings: SigningSettings, *, production: bool) -> list[Problem]:
    """What keeps the configured signer from running on this machine, as configuration
    problems: in production, ``openssl`` without a working GOST engine."""
    if not production or settings.signer != "openssl" or openssl_gost_available():
        return []
    expected = f"средство подписи, работающее на этой машине: {openssl_problem().message}; "
    return [Problem(key="signing.signer", value=settings.signer, expected=expected + _INSTALL_GOST)]


def development_keys(keys_dir: Path, *, code: str, name: str, ogrn: str,
                     inn: str) -> tuple[Path, Path, Path]:
    """The development CA and this MO's key and certificate (made if missing)."""
    return init_development_keys(keys_dir / code, organization=name, ogrn=ogrn, inn=inn,
                                 ca_folder=keys_dir)
