"""The trust store: who may vouch for a signer certificate, and when."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, x509

from medsign.crypto import (
    CryptoError,
    KeyPair,
    SignatureInvalid,
    TrustStore,
    issue_certificate,
    make_ca,
    verify_detached,
)
from medsign.crypto.keys import certificate_pem
from medsign.crypto.signers import PureSigner
from tests.unit.crypto.crypto_support import DOCUMENT, NOW


def refused(trust: TrustStore, cert: bytes, code: str, **kw: object) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        trust.verify_certificate(cert, at=kw.pop("at", NOW), **kw)  # type: ignore[arg-type]
    assert caught.value.code == code


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return make_ca("Головной УЦ", organization="Минцифры (тест)")


@pytest.fixture(scope="module")
def intermediate(root: KeyPair) -> KeyPair:
    return issue_certificate(root, common_name="УЦ оператора", organization="Минцифры (тест)",
                             intermediate=True, valid_days=1000)


@pytest.fixture(scope="module")
def operator(intermediate: KeyPair) -> KeyPair:
    return issue_certificate(intermediate, common_name="Оператор Госключа",
                             organization="Минцифры (тест)")


def test_a_certificate_issued_by_a_store_ca_is_trusted(trust: TrustStore, mo: KeyPair) -> None:
    trust.verify_certificate(mo.certificate_der, at=NOW)


def test_a_store_certificate_is_trusted_as_itself(trust: TrustStore, ca: KeyPair) -> None:
    trust.verify_certificate(ca.certificate_der, at=NOW)


def test_a_certificate_from_another_ca_is_untrusted(trust: TrustStore, stranger: KeyPair,
                                                    other_ca: KeyPair) -> None:
    refused(trust, stranger.certificate_der, "untrusted_certificate")
    refused(trust, other_ca.certificate_der, "untrusted_certificate")


def test_validity_is_checked_at_the_given_moment(trust: TrustStore, mo: KeyPair,
                                                 expired: KeyPair) -> None:
    refused(trust, expired.certificate_der, "certificate_expired")
    refused(trust, mo.certificate_der, "certificate_expired", at=NOW + timedelta(days=366))
    refused(trust, mo.certificate_der, "certificate_expired", at=NOW - timedelta(days=1))


def test_the_ca_must_be_valid_too(trust: TrustStore, ca: KeyPair) -> None:
    outliving = issue_certificate(ca, common_name="Долгий", organization="МО", valid_days=5000)
    trust.verify_certificate(outliving.certificate_der, at=NOW + timedelta(days=3000))
    refused(trust, outliving.certificate_der, "certificate_expired",
            at=NOW + timedelta(days=3700))


def test_a_chain_through_an_intermediate_in_the_cms_is_trusted(
        root: KeyPair, intermediate: KeyPair, operator: KeyPair) -> None:
    trust = TrustStore.from_certificates([root.certificate_der])
    refused(trust, operator.certificate_der, "untrusted_certificate")
    trust.verify_certificate(operator.certificate_der, at=NOW,
                             intermediates=[intermediate.certificate_der])


def test_a_chain_through_an_intermediate_in_the_store_is_trusted(
        intermediate: KeyPair, operator: KeyPair) -> None:
    TrustStore.from_certificates([intermediate.certificate_der]).verify_certificate(
        operator.certificate_der, at=NOW)


def test_an_end_entity_certificate_cannot_act_as_a_ca(mo: KeyPair) -> None:
    forged = issue_certificate(mo, common_name="Подделка", organization="МО")
    trust = TrustStore.from_certificates([mo.certificate_der])
    refused(trust, forged.certificate_der, "ca_not_allowed")


def test_a_certificate_claiming_a_store_ca_as_issuer_but_signed_by_another_key_fails(
        ca: KeyPair, trust: TrustStore) -> None:
    impostor_ca = KeyPair(make_ca("x", organization="x").private_key, ca.certificate_der)
    forged = issue_certificate(impostor_ca, common_name="Подделка", organization="МО")
    refused(trust, forged.certificate_der, "untrusted_certificate")


def test_an_intermediate_chain_is_followed_into_the_signature(
        root: KeyPair, intermediate: KeyPair, operator: KeyPair) -> None:
    """A CMS whose certificates include the intermediate verifies against the root alone."""
    signature = PureSigner(operator).sign(DOCUMENT)
    info = cms.ContentInfo.load(signature)
    signed = info["content"]
    signed["certificates"] = [
        *signed["certificates"],
        cms.CertificateChoices("certificate", x509.Certificate.load(
            intermediate.certificate_der)),
    ]
    info["content"] = signed
    trust = TrustStore.from_certificates([root.certificate_der])
    report = verify_detached(DOCUMENT, info.dump(), trust=trust)
    assert "Оператор Госключа" in report.signer_subject


def test_the_store_loads_from_pem_and_from_files(tmp_path: Path, ca: KeyPair,
                                                 other_ca: KeyPair, stranger: KeyPair) -> None:
    bundle = certificate_pem(ca.certificate_der) + b"\n" + certificate_pem(
        other_ca.certificate_der)
    (tmp_path / "bundle.pem").write_bytes(bundle)
    (tmp_path / "ca.cer").write_bytes(other_ca.certificate_der)
    for store in (TrustStore.from_pem(bundle), TrustStore.from_file(tmp_path / "bundle.pem"),
                  TrustStore.from_file(tmp_path / "ca.cer")):
        store.verify_certificate(stranger.certificate_der, at=NOW)
    assert TrustStore.from_pem(bundle).certificates == [ca.certificate_der,
                                                        other_ca.certificate_der]


@pytest.mark.parametrize("content", [b"", b"not a pem", b"-----BEGIN CERTIFICATE-----\nQUJD\n"
                                     b"-----END CERTIFICATE-----\n"])
def test_an_empty_or_broken_store_is_refused(content: bytes) -> None:
    with pytest.raises(CryptoError) as caught:
        TrustStore.from_pem(content)
    assert caught.value.code == "invalid_certificate"


def test_a_naive_moment_is_a_programming_error(trust: TrustStore, mo: KeyPair) -> None:
    with pytest.raises(ValueError, match="timezone"):
        trust.verify_certificate(mo.certificate_der, at=NOW.replace(tzinfo=None))


def test_an_empty_store_runs_but_trusts_nobody() -> None:
    from datetime import UTC, datetime

    import pytest

    from medsign.crypto import SignatureInvalid, TrustStore, make_ca

    store = TrustStore.empty()
    ca = make_ca("Чужой УЦ", organization="Чужие")
    with pytest.raises(SignatureInvalid) as caught:
        store.verify_certificate(ca.certificate_der, at=datetime.now(UTC))
    assert caught.value.code == "untrusted_certificate"
