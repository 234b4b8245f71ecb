"""The ``external`` back end: a certified provider behind a configured command line.

The contract (also in ``docs/crypto.md``):

- ``signer_command`` is split like a POSIX shell would (``shlex``) but run **without** a shell,
  so nothing in it is interpreted; the placeholders are replaced inside each argument:
  ``{input}`` (required) — a file with exactly the bytes to sign;
  ``{output}`` (optional) — where the program writes the signature; without it the signature
  is read from standard output; ``{certificate}`` — the МО's certificate file, if known;
  and the identity the command signs as, when the caller gives it (``identity``):
  ``{organization}`` (the МО's code), ``{ogrn}``, ``{inn}`` and ``{thumbprint}`` (SHA-1 of
  the certificate, hex upper case, as КриптоПро names a certificate).
- It runs in a fresh temporary directory, with our environment, for at most 120 s. Exit code 0
  means success; anything else is ``SignerUnavailable("signer_failed")`` with the end of its
  standard error, a missing program ``command_missing``, a hang ``signer_timeout``.
- The signature may be DER, base64 (line breaks allowed) or PEM — detected automatically. It
  must be a detached CMS SignedData over the input with the signer certificate embedded; it
  is verified cryptographically before it is accepted (``CryptoError("signer_output_invalid")``
  otherwise), and when a certificate file is configured the signer must be that certificate.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from medsign.crypto.errors import CryptoError, SignatureInvalid, SignerUnavailable
from medsign.crypto.keys import read_der
from medsign.crypto.verify import decode_cms, verify_detached

INPUT, OUTPUT, CERTIFICATE = "{input}", "{output}", "{certificate}"
IDENTITY_PLACEHOLDERS = ("organization", "ogrn", "inn", "thumbprint")
_TIMEOUT = 120.0


class ExternalSigner:
    name = "external"

    def __init__(self, command: str, *, certificate_file: Path | None = None,
                 identity: Mapping[str, str] | None = None, timeout: float = _TIMEOUT) -> None:
        """``identity`` fills the placeholders of :data:`IDENTITY_PLACEHOLDERS`; without it
        (or without one of them) a command that names one is refused."""
        values = {f"{{{name}}}": value for name, value in (identity or {}).items()
                  if name in IDENTITY_PLACEHOLDERS}
        self._argv = [_fill_identity(arg, values) for arg in _parse(command, certificate_file)]
        self._timeout = timeout
        self._certificate_file = certificate_file
        self._expected = _certificate(certificate_file)
        self._learned = b""

    @property
    def certificate_der(self) -> bytes:
        return self._expected or self._learned

    def sign(self, data: bytes, *, signing_time: datetime | None = None) -> bytes:
        with tempfile.TemporaryDirectory(prefix="medsign-external-") as tmp:
            folder = Path(tmp)
            (folder / "document").write_bytes(data)
            argv = [_fill(arg, folder, self._certificate_arg) for arg in self._argv]
            stdout = self._run(argv, folder)
            output = folder / "signature.p7s"
            raw = output.read_bytes() if self._writes_file and output.exists() else stdout
        return self._accept(data, raw)

    @property
    def _writes_file(self) -> bool:
        return any(OUTPUT in arg for arg in self._argv)

    @property
    def _certificate_arg(self) -> str:
        return str(self._certificate_file) if self._certificate_file else ""

    def _run(self, argv: list[str], folder: Path) -> bytes:
        try:
            done = subprocess.run(argv, cwd=folder, capture_output=True,
                                  timeout=self._timeout, check=False)
        except FileNotFoundError:
            raise SignerUnavailable("command_missing", argv[0]) from None
        except PermissionError:
            raise SignerUnavailable("command_missing", f"{argv[0]}: нет права запуска") from None
        except subprocess.TimeoutExpired:
            raise SignerUnavailable("signer_timeout", f"{argv[0]}: {self._timeout:g} с") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
            raise SignerUnavailable("signer_failed", f"код {done.returncode}: {tail}")
        return done.stdout

    def _accept(self, data: bytes, raw: bytes) -> bytes:
        try:
            der = decode_cms(raw)
            report = verify_detached(data, der, trust=None)
        except SignatureInvalid as exc:
            raise CryptoError("signer_output_invalid", exc.message) from None
        if self._expected is not None and report.certificate_der != self._expected:
            raise CryptoError("signer_output_invalid",
                              f"подписано другим сертификатом: {report.signer_subject}")
        self._learned = report.certificate_der
        return der


def _parse(command: str, certificate_file: Path | None) -> list[str]:
    if not command.strip():
        raise SignerUnavailable("command_not_configured")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CryptoError("signer_misconfigured", str(exc)) from None
    if not any(INPUT in arg for arg in argv):
        raise CryptoError("signer_misconfigured", "нет {input} в команде")
    if certificate_file is None and any(CERTIFICATE in arg for arg in argv):
        raise CryptoError("signer_misconfigured", "{certificate} без файла сертификата МО")
    return argv


def _fill_identity(arg: str, values: Mapping[str, str]) -> str:
    for name in IDENTITY_PLACEHOLDERS:
        placeholder = f"{{{name}}}"
        if placeholder in arg and placeholder not in values:
            raise CryptoError("signer_misconfigured", f"{placeholder}: неизвестно, для кого "
                                                      "подпись")
    for placeholder, value in values.items():
        arg = arg.replace(placeholder, value)
    return arg


def _certificate(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return read_der(Path(path))
    except OSError as exc:
        raise SignerUnavailable("key_not_configured", f"{path}: {exc.strerror}") from None


def _fill(arg: str, folder: Path, certificate: str) -> str:
    return (arg.replace(INPUT, str(folder / "document"))
            .replace(OUTPUT, str(folder / "signature.p7s"))
            .replace(CERTIFICATE, certificate))
