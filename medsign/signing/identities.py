"""The key store: every МО's signing identities as folders, read and judged.

Layout (``signing.key_store``; outside production the installation's ``var/keys/``)::

    <store>/                      0700, owned by the service's user
        dev-ca.pem, dev-ca.key    the development CA (development and demo only)
        <МО code>/                0700
            <identity>/           0700, one per certificate (``medsign keys import`` names it)
                certificate.pem   the МО's certificate
                key.pem           its key, PKCS#8 (0600)          — pure, openssl
                container.p12     or key and certificate, PKCS#12 (0600)
                                  only certificate.pem             — external

A PKCS#12 password comes from ``MEDSIGN_KEY_PASSWORD_<CODE>`` (the code upper-cased, every
other character than a Latin letter or digit as ``_``) or else from the file
``<signing.key_passwords_dir>/<code>`` (0600; one line). It is never logged.

An identity is judged here for everything but the date: the files and their permissions,
the key against the certificate, the certificate against the МО's requisites and against the
МО trust store. :mod:`medsign.domain.mo_identity` then picks the one that signs now.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from medsign.crypto import CryptoError, KeyPair, SignatureInvalid, TrustStore, oids
from medsign.crypto.asn1 import attribute_value
from medsign.crypto.certs import Certificate, parse_certificate
from medsign.crypto.keys import load_pem, read_der
from medsign.crypto.pkcs12 import read_pkcs12
from medsign.domain.mo_identity import Candidate, Requisites, SubjectIds, requisites_problem
from medsign.domain.signing_identity import CertificateFacts

CERTIFICATE_FILE = "certificate.pem"
KEY_FILE = "key.pem"
CONTAINER_FILE = "container.p12"
DEV_IDENTITY = "dev"
DEV_CA_FILE = "dev-ca.pem"
PASSWORD_VARIABLE = "MEDSIGN_KEY_PASSWORD_"

Kind = Literal["pem", "pkcs12", "certificate"]


@dataclass(frozen=True)
class StoredIdentity:
    """One identity folder, judged; ``pair`` holds the key when one was read (repr hides it)."""

    organization: str
    name: str
    folder: Path
    kind: Kind | None
    certificate: Certificate | None
    problem: str = ""
    pair: KeyPair | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def candidate(self) -> Candidate:
        """Computed once per judged identity: the key store is judged again only when it
        changes, and every signature asks."""
        facts = certificate_facts(self.certificate.der) if self.certificate else None
        return Candidate(self.name, facts, self.problem)

    @property
    def certificate_file(self) -> Path:
        return self.folder / CERTIFICATE_FILE


def certificate_facts(der: bytes) -> CertificateFacts:
    cert = parse_certificate(der)
    return CertificateFacts(
        subject=cert.subject, serial=cert.serial_hex, issuer=cert.issuer,
        not_before=cert.not_before, not_after=cert.not_after,
        thumbprint=cert.thumbprint,
        sha256=cert.sha256)


def password_variable(code: str) -> str:
    """``MEDSIGN_KEY_PASSWORD_<CODE>``: the code upper-cased, non-alphanumerics as ``_``."""
    return PASSWORD_VARIABLE + re.sub(r"[^A-Z0-9]", "_", code.upper())


@dataclass(frozen=True)
class Passwords:
    """Where PKCS#12 passwords come from: the environment first, then the secrets folder."""

    folder: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def password(self, code: str) -> tuple[str | None, str]:
        """The password (None when there is none) and, when unusable, why (Russian)."""
        variable = password_variable(code)
        if variable in self.environ:
            return self.environ[variable], ""
        if self.folder is None:
            return None, (f"нет пароля контейнера PKCS#12: задайте {variable} или "
                          "signing.key_passwords_dir")
        path = self.folder / code
        if not path.is_file():
            return None, f"нет пароля контейнера PKCS#12: нет {variable} и файла {path}"
        problem = owner_only_problem(path, kind="файл пароля")
        if problem:
            return None, problem
        return path.read_text(encoding="utf-8").rstrip("\r\n"), ""


def owner_only_problem(path: Path, *, kind: str) -> str:
    """Why ``path`` is not private to the service's user ("" when it is): owned by another
    user, or open to the group or others (a folder as well as a file)."""
    try:
        info = path.lstat()
    except OSError as exc:
        return f"{kind} {path} недоступен: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return f"{kind} {path} — символическая ссылка; нужен сам файл или каталог"
    if info.st_uid != os.geteuid():
        return f"{kind} {path} принадлежит другому пользователю (uid {info.st_uid})"
    if info.st_mode & 0o077:
        wanted = "0700" if stat.S_ISDIR(info.st_mode) else "0600"
        return (f"{kind} {path} доступен группе или всем (права "
                f"{stat.S_IMODE(info.st_mode):04o}); нужны {wanted}")
    return ""


