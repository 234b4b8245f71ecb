"""Keys, certificates, signers and helpers shared by the unit and integration crypto tests.

The fixtures are session-scoped (a GOST key pair costs ~20 ms in Python) and re-exported by
each ``conftest.py`` that needs them.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from medsign.crypto import (
    KeyPair,
    TrustStore,
    issue_certificate,
    make_ca,
    openssl_gost_available,
    save_pem,
)
from medsign.crypto.signers import PureSigner

NOW = datetime.now(UTC).replace(microsecond=0)
# ~100 KB that looks like a PDF: a header, binary streams, CR/LF and lone LF line ends, which
# a signer that canonicalises text would rewrite
DOCUMENT = (b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n" + bytes(range(256)) * 390 + b"\n%%EOF\n")
STAND_IN = Path(__file__).with_name("stand_in_signer.py")
# What `openssl req -x509` must add for a self-signed certificate that signs documents: the
# trust store refuses a signer certificate without keyUsage (medsign.crypto.chain), and
# OpenSSL's default v3_ca section writes none.
SELF_SIGNED_USAGE = ("-addext", "keyUsage=critical,digitalSignature,nonRepudiation,keyCertSign")


@pytest.fixture(scope="session")
def ca() -> KeyPair:
    return make_ca("Тестовый УЦ", organization="Тестовый УЦ")


@pytest.fixture(scope="session")
def mo(ca: KeyPair) -> KeyPair:
    return issue_certificate(ca, common_name="ГБУЗ «Городская поликлиника № 1»",
                             organization="ГБУЗ «Городская поликлиника № 1»",
                             ogrn="1027700132195", inn="7707083893")


@pytest.fixture(scope="session")
def other_ca() -> KeyPair:
    return make_ca("Посторонний УЦ", organization="Посторонний УЦ")


@pytest.fixture(scope="session")
def stranger(other_ca: KeyPair) -> KeyPair:
    return issue_certificate(other_ca, common_name="Чужая МО", organization="Чужая МО")


@pytest.fixture(scope="session")
def expired(ca: KeyPair) -> KeyPair:
    return issue_certificate(ca, common_name="Истёкший", organization="МО",
                             not_before=NOW - timedelta(days=400), valid_days=365)


@pytest.fixture(scope="session")
def trust(ca: KeyPair) -> TrustStore:
    return TrustStore.from_certificates([ca.certificate_der])


@pytest.fixture(scope="session")
def signer(mo: KeyPair) -> PureSigner:
    return PureSigner(mo)


@pytest.fixture(scope="session")
def signature(signer: PureSigner) -> bytes:
    return signer.sign(DOCUMENT, signing_time=NOW)


@pytest.fixture(scope="session")
def key_files(tmp_path_factory: pytest.TempPathFactory, ca: KeyPair,
              mo: KeyPair) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    files = {name: folder / name for name in ("ca.key", "ca.pem", "mo.key", "mo.pem")}
    save_pem(ca, files["ca.key"], files["ca.pem"])
    save_pem(mo, files["mo.key"], files["mo.pem"])
    return files


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    """The stand-in provider as an executable program run by this interpreter."""
    program = tmp_path / "cryptcp-stand-in"
    program.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text(encoding="utf-8"),
                       encoding="utf-8")
    program.chmod(0o755)
    return program


def require_openssl_gost() -> None:
    """Skip without the GOST engine locally; in CI (which installs it) its absence fails."""
    if openssl_gost_available():
        return
    reason = "OpenSSL GOST engine missing (apt-get install libengine-gost-openssl)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: CI must have it")
    pytest.skip(reason)


def openssl_binary() -> str:
    require_openssl_gost()
    return shutil.which("openssl") or "openssl"
