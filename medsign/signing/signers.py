"""Which key signs for which medical organisation: the МО's newest usable identity in the key
store (:mod:`medsign.signing.identities`), in every profile.

Outside production an МО with no identity of its own gets a development one, made on first
use in ``<store>/<code>/dev/`` by the development CA at the store's root — the same files
``medsign keys init`` makes — and the development CA is trusted beside
``signing.mo_trust_store``.

A key is signed by the back end the configuration names and by no other: when that back end
cannot run (no GOST engine, no command), signing fails with ``SignerUnavailable`` and is
retried; it never falls back to ``pure``. Only development keys may: they are made by the
installation itself, are not secret and sign nothing that counts.

The store is read again when anything in an МО's folder changes (or after ``ttl``), so that
``medsign keys import`` takes effect in running workers; signers are kept per identity. The
folder is looked at (a stat of each of its files) on every signature, but for the states the
console asks of every МО on every page at most once per ``recheck``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from medsign.clock import Clock, SystemClock
from medsign.config import Problem, SigningSettings
from medsign.crypto import (
    CryptoError,
    Signer,
    SignerUnavailable,
    TrustStore,
    init_development_keys,
    load_signer,
    openssl_gost_available,
    openssl_problem,
)
from medsign.crypto.crl import RevocationSource
from medsign.crypto.signers import signer_for_pair
from medsign.domain.mo_identity import Candidate, Requisites, choose, unable
from medsign.domain.signing_identity import IdentityState, IdentityStatus
from medsign.signing.identities import (
    DEV_CA_FILE,
    DEV_IDENTITY,
    KEY_FILE,
    Judge,
    Passwords,
    StoredIdentity,
    certificate_facts,
    identity_folders,
    owner_only_problem,
    store_problem,
)
from medsign.signing.identities import fingerprint as store_fingerprint

__all__ = ["ConfiguredSigners", "certificate_facts", "development_keys", "machine_problems"]

log = logging.getLogger("medsign.signing")

_INSTALL_GOST = (
    "установите OpenSSL с движком ГОСТ (apt-get install libengine-gost-openssl) или выберите "
    "signing.signer = «external» (сертифицированное средство подписи); в production подпись "
    "МО не переходит на «pure»"
)
TTL = timedelta(seconds=30)
RECHECK = timedelta(seconds=1)


@dataclass(frozen=True)
class _Judged:
    stamp: tuple[object, ...]
    mo: Requisites
    read_at: float
    identities: list[StoredIdentity]
    checked_at: float  # when ``stamp`` was last compared with the store


class ConfiguredSigners:
    """The :class:`~medsign.signing.countersign.SignerProvider` of the installation."""

    def __init__(self, settings: SigningSettings, *, keys_dir: Path,
                 allow_development_keys: bool, clock: Clock | None = None,
                 environ: Mapping[str, str] | None = None, ttl: timedelta = TTL,
                 recheck: timedelta = RECHECK,
                 revocation: RevocationSource | None = None) -> None:
        """``keys_dir`` is the key store (``signing.key_store``, or the installation's keys
        folder outside production); ``environ`` holds the PKCS#12 password variables;
        ``revocation`` the CRLs (``signing.crls``) the МО certificates are checked against,
        the same the operator's are."""
        self._revocation = revocation
        self._settings = settings
        self.root = keys_dir
        self._allow_dev = allow_development_keys
        self._clock = clock or SystemClock()
        self._passwords = Passwords(settings.key_passwords_dir,
                                    os.environ if environ is None else environ)
        self._ttl = ttl.total_seconds()
        self._recheck = recheck.total_seconds()
        self._judged: dict[str, _Judged] = {}
        self._signers: dict[tuple[str, bytes], Signer] = {}
        self._lock = threading.Lock()

    # -- the SignerProvider port ----------------------------------------------------------
    def for_organization(self, code: str, *, name: str, ogrn: str, inn: str) -> Signer:
        mo = Requisites(code, name, ogrn, inn)
        with self._lock:
            chosen, status = self._choose(mo, self._clock.now(), look=True)
            if chosen is None:
                raise SignerUnavailable("mo_signing_unavailable", unable(mo, status))
            return self._signer(chosen, mo)

    def status(self, code: str, *, name: str, ogrn: str, inn: str,
               now: datetime) -> IdentityStatus:
        """The chosen identity's state — and, when it is in force, whether the configured
        means of signing can use it on this machine (``openssl`` without its engine cannot):
        an МО whose signature would fail is not offered for signing."""
        mo = Requisites(code, name, ogrn, inn)
        with self._lock:
            chosen, status = self._choose(mo, now)
            if chosen is None or not status.usable:
                return status
            try:
                self._signer(chosen, mo)
            except (SignerUnavailable, CryptoError) as exc:
                return replace(status, state=IdentityState.invalid,
                               reason=f"ключ МО нечем применить: {exc.message}")
            return status

    # -- for the CLI (keys list/check) ---------------------------------------------------
    @property
    def expiry_warning(self) -> timedelta:
        return self._settings.expiry_warning

    @property
    def passwords(self) -> Passwords:
        return self._passwords

    def identities(self, code: str, *, name: str, ogrn: str, inn: str) -> list[StoredIdentity]:
        """Every identity of the МО as judged now (a development one made first, if due)."""
        with self._lock:
            return self._identities(Requisites(code, name, ogrn, inn), look=True)

    def choose(self, identities: list[StoredIdentity], mo: Requisites,
               now: datetime) -> tuple[Candidate | None, IdentityStatus]:
        return choose(mo, [i.candidate for i in identities], now=now,
                      warning=self._settings.expiry_warning)

    def trust(self) -> tuple[TrustStore, str]:
        """The МО trust store and, when it cannot be read, why (Russian)."""
        paths = [p for p in (self._settings.mo_trust_store, self._dev_ca()) if p is not None]
        try:
            certificates = [der for path in paths for der in _certificates(path)]
        except (OSError, CryptoError) as exc:
            reason = exc.message if isinstance(exc, CryptoError) else exc.strerror
            return TrustStore.empty(), f"signing.mo_trust_store не читается: {reason}"
        if not certificates:
            return TrustStore.empty(), ("не задано signing.mo_trust_store: сертификаты МО "
                                        "не с чем проверить")
        return TrustStore.from_certificates(certificates).with_revocation(self._revocation), ""

    # -- inside ---------------------------------------------------------------------------
    def _choose(self, mo: Requisites, now: datetime, *,
                look: bool = False) -> tuple[StoredIdentity | None, IdentityStatus]:
        identities = self._identities(mo, look=look)
        chosen, status = self.choose(identities, mo, now)
        picked = next((i for i in identities if chosen and i.name == chosen.name), None)
        return picked, status

    def _identities(self, mo: Requisites, *, look: bool = False) -> list[StoredIdentity]:
        """``look``: compare the folder with its fingerprint now (a signature, the CLI), not
        only once per ``recheck`` (the console's states)."""
        judged = self._judged.get(mo.code)
        at = time.monotonic()
        if judged is not None and judged.mo == mo and at - judged.read_at < self._ttl:
            if not look and at - judged.checked_at < self._recheck:
                return judged.identities
            if judged.stamp == self._stamp(mo.code):
                self._judged[mo.code] = replace(judged, checked_at=at)
                return judged.identities
        self._make_development_keys(mo)
        stamp = self._stamp(mo.code)
        identities = self._read(mo)
        at = time.monotonic()
        self._judged[mo.code] = _Judged(stamp, mo, at, identities, at)
        return identities

    def _stamp(self, code: str) -> tuple[object, ...]:
        trust = [p for p in (self._settings.mo_trust_store, self.root / DEV_CA_FILE) if p]
        return (*store_fingerprint(self.root, code), *(_mtime(p) for p in trust))

    def _read(self, mo: Requisites) -> list[StoredIdentity]:
        trust, trust_problem = self.trust()
        judge = Judge(self._settings.signer, trust, self._passwords)
        problem = store_problem(self.root) or trust_problem
        now = self._clock.now()
        return [judge.identity(self.root, mo, folder, now=now, store=problem)
                for folder in identity_folders(self.root, mo.code)]

    def _make_development_keys(self, mo: Requisites) -> None:
        if not self._allow_dev or self._settings.signer == "external":
            return
        if any(f.name != DEV_IDENTITY for f in identity_folders(self.root, mo.code)):
            return  # the МО has its own identities: no development key beside them
        development_keys(self.root, code=mo.code, name=mo.name, ogrn=mo.ogrn, inn=mo.inn)

    def _dev_ca(self) -> Path | None:
        path = self.root / DEV_CA_FILE
        return path if self._allow_dev and path.is_file() else None

    def _signer(self, identity: StoredIdentity, mo: Requisites) -> Signer:
        if identity.certificate is None:  # never chosen without one
            raise SignerUnavailable("mo_signing_unavailable", identity.problem)
        key = (str(identity.folder), identity.certificate.der)
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = self._load(identity, mo)
        return signer

    def _load(self, identity: StoredIdentity, mo: Requisites) -> Signer:
        s = self._settings
        dev = self._allow_dev and identity.name == DEV_IDENTITY
        if s.signer == "external":
            facts = identity.candidate.certificate
            thumbprint = facts.thumbprint if facts else ""
            return load_signer("external", key_file=None,
                               certificate_file=identity.certificate_file,
                               command=s.signer_command, identity={
                                   "organization": mo.code, "ogrn": mo.ogrn, "inn": mo.inn,
                                   "thumbprint": thumbprint})
        if identity.kind == "pkcs12" and identity.pair is not None:
            return signer_for_pair(s.signer, identity.pair, fallback_to_pure=dev)
        return load_signer(s.signer, key_file=identity.folder / KEY_FILE,
                           certificate_file=identity.certificate_file, fallback_to_pure=dev)


