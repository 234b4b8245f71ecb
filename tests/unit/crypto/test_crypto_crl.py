"""Revocation lists: parsing, which list speaks for which CA, and revocation in the path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asn1crypto import pem, x509

from medsign.crypto import (
    CryptoError,
    KeyPair,
    SignatureInvalid,
    TrustStore,
    issue_certificate,
    make_ca,
)
from medsign.crypto.certs import parse_certificate
from medsign.crypto.crl import FixedLists, RevocationList, parse_crl
from medsign.crypto.keys import Profile, make_crl
from tests.unit.crypto.crypto_support import NOW

HOUR = timedelta(hours=1)


def serial(pair: KeyPair) -> int:
    return int(parse_certificate(pair.certificate_der).asn.serial_number)


def checked(anchor: KeyPair, *lists: bytes) -> tuple[TrustStore, FixedLists]:
    source = FixedLists(parse_crl(der) for der in lists)
    return TrustStore.from_certificates([anchor.certificate_der]).with_revocation(source), source


def refusal(trust: TrustStore, cert: KeyPair, **kw: object) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as caught:
        trust.verify_certificate(cert.certificate_der, at=kw.pop("at", NOW),  # type: ignore[arg-type]
                                 **kw)  # type: ignore[arg-type]
    return caught.value


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return make_ca("УЦ со списком отзыва", organization="УЦ")


@pytest.fixture(scope="module")
def revoked_one(root: KeyPair) -> KeyPair:
    return issue_certificate(root, common_name="Уволенный врач", organization="ГБУЗ")


@pytest.fixture(scope="module")
def kept(root: KeyPair) -> KeyPair:
    return issue_certificate(root, common_name="Работающий врач", organization="ГБУЗ")


def test_a_revoked_certificate_is_refused_with_its_date(root: KeyPair, revoked_one: KeyPair,
                                                        kept: KeyPair) -> None:
    when = NOW - 5 * HOUR
    trust, source = checked(root, make_crl(root, revoked=[(serial(revoked_one), when)],
                                           this_update=NOW - HOUR))
    error = refusal(trust, revoked_one)
    assert error.code == "certificate_revoked"
    assert "Уволенный врач" in error.message and f"{when:%d.%m.%Y %H:%M}" in error.message
    trust.verify_certificate(kept.certificate_der, at=NOW)
    assert source.rejected == {}


def test_a_check_before_the_revocation_date_passes(root: KeyPair, revoked_one: KeyPair) -> None:
    trust, _ = checked(root, make_crl(root, revoked=[(serial(revoked_one), NOW)]))
    trust.verify_certificate(revoked_one.certificate_der, at=NOW - HOUR)
    assert refusal(trust, revoked_one).code == "certificate_revoked"


def test_without_a_source_nothing_is_revoked(root: KeyPair, revoked_one: KeyPair) -> None:
    TrustStore.from_certificates([root.certificate_der]).verify_certificate(
        revoked_one.certificate_der, at=NOW)


def test_an_intermediate_revoked_by_the_root_takes_its_certificates_with_it(
        root: KeyPair) -> None:
    middle = issue_certificate(root, common_name="Отозванный УЦ", organization="УЦ",
                               intermediate=True)
    doctor = issue_certificate(middle, common_name="Врач", organization="ГБУЗ")
    trust, _ = checked(root, make_crl(root, revoked=[(serial(middle), NOW - HOUR)]),
                       make_crl(middle))
    error = refusal(trust, doctor, intermediates=[middle.certificate_der])
    assert error.code == "certificate_revoked" and "Отозванный УЦ" in error.message


def test_the_intermediate_s_own_list_revokes_its_certificates(root: KeyPair) -> None:
    middle = issue_certificate(root, common_name="УЦ МО", organization="УЦ", intermediate=True)
    doctor = issue_certificate(middle, common_name="Врач", organization="ГБУЗ")
    trust, _ = checked(root, make_crl(root), make_crl(middle, revoked=[(serial(doctor),
                                                                         NOW - HOUR)]))
    assert refusal(trust, doctor, intermediates=[middle.certificate_der]).code == \
        "certificate_revoked"


def test_a_list_with_a_bad_signature_is_not_used_and_the_source_hears_why(
        root: KeyPair, revoked_one: KeyPair) -> None:
    forged = bytearray(make_crl(root, revoked=[(serial(revoked_one), NOW - HOUR)]))
    forged[-1] ^= 0x01
    trust, source = checked(root, bytes(forged))
    trust.verify_certificate(revoked_one.certificate_der, at=NOW)
    assert list(source.rejected.values()) == [
        "подпись списка не подтверждается ключом «C=RU, O=УЦ, CN=УЦ со списком отзыва»"]


def test_a_list_signed_by_another_key_under_the_same_name_is_not_used(
        root: KeyPair, revoked_one: KeyPair) -> None:
    impostor = KeyPair(make_ca("x", organization="x").private_key, root.certificate_der)
    trust, source = checked(root, make_crl(impostor, revoked=[(serial(revoked_one),
                                                                NOW - HOUR)]))
    trust.verify_certificate(revoked_one.certificate_der, at=NOW)
    assert len(source.rejected) == 1


def test_a_ca_without_crl_sign_cannot_revoke() -> None:
    ca = make_ca("УЦ без cRLSign", organization="УЦ",
                 profile=Profile(usage=frozenset({"key_cert_sign", "digital_signature"})))
    doctor = issue_certificate(ca, common_name="Врач", organization="ГБУЗ")
    trust, source = checked(ca, make_crl(ca, revoked=[(serial(doctor), NOW - HOUR)]))
    trust.verify_certificate(doctor.certificate_der, at=NOW)
    assert "cRLSign" in next(iter(source.rejected.values()))


def test_another_ca_s_list_is_not_consulted(root: KeyPair, revoked_one: KeyPair) -> None:
    other = make_ca("Другой УЦ", organization="УЦ")
    trust, source = checked(root, make_crl(other, revoked=[(serial(revoked_one), NOW - HOUR)]))
    trust.verify_certificate(revoked_one.certificate_der, at=NOW)
    assert source.rejected == {}


def test_a_stale_list_is_still_used(root: KeyPair, revoked_one: KeyPair) -> None:
    old = make_crl(root, revoked=[(serial(revoked_one), NOW - 30 * 24 * HOUR)],
                   this_update=NOW - 20 * 24 * HOUR, next_update=NOW - 13 * 24 * HOUR)
    assert parse_crl(old).stale(NOW) and not parse_crl(old).stale(NOW - 14 * 24 * HOUR)
    trust, _ = checked(root, old)
    assert refusal(trust, revoked_one).code == "certificate_revoked"


def test_the_newest_list_of_a_ca_decides(root: KeyPair, revoked_one: KeyPair) -> None:
    """A certificate on hold in an older list and released in the newer one is valid."""
    held = make_crl(root, revoked=[(serial(revoked_one), NOW - 3 * HOUR)],
                    this_update=NOW - 2 * HOUR, number=1)
    released = make_crl(root, this_update=NOW - HOUR, number=2)
    trust, _ = checked(root, released, held)
    trust.verify_certificate(revoked_one.certificate_der, at=NOW)


def test_a_list_reads_from_der_and_pem(root: KeyPair, revoked_one: KeyPair) -> None:
    der = make_crl(root, revoked=[(serial(revoked_one), NOW - HOUR)], this_update=NOW)
    for data in (der, pem.armor("X509 CRL", der)):
        parsed = parse_crl(data)
        assert isinstance(parsed, RevocationList) and parsed.der == der
        assert parsed.issuer == "C=RU, O=УЦ, CN=УЦ со списком отзыва"
        assert parsed.this_update == NOW and parsed.next_update == NOW + 7 * 24 * HOUR
        assert parsed.revocation(serial(revoked_one)) == (NOW - HOUR).replace(microsecond=0)


@pytest.mark.parametrize(("oid", "value", "named"), [
    ("2.5.29.27", 1, "deltaCRLIndicator"),
    ("2.5.29.28", {"only_contains_user_certs": True}, "issuingDistributionPoint"),
    ("1.2.643.100.999", b"\x05\x00", "1.2.643.100.999")])
def test_a_list_with_an_unknown_critical_extension_is_unusable(root: KeyPair, oid: str,
                                                               value: object,
                                                               named: str) -> None:
    with pytest.raises(CryptoError) as caught:
        parse_crl(make_crl(root, extra=((oid, True, value),)))
    assert caught.value.code == "crl_unsupported" and named in caught.value.message
    parse_crl(make_crl(root, extra=(("1.2.643.100.999", False, b"\x05\x00"),)))


def test_entry_extensions_are_read_and_an_unknown_critical_one_makes_the_list_unusable(
        root: KeyPair, revoked_one: KeyPair) -> None:
    entry = [(serial(revoked_one), NOW - HOUR)]
    reasoned = parse_crl(make_crl(root, revoked=entry, entry_extra=(
        ("2.5.29.21", False, "key_compromise"), ("2.5.29.24", False, NOW - 2 * HOUR))))
    assert reasoned.revocation(serial(revoked_one)) == (NOW - HOUR).replace(microsecond=0)
    issuer = x509.GeneralNames([x509.GeneralName(
        "directory_name", x509.Name.build({"common_name": "Другой УЦ"}))])
    for oid, value, named in [("2.5.29.29", issuer, "certificateIssuer"),
                              ("1.2.643.100.999", b"\x05\x00", "1.2.643.100.999")]:
        with pytest.raises(CryptoError) as caught:
            parse_crl(make_crl(root, revoked=entry, entry_extra=((oid, True, value),)))
        assert caught.value.code == "crl_unsupported"
        assert f"записи {named}" in caught.value.message


def test_many_entries_and_negative_serials_are_read(root: KeyPair) -> None:
    entries = [(n * 7919 + 1, NOW - HOUR) for n in range(300)] + [(-5, NOW), (2**158 + 3, NOW)]
    parsed = parse_crl(make_crl(root, revoked=entries))
    assert len(parsed.revoked) == 302 and parsed.revocation(7919 * 299 + 1) == NOW - HOUR
    assert parsed.revocation(-5) == NOW and parsed.revocation(2**158 + 3) == NOW
    assert parsed.revocation(2) is None


def test_a_damaged_entry_is_an_invalid_list(root: KeyPair, revoked_one: KeyPair) -> None:
    der = bytearray(make_crl(root, revoked=[(serial(revoked_one), NOW - HOUR)]))
    date = (NOW - HOUR).strftime("%y%m%d%H%M%SZ").encode()
    at = der.find(date)
    der[at - 2] = 0x04  # the date's UTCTime tag becomes an OCTET STRING
    with pytest.raises(CryptoError) as caught:
        parse_crl(bytes(der))
    assert caught.value.code == "invalid_crl" and "повреждена" in caught.value.message


@pytest.mark.parametrize("data", [b"", b"not a list", b"\x30\x03\x02\x01\x01",
                                  pem.armor("CERTIFICATE", b"\x30\x00")])
def test_garbage_is_no_list(data: bytes) -> None:
    with pytest.raises(CryptoError) as caught:
        parse_crl(data)
    assert caught.value.code == "invalid_crl"
