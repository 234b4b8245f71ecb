"""The signing port and its back ends, chosen by ``[signing] signer`` in the configuration.

``pure`` (default) signs in-process; ``openssl`` runs ``openssl cms`` with the GOST engine;
``external`` runs a configured command (CryptoPro ``cryptcp``, a signing-server client). All
three return the same thing: a DER detached CMS SignedData with the signer certificate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from medsign.crypto import cms
from medsign.crypto.errors import CryptoError, SignerUnavailable
from medsign.crypto.external import ExternalSigner
from medsign.crypto.keys import KeyPair, check_pair, load_pem, private_key_pem
from medsign.crypto.openssl import OpensslSigner, openssl_gost_available, openssl_problem

log = logging.getLogger("medsign.crypto")


class Signer(Protocol):
    """Signs a document as the medical organisation."""

    @property
    def name(self) -> str:
        """``"pure"``, ``"openssl"`` or ``"external"``."""

    @property
    def certificate_der(self) -> bytes:
        """The signer certificate (empty for an external signer until its first signature
        when no certificate file is configured)."""

    def sign(self, data: bytes, *, signing_time: datetime | None = None) -> bytes:
        """DER detached CMS over ``data`` as is. ``signing_time`` is honoured by ``pure``;
        the other back ends take the time from their own clock."""


class PureSigner:
    """GOST in Python (``medsign.crypto.ec``; Streebog through libcrypto when installed), no
    native dependency. The certificate, its ESS hash and the other constant parts of the CMS
    are encoded once, here (:class:`cms.SignerTemplate`); a signature then costs two digests
    and one fixed-base scalar multiplication, well under a millisecond for a small document.
    Python integers are not constant-time: see ``docs/crypto.md`` before using it for an MO's
    production key."""

    name = "pure"

    def __init__(self, pair: KeyPair) -> None:
        self._key, self._certificate = check_pair(pair)
        self._template = cms.SignerTemplate.build(self._certificate, self._key)

    @property
    def certificate_der(self) -> bytes:
        return self._certificate.der

    def sign(self, data: bytes, *, signing_time: datetime | None = None) -> bytes:
        return self._template.sign(data, self._key, signing_time or datetime.now(UTC))


def load_signer(kind: str, *, key_file: Path | None, certificate_file: Path | None,
                command: str = "", fallback_to_pure: bool = False,
                identity: Mapping[str, str] | None = None) -> Signer:
    """The back end named by ``kind``, ready to sign.

    Raises ``SignerUnavailable`` when it cannot run here (no GOST engine, no command, no key);
    with ``fallback_to_pure`` a missing OpenSSL engine logs a warning and yields the pure
    signer with the same key instead — for development keys only, never for an MO's
    configured key (``medsign.signing.signers``). ``identity`` fills the external command's
    placeholders (``{organization}``, ``{ogrn}``, ``{inn}``, ``{thumbprint}``).
    """
    if kind == "pure":
        return PureSigner(_key_pair(key_file, certificate_file))
    if kind == "openssl":
        return _openssl(key_file, certificate_file, fallback_to_pure)
    if kind == "external":
        return ExternalSigner(command, certificate_file=certificate_file, identity=identity)
    raise CryptoError("unknown_signer", repr(kind))


def signer_for_pair(kind: str, pair: KeyPair, *, fallback_to_pure: bool = False) -> Signer:
    """``pure`` or ``openssl`` over a key held in memory (opened from a PKCS#12 container):
    ``openssl`` gets it through a pipe, never from a file."""
    if kind == "pure":
        return PureSigner(pair)
    if kind != "openssl":
        raise CryptoError("unknown_signer", repr(kind))
    check_pair(pair)
    if openssl_gost_available():
        return OpensslSigner(private_key_pem(pair.private_key), None,
                             pair.certificate_der)
    problem = openssl_problem()
    if not fallback_to_pure:
        raise problem
    log.warning("OpenSSL с ГОСТ недоступен (%s): подписываю чистым Python", problem.message)
    return PureSigner(pair)


def _openssl(key_file: Path | None, certificate_file: Path | None,
             fallback_to_pure: bool) -> Signer:
    pair = _key_pair(key_file, certificate_file)  # read here too: a bad file fails at start-up
    if openssl_gost_available() and key_file and certificate_file:
        return OpensslSigner(key_file, certificate_file, pair.certificate_der)
    problem = openssl_problem()
    if not fallback_to_pure:
        raise problem
    log.warning("OpenSSL с ГОСТ недоступен (%s): подписываю чистым Python", problem.message)
    return PureSigner(pair)


def _key_pair(key_file: Path | None, certificate_file: Path | None) -> KeyPair:
    if key_file is None or certificate_file is None:
        raise SignerUnavailable("key_not_configured")
    try:
        return load_pem(key_file, certificate_file)
    except OSError as exc:
        raise SignerUnavailable("key_not_configured", f"{exc.filename}: {exc.strerror}") from None
