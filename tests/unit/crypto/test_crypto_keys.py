"""Development keys and certificates: what they contain, how they are stored and reused."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem

from medsign.crypto import (
    CryptoError,
    KeyPair,
    TrustStore,
    generate_private_key,
    gost,
    init_development_keys,
    issue_certificate,
    load_pem,
    make_ca,
    oids,
    save_pem,
)
from medsign.crypto.certs import parse_certificate
from tests.unit.crypto.crypto_support import NOW


def test_a_private_key_is_pkcs8_on_the_cryptopro_a_set() -> None:
    key = gost.decode_private_key(generate_private_key())
    assert key.paramset == oids.CRYPTOPRO_A and key.curve.size == 32


def test_the_ca_is_self_signed_and_may_issue(ca: KeyPair) -> None:
    cert = parse_certificate(ca.certificate_der)
    assert cert.is_ca and cert.issued_by(cert)
    assert {"key_cert_sign", "crl_sign"} <= cert.key_usage
    assert (cert.not_after - cert.not_before).days == 3650


def test_a_certificate_made_here_is_valid_from_a_day_back() -> None:
    # a check at a moment taken before the certificate was made (a long test session's start,
    # a request's time) or by a clock behind ours still sees it valid
    made = issue_certificate(make_ca("УЦ", organization="УЦ"), common_name="МО",
                             organization="МО")
    cert = parse_certificate(made.certificate_der)
    assert cert.not_before <= datetime.now(UTC) - timedelta(hours=23)
    assert cert.valid_at(datetime.now(UTC) - timedelta(hours=20))


def test_the_mo_certificate_signs_documents_and_names_ogrn_and_inn(mo: KeyPair,
                                                                   ca: KeyPair) -> None:
    cert = parse_certificate(mo.certificate_der)
    assert cert.key_usage == {"digital_signature", "non_repudiation"}
    assert not cert.is_ca
    assert cert.issued_by(parse_certificate(ca.certificate_der))
    subject = {a["type"].dotted: a["value"] for rdn in cert.asn.subject.chosen for a in rdn}
    assert subject[oids.OGRN].parsed.native == "1027700132195"
    assert subject[oids.INN].parsed.native == "7707083893"
    assert subject[oids.OGRN].parsed.__class__.__name__ == "NumericString"
    sig = cert.asn["signature_algorithm"]
    assert sig["algorithm"].dotted == oids.GOST_256_SIGN and not sig["parameters"].contents


def test_ogrn_and_inn_are_digits_only(ca: KeyPair) -> None:
    with pytest.raises(ValueError, match="ОГРН"):
        issue_certificate(ca, common_name="x", organization="x", ogrn="10277OO")


def test_save_pem_makes_an_owner_only_key_file_and_load_pem_reads_it(
        tmp_path: Path, mo: KeyPair) -> None:
    key, cert = tmp_path / "keys" / "mo.key", tmp_path / "keys" / "mo.pem"
    key.parent.mkdir()
    key.write_text("old")
    key.chmod(0o644)
    save_pem(mo, key, cert)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert load_pem(key, cert) == mo


def test_der_files_load_too(tmp_path: Path, mo: KeyPair) -> None:
    (tmp_path / "k.der").write_bytes(mo.private_key)
    (tmp_path / "c.cer").write_bytes(mo.certificate_der)
    assert load_pem(tmp_path / "k.der", tmp_path / "c.cer") == mo


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path: Path, mo: KeyPair,
                                                              ca: KeyPair) -> None:
    save_pem(KeyPair(ca.private_key, mo.certificate_der), tmp_path / "k", tmp_path / "c")
    with pytest.raises(CryptoError) as caught:
        load_pem(tmp_path / "k", tmp_path / "c")
    assert caught.value.code == "invalid_key"


def test_a_broken_key_file_is_refused(tmp_path: Path, mo: KeyPair) -> None:
    (tmp_path / "k").write_bytes(pem.armor("PRIVATE KEY", b"\x30\x03\x02\x01\x00"))
    (tmp_path / "c").write_bytes(mo.certificate_der)
    with pytest.raises(CryptoError) as caught:
        load_pem(tmp_path / "k", tmp_path / "c")
    assert caught.value.code == "invalid_key"


def test_the_key_pair_repr_shows_the_subject_not_the_key(mo: KeyPair) -> None:
    assert "ГБУЗ" in repr(mo) and mo.private_key.hex() not in repr(mo)


def develop(folder: Path) -> tuple[Path, Path, Path]:
    return init_development_keys(folder, organization="ГБУЗ «Поликлиника № 2»",
                                 ogrn="1027700132195", inn="7707083893")


def test_development_keys_are_a_ca_and_an_mo_pair_it_issued(tmp_path: Path) -> None:
    ca_cert, mo_key, mo_cert = develop(tmp_path / "keys")
    pair = load_pem(mo_key, mo_cert)
    TrustStore.from_file(ca_cert).verify_certificate(pair.certificate_der, at=NOW)
    assert "ОГРН=1027700132195" in parse_certificate(pair.certificate_der).subject
    assert stat.S_IMODE(mo_key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys" / "dev-ca.key").stat().st_mode) == 0o600


def test_development_keys_are_reused_on_the_next_run(tmp_path: Path) -> None:
    paths = develop(tmp_path)
    before = [path.read_bytes() for path in paths]
    assert develop(tmp_path) == paths
    assert [path.read_bytes() for path in paths] == before


def test_a_lost_mo_certificate_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    ca_cert, mo_key, mo_cert = develop(tmp_path)
    ca_before = ca_cert.read_bytes()
    mo_cert.unlink()
    develop(tmp_path)
    assert ca_cert.read_bytes() == ca_before
    TrustStore.from_file(ca_cert).verify_certificate(load_pem(mo_key, mo_cert).certificate_der,
                                                     at=NOW)


def test_a_corrupt_ca_starts_everything_afresh(tmp_path: Path) -> None:
    ca_cert, mo_key, mo_cert = develop(tmp_path)
    (tmp_path / "dev-ca.key").write_text("garbage")
    develop(tmp_path)
    TrustStore.from_file(ca_cert).verify_certificate(load_pem(mo_key, mo_cert).certificate_der,
                                                     at=NOW)
