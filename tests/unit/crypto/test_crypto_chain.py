"""The rules of a certification path a PKI expects (``medsign.crypto.chain``), each with the
code and the certificate it names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from medsign.crypto import KeyPair, SignatureInvalid, TrustStore, issue_certificate, make_ca
from medsign.crypto.chain import KNOWN_EXTENSIONS
from medsign.crypto.keys import DEFAULT, Profile
from tests.unit.crypto.crypto_support import NOW

SIGNER_TOOL = "1.2.643.100.111"  # subjectSignTool: a UTF8String naming the СКЗИ
TOOL_VALUE = b"\x0c\x0fCryptoPro CSP 5"
UNKNOWN = "1.2.643.100.999"  # nobody's extension
NULL = b"\x05\x00"


def refusal(trust: TrustStore, cert: KeyPair, *intermediates: KeyPair) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as caught:
        trust.verify_certificate(cert.certificate_der, at=NOW,
                                 intermediates=[i.certificate_der for i in intermediates])
    return caught.value


def store(*anchors: KeyPair) -> TrustStore:
    return TrustStore.from_certificates([a.certificate_der for a in anchors])


def end(ca: KeyPair, name: str = "Врач", profile: Profile = DEFAULT) -> KeyPair:
    return issue_certificate(ca, common_name=name, organization="ГБУЗ", profile=profile)


def sub_ca(ca: KeyPair, name: str, profile: Profile = DEFAULT) -> KeyPair:
    return issue_certificate(ca, common_name=name, organization="УЦ", intermediate=True,
                             profile=profile, valid_days=1000)


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return make_ca("Корневой УЦ", organization="УЦ")


def test_a_root_without_key_cert_sign_cannot_issue() -> None:
    root = make_ca("УЦ без keyCertSign", organization="УЦ",
                   profile=Profile(usage=frozenset({"crl_sign", "digital_signature"})))
    error = refusal(store(root), end(root))
    assert error.code == "ca_not_allowed"
    assert "УЦ без keyCertSign" in error.message and "keyCertSign" in error.message


def test_a_ca_without_key_usage_at_all_cannot_issue(root: KeyPair) -> None:
    bare = sub_ca(root, "УЦ без keyUsage", Profile(usage=frozenset()))
    error = refusal(store(root), end(bare), bare)
    assert error.code == "ca_not_allowed" and "нет расширения keyUsage" in error.message


def test_an_intermediate_without_key_cert_sign_cannot_issue(root: KeyPair) -> None:
    weak = sub_ca(root, "Промежуточный без keyCertSign",
                  Profile(usage=frozenset({"digital_signature", "crl_sign"})))
    error = refusal(store(root), end(weak), weak)
    assert error.code == "ca_not_allowed" and "Промежуточный без keyCertSign" in error.message


def test_an_end_certificate_acting_as_issuer_is_named(root: KeyPair) -> None:
    doctor = end(root, "Врач-выдумщик")
    error = refusal(store(root), end(doctor, "Подделка"), doctor)
    assert error.code == "ca_not_allowed" and "Врач-выдумщик" in error.message


def test_path_length_zero_allows_end_certificates_but_no_intermediate() -> None:
    root = make_ca("УЦ с pathLen 0", organization="УЦ", profile=Profile(path_length=0))
    store(root).verify_certificate(end(root).certificate_der, at=NOW)
    middle = sub_ca(root, "Лишний промежуточный")
    error = refusal(store(root), end(middle), middle)
    assert error.code == "path_too_long"
    assert "УЦ с pathLen 0" in error.message and "в цепочке: 1" in error.message


def test_path_length_counts_every_intermediate_below_the_ca(root: KeyPair) -> None:
    limited = sub_ca(root, "УЦ с pathLen 1", Profile(path_length=1))
    second = sub_ca(limited, "Второй уровень")
    store(root).verify_certificate(end(second).certificate_der, at=NOW,
                                   intermediates=[limited.certificate_der,
                                                  second.certificate_der])
    third = sub_ca(second, "Третий уровень")
    error = refusal(store(root), end(third), limited, second, third)
    assert error.code == "path_too_long" and "УЦ с pathLen 1" in error.message


def test_an_unknown_critical_extension_is_refused_anywhere_in_the_path(root: KeyPair) -> None:
    odd = Profile(extra=((UNKNOWN, True, NULL),))
    error = refusal(store(root), end(root, "Странный", odd))
    assert error.code == "unknown_critical_extension"
    assert UNKNOWN in error.message and "Странный" in error.message
    odd_ca = sub_ca(root, "Странный УЦ", odd)
    error = refusal(store(root), end(odd_ca), odd_ca)
    assert error.code == "unknown_critical_extension" and "Странный УЦ" in error.message


def test_an_unknown_extension_that_is_not_critical_is_ignored(root: KeyPair) -> None:
    quiet = end(root, profile=Profile(extra=((UNKNOWN, False, NULL),)))
    store(root).verify_certificate(quiet.certificate_der, at=NOW)


def test_the_russian_sign_tool_extensions_are_understood_even_critical(root: KeyPair) -> None:
    assert {SIGNER_TOOL, "1.2.643.100.112"} <= KNOWN_EXTENSIONS.keys()
    tooled = end(root, profile=Profile(extra=((SIGNER_TOOL, True, TOOL_VALUE),)))
    store(root).verify_certificate(tooled.certificate_der, at=NOW)


@pytest.mark.parametrize("usage", [frozenset(), frozenset({"key_encipherment"}),
                                   frozenset({"key_agreement", "data_encipherment"})])
def test_an_end_certificate_must_be_for_signatures(root: KeyPair, usage: frozenset[str]) -> None:
    error = refusal(store(root), end(root, "Шифровальщик", Profile(usage=usage)))
    assert error.code == "key_usage_not_allowed" and "Шифровальщик" in error.message


@pytest.mark.parametrize("usage", [frozenset({"digital_signature"}),
                                   frozenset({"non_repudiation"})])
def test_either_signing_usage_suffices(root: KeyPair, usage: frozenset[str]) -> None:
    store(root).verify_certificate(end(root, profile=Profile(usage=usage)).certificate_der,
                                   at=NOW)


def test_the_usual_chains_still_pass(root: KeyPair) -> None:
    middle = sub_ca(root, "УЦ оператора")
    store(root).verify_certificate(end(middle).certificate_der, at=NOW,
                                   intermediates=[middle.certificate_der])
    store(middle).verify_certificate(end(middle).certificate_der, at=NOW)


def test_validity_is_still_checked_after_the_rules(root: KeyPair) -> None:
    old = issue_certificate(root, common_name="Старый", organization="ГБУЗ",
                            not_before=NOW - timedelta(days=400), valid_days=365)
    assert refusal(store(root), old).code == "certificate_expired"
