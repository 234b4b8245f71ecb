"""The ``openssl`` back end: ``openssl cms -sign`` with the GOST engine.

The engine (Debian ``libengine-gost-openssl``), not the OpenSSL 3 ``gostprov`` provider: the
provider has digests and ciphers but no GOST signatures. The key and certificate files are the
same PEM files the pure back end reads (``keys.save_pem``). A signature takes ~5 ms, most of
it process start-up.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from asn1crypto import pem

from medsign.crypto.errors import SignerUnavailable

log = logging.getLogger("medsign.crypto")

_TIMEOUT = 60.0
_SIGN = ["cms", "-sign", "-engine", "gost", "-binary", "-md", "md_gost12_256", "-cades",
         "-nosmimecap", "-outform", "DER"]


def openssl_gost_available() -> bool:
    """``openssl`` is on PATH and loads the GOST engine (checked once per process)."""
    return _probe() is None


def openssl_problem() -> SignerUnavailable:
    """Why :func:`openssl_gost_available` is false, as the exception to raise."""
    code = _probe()
    return SignerUnavailable(code or "gost_engine_missing")


@functools.cache
def _probe() -> str | None:
    binary = shutil.which("openssl")
    if binary is None:
        return "openssl_missing"
    try:
        done = subprocess.run([binary, "engine", "-t", "gost"], capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "openssl_missing"
    if done.returncode != 0 or b"[ available ]" not in done.stdout:
        log.info("движок ГОСТ для OpenSSL недоступен: %s", _tail(done.stderr))
        return "gost_engine_missing"
    return None


class OpensslSigner:
    """``key`` is the key file as ``openssl`` reads it, or the PEM key itself (from a PKCS#12
    container): then it goes to ``openssl`` through a pipe (``-inkey /dev/stdin``) and is
    never written anywhere."""

    name = "openssl"

    def __init__(self, key: Path | bytes, certificate_file: Path | None,
                 certificate_der: bytes) -> None:
        """``certificate_der`` is the checked content of ``certificate_file``; without the
        file it is written beside each document (it is public)."""
        self._key = key if isinstance(key, bytes) else Path(key)
        self._certificate_file = Path(certificate_file) if certificate_file else None
        self.certificate_der = certificate_der

    def sign(self, data: bytes, *, signing_time: datetime | None = None) -> bytes:
        # openssl cms takes the signing time from the clock; a requested one cannot be honoured
        binary = shutil.which("openssl")
        if binary is None:
            raise SignerUnavailable("openssl_missing")
        with tempfile.TemporaryDirectory(prefix="medsign-sign-") as tmp:
            source, target = Path(tmp) / "document", Path(tmp) / "signature.p7s"
            source.write_bytes(data)
            certificate = self._certificate_file or Path(tmp) / "certificate.pem"
            if self._certificate_file is None:
                certificate.write_bytes(pem.armor("CERTIFICATE", self.certificate_der))
            key = "/dev/stdin" if isinstance(self._key, bytes) else str(self._key)
            self._run([binary, *_SIGN, "-in", str(source), "-out", str(target),
                       "-signer", str(certificate), "-inkey", key],
                      stdin=self._key if isinstance(self._key, bytes) else None)
            return target.read_bytes()

    def _run(self, command: list[str], *, stdin: bytes | None) -> None:
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, timeout=_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise SignerUnavailable("signer_timeout", "openssl cms") from None
        if done.returncode != 0:
            # the engine can disappear after the start-up probe (package removed)
            missing = b"invalid engine" in done.stderr.lower()
            code = "gost_engine_missing" if missing else "signer_failed"
            raise SignerUnavailable(code, f"openssl: {_tail(done.stderr)}")


def _tail(stderr: bytes, limit: int = 500) -> str:
    return stderr.decode("utf-8", "replace").strip()[-limit:]