def _certificates(path: Path) -> list[bytes]:
    return TrustStore.from_file(path).certificates


def _mtime(path: Path) -> object:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def machine_problems(settings: SigningSettings, *, production: bool) -> list[Problem]:
    """What keeps the configured signer from running on this machine, as configuration
    problems: in production, ``openssl`` without a working GOST engine, and a key store
    open to other users."""
    if not production:
        return []
    problems = []
    if settings.signer == "openssl" and not openssl_gost_available():
        expected = (f"средство подписи, работающее на этой машине: {openssl_problem().message}; "
                    + _INSTALL_GOST)
        problems.append(Problem(key="signing.signer", value=settings.signer, expected=expected))
    store = settings.key_store
    open_to_others = owner_only_problem(store, kind="каталог") if store and store.is_dir() else ""
    if store is not None and open_to_others:
        problems.append(Problem(key="signing.key_store", value=str(store), expected=(
            "каталог, доступный только пользователю сервиса: " + open_to_others)))
    return problems


def development_keys(keys_dir: Path, *, code: str, name: str, ogrn: str,
                     inn: str) -> tuple[Path, Path, Path]:
    """The development CA (at the store's root) and this МО's development identity
    (``<store>/<code>/dev/``), made if missing; the folders are made owner-only."""
    folder = keys_dir / code / DEV_IDENTITY
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (keys_dir, keys_dir / code, folder):
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)
    return init_development_keys(folder, organization=name, ogrn=ogrn, inn=inn,
                                 ca_folder=keys_dir)
