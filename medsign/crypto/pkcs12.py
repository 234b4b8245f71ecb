"""PKCS#12 containers (``.p12``/``.pfx``) of an МО's key and certificate, opened in memory.

Both kinds OpenSSL writes are read: its default (PBES2, PBKDF2 with HMAC-SHA-256,
AES-256-CBC, SHA-256 MAC) and the GOST one (``openssl pkcs12 -export -engine gost -keypbe
gost89 -certpbe gost89 -macalg md_gost12_256``: PBES2, PBKDF2 with HMAC-Streebog-512, GOST
28147-89, Streebog MAC). ``openssl pkcs12 -nodes`` (with the GOST engine when installed)
unpacks the container into a pipe, never onto disk; the password goes in through standard
input, never through the command line or the environment of the child. Containers of
КриптоПро CSP (its own export format) are not PKCS#12 in this sense: use ``external``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from asn1crypto import pem

from medsign.crypto.errors import CryptoError, SignerUnavailable
from medsign.crypto.keys import KeyPair, check_pair
from medsign.crypto.openssl import openssl_gost_available

_TIMEOUT = 60.0


def read_pkcs12(path: Path, password: str) -> KeyPair:
    """The key and certificate in the container, checked to belong together.

    Raises ``CryptoError("invalid_pkcs12")`` for a wrong password or a broken container and
    ``SignerUnavailable("openssl_missing")`` without the program."""
    binary = shutil.which("openssl")
    if binary is None:
        raise SignerUnavailable("openssl_missing", "нужна для чтения PKCS#12")
    engine = ["-engine", "gost"] if openssl_gost_available() else []
    command = [binary, "pkcs12", *engine, "-in", str(path), "-nodes", "-passin", "stdin"]
    try:
        done = subprocess.run(command, input=password.encode() + b"\n", capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SignerUnavailable("signer_timeout", "openssl pkcs12") from None
    if done.returncode != 0:
        raise CryptoError("invalid_pkcs12", f"{path}: {_reason(done.stderr)}")
    return _pair(path, done.stdout)


def _pair(path: Path, unpacked: bytes) -> KeyPair:
    keys, certificates = [], []
    for kind, _, der in pem.unarmor(unpacked, multiple=True):
        if kind == "PRIVATE KEY":
            keys.append(bytes(der))
        elif kind == "CERTIFICATE":
            certificates.append(bytes(der))
    if len(keys) != 1 or not certificates:
        raise CryptoError("invalid_pkcs12", f"{path}: нужен один ключ и его сертификат, "
                                            f"а в контейнере ключей {len(keys)}, "
                                            f"сертификатов {len(certificates)}")
    for certificate in certificates:  # the chain may come along: take the key's own
        pair = KeyPair(keys[0], certificate)
        try:
            check_pair(pair)
        except CryptoError:
            continue
        return pair
    raise CryptoError("invalid_pkcs12", f"{path}: ни один сертификат не подходит к ключу")


def _reason(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace")
    if "invalid password" in text.lower() or "mac verify" in text.lower():
        return "неверный пароль (или контейнер повреждён)"
    lines = [line for line in text.splitlines() if line and not line.startswith("Engine ")]
    return (lines[-1] if lines else "openssl pkcs12 завершилась с ошибкой")[-300:]
