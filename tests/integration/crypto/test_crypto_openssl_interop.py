"""Interoperability with OpenSSL's GOST engine, in both directions.

Skipped locally without ``libengine-gost-openssl``; under ``CI=true`` its absence fails the
run instead, because CI installs it and a silent skip would hide a broken install step.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from medsign.crypto import (
    KeyPair,
    SignatureInvalid,
    TrustStore,
    load_pem,
    load_signer,
    verify_detached,
)
from medsign.crypto.signers import PureSigner
from tests.unit.crypto.crypto_support import (
    DOCUMENT,
    SELF_SIGNED_USAGE,
    openssl_binary,
    require_openssl_gost,
)


@pytest.fixture(autouse=True)
def _engine() -> None:
    require_openssl_gost()


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([openssl_binary(), *map(str, args)], capture_output=True,
                          check=False, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed: {done.stderr.decode()}")
    return done


def openssl_verify(folder: Path, data: bytes, signature: bytes, ca_pem: Path) -> bool:
    (folder / "content").write_bytes(data)
    (folder / "sig.p7s").write_bytes(signature)
    done = openssl("cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER",
                   "-in", folder / "sig.p7s", "-content", folder / "content",
                   "-CAfile", ca_pem, "-out", folder / "out", check=False)
    return done.returncode == 0 and (folder / "out").read_bytes() == data


def openssl_sign(folder: Path, data: bytes, key: Path, cert: Path) -> bytes:
    (folder / "doc").write_bytes(data)
    openssl("cms", "-sign", "-engine", "gost", "-binary", "-md", "md_gost12_256", "-cades",
            "-nosmimecap", "-outform", "DER", "-in", folder / "doc", "-signer", cert,
            "-inkey", key, "-out", folder / "openssl.p7s")
    return (folder / "openssl.p7s").read_bytes()


def flipped(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def test_our_signature_verifies_with_openssl(tmp_path: Path, signature: bytes,
                                             key_files: dict[str, Path]) -> None:
    assert openssl_verify(tmp_path, DOCUMENT, signature, key_files["ca.pem"])


def test_openssl_detects_tampering_with_our_signature(tmp_path: Path, signature: bytes,
                                                      key_files: dict[str, Path]) -> None:
    assert not openssl_verify(tmp_path, flipped(DOCUMENT, 1000), signature, key_files["ca.pem"])
    assert not openssl_verify(tmp_path, DOCUMENT, flipped(signature, len(signature) - 1),
                              key_files["ca.pem"])


def test_openssl_signature_with_our_key_verifies_with_us(tmp_path: Path,
                                                         key_files: dict[str, Path],
                                                         trust: TrustStore) -> None:
    signature = openssl_sign(tmp_path, DOCUMENT, key_files["mo.key"], key_files["mo.pem"])
    report = verify_detached(DOCUMENT, signature, trust=trust)
    assert "ОГРН=1027700132195" in report.signer_subject
    with pytest.raises(SignatureInvalid) as caught:
        verify_detached(flipped(DOCUMENT, 7), signature, trust=trust)
    assert caught.value.code == "digest_mismatch"
    with pytest.raises(SignatureInvalid) as caught:
        verify_detached(DOCUMENT, flipped(signature, len(signature) - 1), trust=trust)
    assert caught.value.code == "bad_signature"


def test_openssl_accepts_our_key_and_certificate_files(key_files: dict[str, Path]) -> None:
    openssl("pkey", "-engine", "gost", "-in", key_files["mo.key"], "-noout")
    done = openssl("verify", "-engine", "gost", "-CAfile", key_files["ca.pem"],
                   key_files["mo.pem"])
    assert b"OK" in done.stdout


def test_the_openssl_back_end_round_trips_through_both_verifiers(
        tmp_path: Path, key_files: dict[str, Path], trust: TrustStore) -> None:
    signer = load_signer("openssl", key_file=key_files["mo.key"],
                         certificate_file=key_files["mo.pem"])
    signature = signer.sign(DOCUMENT)
    verify_detached(DOCUMENT, signature, trust=trust)
    assert openssl_verify(tmp_path, DOCUMENT, signature, key_files["ca.pem"])


@pytest.mark.parametrize(("algorithm", "paramset"), [
    ("gost2012_256", "A"), ("gost2012_256", "B"), ("gost2012_256", "C"),
    ("gost2012_256", "XA"), ("gost2012_256", "XB"), ("gost2012_256", "TCA"),
    ("gost2012_256", "TCB"), ("gost2012_256", "TCC"), ("gost2012_256", "TCD"),
    ("gost2012_512", "A"), ("gost2012_512", "B"), ("gost2012_512", "C"),
])
def test_openssl_keys_on_every_parameter_set_verify_with_us(tmp_path: Path, algorithm: str,
                                                            paramset: str) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    openssl("genpkey", "-engine", "gost", "-algorithm", algorithm, "-pkeyopt",
            f"paramset:{paramset}", "-out", key)
    digest = "-md_gost12_512" if algorithm.endswith("512") else "-md_gost12_256"
    openssl("req", "-engine", "gost", "-x509", "-new", "-key", key, "-subj",
            f"/CN=OpenSSL {algorithm} {paramset}/O=Interop", "-days", "2", digest,
            *SELF_SIGNED_USAGE, "-out", cert)
    md = "md_gost12_512" if algorithm.endswith("512") else "md_gost12_256"
    (tmp_path / "doc").write_bytes(DOCUMENT)
    openssl("cms", "-sign", "-engine", "gost", "-binary", "-md", md, "-nosmimecap",
            "-outform", "DER", "-in", tmp_path / "doc", "-signer", cert, "-inkey", key,
            "-out", tmp_path / "s.p7s")
    trust = TrustStore.from_file(cert)
    report = verify_detached(DOCUMENT, (tmp_path / "s.p7s").read_bytes(), trust=trust)
    assert report.signer_subject.startswith(f"CN=OpenSSL {algorithm}")
    # and the other way: our pure signer with OpenSSL's key file, checked by OpenSSL
    if algorithm == "gost2012_256":
        ours = PureSigner(load_pem(key, cert)).sign(DOCUMENT)
        assert openssl_verify(tmp_path, DOCUMENT, ours, cert)


def openssl_chain(tmp_path: Path, *, ca_usage: str, ee_usage: str) -> tuple[Path, Path, Path]:
    """A CA and an end certificate made by OpenSSL: ``(ca.pem, ee.key, ee.pem)``."""
    ca_key, ca_cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    ee_key, ee_csr, ee_cert = tmp_path / "ee.key", tmp_path / "ee.csr", tmp_path / "ee.pem"
    for key in (ca_key, ee_key):
        openssl("genpkey", "-engine", "gost", "-algorithm", "gost2012_256", "-pkeyopt",
                "paramset:A", "-out", key)
    openssl("req", "-engine", "gost", "-x509", "-new", "-key", ca_key, "-subj", "/CN=OpenSSL CA",
            "-days", "2", "-md_gost12_256", "-addext", f"keyUsage={ca_usage}", "-out", ca_cert)
    openssl("req", "-engine", "gost", "-new", "-key", ee_key, "-subj", "/CN=OpenSSL EE",
            "-md_gost12_256", "-out", ee_csr)
    (tmp_path / "ee.ext").write_text(f"keyUsage={ee_usage}\n", encoding="utf-8")
    openssl("x509", "-engine", "gost", "-req", "-in", ee_csr, "-CA", ca_cert, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "1", "-md_gost12_256", "-extfile", tmp_path / "ee.ext",
            "-out", ee_cert)
    return ca_cert, ee_key, ee_cert


def test_a_chain_issued_by_openssl_is_trusted_by_us(tmp_path: Path, trust: TrustStore) -> None:
    ca_cert, ee_key, ee_cert = openssl_chain(
        tmp_path, ca_usage="critical,keyCertSign,cRLSign",
        ee_usage="critical,digitalSignature,nonRepudiation")
    signature = openssl_sign(tmp_path, DOCUMENT, ee_key, ee_cert)
    report = verify_detached(DOCUMENT, signature, trust=TrustStore.from_file(ca_cert))
    assert report.issuer_subject == "CN=OpenSSL CA"
    with pytest.raises(SignatureInvalid) as caught:
        verify_detached(DOCUMENT, signature, trust=trust)  # our CA did not issue it
    assert caught.value.code == "untrusted_certificate"


def test_our_cms_is_accepted_by_openssl_with_signer_attributes_printed(
        tmp_path: Path, signature: bytes, mo: KeyPair) -> None:
    (tmp_path / "sig.p7s").write_bytes(signature)
    done = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", tmp_path / "sig.p7s")
    printed = done.stdout.decode()
    for attribute in ("contentType", "signingTime", "messageDigest",
                      "id-smime-aa-signingCertificateV2"):
        assert attribute in printed
    assert "eContent: <ABSENT>" in printed
