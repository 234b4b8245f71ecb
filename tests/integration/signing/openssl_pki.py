"""A test CA of the tests' own and МО keys and certificates made by OpenSSL's GOST engine, as a
region's CA would hand them over; and checking an МО signature with ``openssl cms -verify``."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from medsign.crypto.keys import read_der
from medsign.domain.mo_identity import Requisites


def openssl(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done


@dataclass(frozen=True)
class Issued:
    key: Path
    certificate: Path

    @property
    def thumbprint(self) -> str:
        der = read_der(self.certificate)
        return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


@dataclass(frozen=True)
class OpensslCa:
    folder: Path
    key: Path
    certificate: Path

    @classmethod
    def make(cls, folder: Path) -> OpensslCa:
        folder.mkdir(parents=True, exist_ok=True)
        key, cert = folder / "ca.key", folder / "ca.pem"
        _genpkey(key)
        openssl("req", "-engine", "gost", "-new", "-x509", "-utf8", "-key", key,
                "-subj", "/C=RU/O=Тестовый УЦ МО/CN=Тестовый УЦ МО", "-days", "3650",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", cert)
        return cls(folder, key, cert)

    def issue(self, mo: Requisites, *, ogrn: str | None = None, label: str = "") -> Issued:
        """A key and a certificate naming the МО by its ОГРН and (zero-padded) ИНН."""
        stem = self.folder / f"{mo.code}{label}"
        key, csr, cert, ext = (stem.with_suffix(s) for s in (".key", ".csr", ".pem", ".ext"))
        _genpkey(key)
        subject = f"/C=RU/O={mo.name}/CN={mo.name}/OGRN={ogrn or mo.ogrn}/INN=00{mo.inn}"
        openssl("req", "-engine", "gost", "-new", "-utf8", "-key", key, "-subj", subject,
                "-out", csr)
        ext.write_text("keyUsage=critical,digitalSignature,nonRepudiation\n"
                       "basicConstraints=CA:FALSE\n", encoding="utf-8")
        openssl("x509", "-engine", "gost", "-req", "-in", csr, "-CA", self.certificate,
                "-CAkey", self.key, "-CAcreateserial", "-days", "365", "-extfile", ext,
                "-out", cert)
        return Issued(key, cert)

    def verify(self, signature: bytes, content: bytes, folder: Path) -> str:
        """``openssl cms -verify`` of a detached DER signature over ``content`` against this
        CA; the signer certificate's subject as OpenSSL prints it."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sig.der").write_bytes(signature)
        (folder / "content").write_bytes(content)
        openssl("cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER",
                "-in", folder / "sig.der", "-content", folder / "content",
                "-CAfile", self.certificate, "-out", folder / "verified",
                "-signer", folder / "signer.pem")
        return openssl("x509", "-in", folder / "signer.pem", "-noout", "-serial").stdout.decode()


def _genpkey(key: Path) -> None:
    openssl("genpkey", "-engine", "gost", "-algorithm", "gost2012_256", "-pkeyopt",
            "paramset:A", "-out", key)
    key.chmod(0o600)