def store_problem(root: Path) -> str:
    """What is wrong with the store folder itself ("" when nothing)."""
    if not root.is_dir():
        return f"хранилище ключей {root} не найдено"
    return owner_only_problem(root, kind="хранилище ключей")


def identity_folders(root: Path, code: str) -> list[Path]:
    folder = root / code
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def fingerprint(root: Path, code: str) -> tuple[object, ...]:
    """What changes when anything in the МО's part of the store changes (files replaced,
    added, removed, re-permissioned): the identities are read again then."""
    paths = [root, root / code]
    for folder in identity_folders(root, code):
        paths += [folder, *sorted(folder.iterdir())]
    return tuple(_stat(path) for path in paths)


def _stat(path: Path) -> object:
    try:
        s = path.lstat()
    except OSError:
        return (str(path), None)
    return (str(path), s.st_mtime_ns, s.st_size, s.st_mode, s.st_uid, s.st_ino)


@dataclass(frozen=True)
class Judge:
    """How identities are judged: by which signer, against which trust store, with which
    passwords."""

    signer: str  # "pure", "openssl" or "external"
    trust: TrustStore
    passwords: Passwords

    def identity(self, root: Path, mo: Requisites, folder: Path, *, now: datetime,
                 store: str = "") -> StoredIdentity:
        code = mo.code
        kind = _kind(folder)
        problem = store or _permissions(root, folder)
        if kind is None:
            return StoredIdentity(code, folder.name, folder, None, None, problem or (
                f"в {folder} нет {CERTIFICATE_FILE} или {CONTAINER_FILE}"))
        try:
            certificate, pair = self._read(folder, kind, code)
        except CryptoError as exc:
            return StoredIdentity(code, folder.name, folder, kind, None, problem or exc.message)
        problem = problem or self._problem(kind, certificate, mo, now)
        return StoredIdentity(code, folder.name, folder, kind, certificate, problem, pair)

    def _read(self, folder: Path, kind: Kind,
              code: str) -> tuple[Certificate, KeyPair | None]:
        try:
            if kind == "pkcs12":
                password, why = self.passwords.password(code)
                if password is None:
                    raise CryptoError("invalid_pkcs12", why)
                pair = read_pkcs12(folder / CONTAINER_FILE, password)
                return parse_certificate(pair.certificate_der), pair
            if kind == "pem" and self.signer != "external":
                pair = load_pem(folder / KEY_FILE, folder / CERTIFICATE_FILE)
                return parse_certificate(pair.certificate_der), pair
            return parse_certificate(read_der(folder / CERTIFICATE_FILE)), None
        except OSError as exc:
            raise CryptoError("invalid_certificate", f"{exc.filename}: {exc.strerror}") from None

    def _problem(self, kind: Kind, certificate: Certificate, mo: Requisites,
                 now: datetime) -> str:
        if kind == "certificate" and self.signer != "external":
            return (f"нет закрытого ключа ({KEY_FILE} или {CONTAINER_FILE}): один сертификат "
                    "подписывает только через signing.signer = «external»")
        return certificate_problem(self.trust, mo, certificate, now=now)


def certificate_problem(trust: TrustStore, mo: Requisites, certificate: Certificate, *,
                        now: datetime) -> str:
    """Why ``certificate`` cannot be the МО's ("" when it can): it must name the МО and pass
    the МО trust store. The store judges what it holds by this, and an import what it is
    given."""
    return (requisites_problem(mo, subject_ids(certificate))
            or chain_problem(trust, certificate, now=now))


def subject_ids(certificate: Certificate) -> SubjectIds:
    subject = certificate.asn.subject
    return SubjectIds(ogrn=attribute_value(subject, oids.OGRN),
                      inn=attribute_value(subject, oids.INN),
                      inn_le=attribute_value(subject, oids.INN_LE))


def chain_problem(trust: TrustStore, certificate: Certificate, *, now: datetime) -> str:
    """Why the certificate does not chain to the МО trust store ("" when it does).

    Checked at ``now``; a certificate that is itself out of its period at ``now`` is left to
    its dates (expired, not yet valid), so that the state says what happened to it."""
    try:
        trust.verify_certificate(certificate.der, at=now)
    except SignatureInvalid as exc:
        if exc.code == "certificate_expired" and not certificate.valid_at(now):
            return ""
        return f"проверка по УЦ из signing.mo_trust_store не пройдена: {exc.message}"
    return ""


def _kind(folder: Path) -> Kind | None:
    if (folder / CONTAINER_FILE).exists():
        return "pkcs12"
    if (folder / KEY_FILE).exists():
        return "pem"
    if (folder / CERTIFICATE_FILE).exists():
        return "certificate"
    return None


def _permissions(root: Path, folder: Path) -> str:
    checks = [(folder.parent, "каталог МО"), (folder, "каталог ключа")]
    checks += [(folder / name, "файл ключа") for name in (KEY_FILE, CONTAINER_FILE)
               if (folder / name).exists()]
    return next((p for p in (owner_only_problem(path, kind=kind) for path, kind in checks)
                 if p), "")
