"""Putting an МО's identity into the key store (``medsign keys import``).

Everything is checked before anything is written: the key belongs to the certificate (or the
PKCS#12 container opens with its password), the certificate names the МО and chains to the
МО trust store, and it has not ended (one that has not started yet is accepted — a rotation
imports the next certificate ahead — and said). The identity is written into a hidden
temporary folder beside the others and renamed into place, so a worker never sees half of
it; folders are 0700, files 0600.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from medsign.crypto import CryptoError, KeyPair, TrustStore
from medsign.crypto.certs import Certificate, parse_certificate
from medsign.crypto.keys import certificate_pem, load_pem, private_key_pem, read_der
from medsign.crypto.pkcs12 import read_pkcs12
from medsign.domain.mo_identity import Requisites
from medsign.domain.signing_identity import CertificateFacts, IdentityState, by_validity
from medsign.signing.identities import (
    CERTIFICATE_FILE,
    CONTAINER_FILE,
    KEY_FILE,
    certificate_facts,
    certificate_problem,
)


class ImportRefused(Exception):
    """The files cannot become the МО's identity; ``message`` says why, in Russian."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Source:
    """What the operator gave: a key and a certificate, a PKCS#12 container (with its
    password), or a certificate alone (for the ``external`` signer)."""

    certificate: Path | None = None
    key: Path | None = None
    pkcs12: Path | None = None
    password: str | None = None


@dataclass(frozen=True)
class Imported:
    name: str  # the identity's folder
    folder: Path
    certificate: CertificateFacts
    state: IdentityState  # at the moment of the import: ok, expiring or not_yet_valid


def import_identity(root: Path, mo: Requisites, source: Source, *, signer: str,
                    trust: TrustStore, trust_problem: str = "", now: datetime) -> Imported:
    """Checks ``source`` and writes it as a new identity of ``mo`` under ``root``;
    ``trust_problem`` is why the МО trust store could not be read, if it could not."""
    files, certificate = _read(source, signer)
    problem = trust_problem or certificate_problem(trust, mo, certificate, now=now)
    if problem:
        raise ImportRefused(problem)
    facts = certificate_facts(certificate.der)
    state, _ = by_validity(facts.not_before, facts.not_after, now=now)
    if state is IdentityState.expired:
        raise ImportRefused(f"срок действия сертификата истёк "
                            f"{facts.not_after:%d.%m.%Y %H:%M} UTC")
    name = identity_name(facts)
    folder = _write(root, mo.code, name, files)
    return Imported(name, folder, facts, state)


def identity_name(facts: CertificateFacts) -> str:
    """``<notBefore as YYYYMMDD>-<first 8 of the thumbprint>``: sorts by age, unique enough
    to tell certificates apart, and the same for the same certificate (no double import)."""
    return f"{facts.not_before:%Y%m%d}-{facts.thumbprint[:8]}"


def _read(source: Source, signer: str) -> tuple[dict[str, bytes], Certificate]:
    try:
        if source.pkcs12 is not None:
            if source.password is None:
                raise ImportRefused("нет пароля контейнера PKCS#12")
            pair = read_pkcs12(source.pkcs12, source.password)
            return {CONTAINER_FILE: source.pkcs12.read_bytes(),
                    CERTIFICATE_FILE: certificate_pem(pair.certificate_der)}, _parsed(pair)
        if source.certificate is None:
            raise ImportRefused("нужен сертификат (--certificate) или контейнер (--pkcs12)")
        if source.key is not None:
            pair = load_pem(source.key, source.certificate)
            return {KEY_FILE: private_key_pem(pair.private_key),
                    CERTIFICATE_FILE: certificate_pem(pair.certificate_der)}, _parsed(pair)
        if signer != "external":
            raise ImportRefused(f"нужен закрытый ключ (--key или --pkcs12): без ключа "
                                f"сертификат подписывает только signing.signer = «external», "
                                f"а сейчас «{signer}»")
        der = read_der(source.certificate)
        return {CERTIFICATE_FILE: certificate_pem(der)}, parse_certificate(der)
    except CryptoError as exc:
        raise ImportRefused(exc.message) from None
    except OSError as exc:
        raise ImportRefused(f"{exc.filename}: {exc.strerror}") from None


def _parsed(pair: KeyPair) -> Certificate:
    return parse_certificate(pair.certificate_der)


def _write(root: Path, code: str, name: str, files: dict[str, bytes]) -> Path:
    mo_folder = root / code
    target = mo_folder / name
    if target.exists():
        raise ImportRefused(f"этот сертификат уже в хранилище: {target}")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    mo_folder.mkdir(mode=0o700, exist_ok=True)
    temporary = mo_folder / f".import-{secrets.token_hex(4)}"
    temporary.mkdir(mode=0o700)
    try:
        for file_name, content in files.items():
            _write_private(temporary / file_name, content)
        os.rename(temporary, target)
    except BaseException:
        for leftover in temporary.glob("*"):
            leftover.unlink()
        temporary.rmdir()
        raise
    return target


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
