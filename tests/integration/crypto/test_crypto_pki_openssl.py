"""The chain rules and the revocation lists agree with OpenSSL's GOST engine.

Skipped locally without ``libengine-gost-openssl`` (as the other interop tests); under
``CI=true`` its absence fails the run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem

from medsign.crypto import KeyPair, SignatureInvalid, TrustStore, issue_certificate, make_ca
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import certificate_pem, make_crl
from tests.integration.crypto.test_crypto_openssl_interop import openssl, openssl_chain
from tests.unit.crypto.crypto_support import require_openssl_gost


@pytest.fixture(autouse=True)
def _engine() -> None:
    require_openssl_gost()


def write(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


def openssl_verify_with_crl(folder: Path, ca: KeyPair, crl_der: bytes,
                            cert: KeyPair) -> tuple[int, str]:
    ca_pem = write(folder, "ca.pem", certificate_pem(ca.certificate_der))
    crl_pem = write(folder, "list.crl", pem.armor("X509 CRL", crl_der))
    cert_pem = write(folder, "cert.pem", certificate_pem(cert.certificate_der))
    done = openssl("verify", "-engine", "gost", "-crl_check", "-CAfile", ca_pem, "-CRLfile",
                   crl_pem, cert_pem, check=False)
    return done.returncode, (done.stdout + done.stderr).decode()


def test_openssl_reads_our_list_and_honours_its_revocations(tmp_path: Path) -> None:
    ca = make_ca("УЦ для OpenSSL", organization="УЦ")
    gone = issue_certificate(ca, common_name="Отозванный", organization="ГБУЗ")
    kept = issue_certificate(ca, common_name="Действующий", organization="ГБУЗ")
    serial = parse_certificate(gone.certificate_der).asn.serial_number
    crl = make_crl(ca, revoked=[(serial, datetime.now(UTC) - timedelta(hours=1))])
    printed = openssl("crl", "-inform", "DER", "-in", write(tmp_path, "l.der", crl),
                      "-noout", "-text").stdout.decode()
    assert "Version 2" in printed and format(serial, "X") in printed
    assert "GOST R 34.10-2012 with GOST R 34.11-2012 (256 bit)" in printed
    code, said = openssl_verify_with_crl(tmp_path, ca, crl, gone)
    assert code != 0 and "certificate revoked" in said
    code, said = openssl_verify_with_crl(tmp_path, ca, crl, kept)
    assert code == 0, said


def test_openssl_refuses_a_list_whose_signature_is_wrong_as_we_ignore_it(
        tmp_path: Path) -> None:
    ca = make_ca("УЦ", organization="УЦ")
    kept = issue_certificate(ca, common_name="Врач", organization="ГБУЗ")
    forged = bytearray(make_crl(ca))
    forged[-1] ^= 0x01
    code, said = openssl_verify_with_crl(tmp_path, ca, bytes(forged), kept)
    assert code != 0 and "CRL signature failure" in said


def test_a_ca_made_by_openssl_without_key_cert_sign_is_refused_by_both(tmp_path: Path) -> None:
    ca_cert, _, ee_cert = openssl_chain(tmp_path, ca_usage="critical,digitalSignature,cRLSign",
                                        ee_usage="critical,digitalSignature")
    done = openssl("verify", "-engine", "gost", "-CAfile", ca_cert, ee_cert, check=False)
    assert done.returncode != 0
    trust = TrustStore.from_file(ca_cert)
    with pytest.raises(SignatureInvalid) as caught:
        trust.verify_certificate(pem.unarmor(ee_cert.read_bytes())[2],
                                 at=datetime.now(UTC))
    assert caught.value.code == "ca_not_allowed" and "OpenSSL CA" in caught.value.message


def test_an_end_certificate_made_by_openssl_for_encryption_only_is_refused(
        tmp_path: Path) -> None:
    ca_cert, _, ee_cert = openssl_chain(tmp_path, ca_usage="critical,keyCertSign,cRLSign",
                                        ee_usage="critical,keyEncipherment")
    with pytest.raises(SignatureInvalid) as caught:
        TrustStore.from_file(ca_cert).verify_certificate(pem.unarmor(ee_cert.read_bytes())[2],
                                                         at=datetime.now(UTC))
    assert caught.value.code == "key_usage_not_allowed"
