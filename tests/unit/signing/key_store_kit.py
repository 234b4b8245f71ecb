"""A key store of МО identities made by a test CA of the tests' own, for the signing tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medsign.crypto import KeyPair, issue_certificate, make_ca, save_pem
from medsign.domain.mo_identity import Requisites
from tests import factories as f

NOW = datetime.now(UTC).replace(microsecond=0)
# Three МО with requisites of their own (valid check digits)
MOS = {
    code: Requisites(code, name, f.ogrn(prefix), f.inn10(inn))
    for code, name, prefix, inn in (
        ("mo1", "ГБУЗ «Городская поликлиника № 1»", "102770013219", "770708389"),
        ("mo2", "ГБУЗ «Детская больница № 2»", "102770013220", "770708390"),
        ("mo3", "ГАУЗ «Стоматологическая поликлиника № 3»", "102770013221", "770708391"),
    )}


def requisites(mo: Requisites) -> dict[str, str]:
    return {"name": mo.name, "ogrn": mo.ogrn, "inn": mo.inn}


@dataclass
class Kit:
    """A store root and the CA whose certificate is the МО trust store."""

    root: Path
    ca: KeyPair
    ca_file: Path

    @classmethod
    def make(cls, folder: Path) -> Kit:
        ca = make_ca("Тестовый УЦ МО", organization="Тестовый УЦ МО")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        ca_file = folder / "mo-ca.pem"
        save_pem(ca, folder / "mo-ca.key", ca_file)
        return cls(folder / "store", ca, ca_file)

    def issue(self, mo: Requisites, *, start: timedelta = timedelta(days=-1), days: int = 365,
              ogrn: str | None = None, inn: str | None = None,
              ca: KeyPair | None = None) -> KeyPair:
        return issue_certificate(ca or self.ca, common_name=mo.name, organization=mo.name,
                                 ogrn=ogrn or mo.ogrn, inn=inn or mo.inn, valid_days=days,
                                 not_before=NOW + start)

    def put(self, code: str, name: str, pair: KeyPair) -> Path:
        """Writes the pair as an identity folder, owner-only (as ``keys import`` would)."""
        folder = self.root / code / name
        for path in (self.root, self.root / code, folder):
            path.mkdir(mode=0o700, exist_ok=True)
        save_pem(pair, folder / "key.pem", folder / "certificate.pem")
        (folder / "certificate.pem").chmod(0o600)
        return folder


def pkcs12(pair: KeyPair, folder: Path, password: str, *, gost: bool = True) -> Path:
    """A PKCS#12 container of ``pair`` as ``openssl pkcs12 -export -engine gost`` makes it:
    with GOST PBE and MAC, or OpenSSL's default (AES-256, SHA-256)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_pem(pair, folder / "p12.key", folder / "p12.pem")
    target = folder / ("gost.p12" if gost else "aes.p12")
    options = ["-keypbe", "gost89", "-certpbe", "gost89", "-macalg", "md_gost12_256"] if gost \
        else []
    subprocess.run(["openssl", "pkcs12", "-export", "-engine", "gost", "-inkey",
                    str(folder / "p12.key"), "-in", str(folder / "p12.pem"), *options,
                    "-passout", "stdin", "-out", str(target)],
                   input=password.encode() + b"\n", check=True, capture_output=True)
    return target
