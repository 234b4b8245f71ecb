"""Detached CMS signatures: what a signature carries, and every way a bad one is rejected."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import pytest
from asn1crypto import cms, core

from medsign.crypto import KeyPair, SignatureInvalid, TrustStore, gost, oids, verify_detached
from medsign.crypto import cms as gost_cms
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import check_pair
from medsign.crypto.signers import PureSigner
from tests.unit.crypto.crypto_support import DOCUMENT, NOW


def rejected(code: str, data: bytes, signature: bytes, trust: TrustStore | None,
             **kw: object) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as caught:
        verify_detached(data, signature, trust=trust, **kw)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.message
    return caught.value


def edit(signature: bytes, change: Callable[[cms.SignedData], object]) -> bytes:
    """Applies ``change`` and re-encodes bottom-up: ``dump(force=True)`` would re-encode the
    certificates too, which asn1crypto cannot do for GOST keys."""
    info = cms.ContentInfo.load(signature)
    signed = info["content"]
    change(signed)
    info["content"] = signed
    return bytes(info.dump())


def edit_signer(signature: bytes, field: str, value: object) -> bytes:
    def change(signed: cms.SignedData) -> None:
        signer = signed["signer_infos"][0]
        if value is None:
            del signer[field]
        else:
            signer[field] = value
        signed["signer_infos"] = cms.SignerInfos([signer])
    return edit(signature, change)


def sign_with_attributes(pair: KeyPair, attributes: cms.CMSAttributes) -> bytes:
    key, cert = check_pair(pair)
    value = gost.sign_digest(key, gost.streebog(attributes.dump()))
    return gost_cms.signed_data(cert, attributes, value, oids.STREEBOG_256, oids.GOST_256_KEY)


# --- a good signature ---------------------------------------------------------------------

def test_a_signature_verifies_and_reports_its_signer(signature: bytes, trust: TrustStore,
                                                     mo: KeyPair) -> None:
    report = verify_detached(DOCUMENT, signature, trust=trust)
    assert report.signer_subject == ("C=RU, O=ГБУЗ «Городская поликлиника № 1», "
                                     "CN=ГБУЗ «Городская поликлиника № 1», "
                                     "ОГРН=1027700132195, ИНН=7707083893")
    assert report.issuer_subject == "C=RU, O=Тестовый УЦ, CN=Тестовый УЦ"
    assert report.signing_time == NOW
    assert report.digest_algorithm == "1.2.643.7.1.1.2.2"
    assert report.signature_algorithm == "1.2.643.7.1.1.1.1"
    assert report.message_digest_hex == gost.streebog(DOCUMENT).hex()
    assert report.certificate_der == mo.certificate_der
    assert report.signer_serial == parse_certificate(mo.certificate_der).serial_hex
    assert report.not_before < NOW < report.not_after


def test_the_signature_is_detached_der_with_the_four_signed_attributes(
        signature: bytes, mo: KeyPair) -> None:
    info = cms.ContentInfo.load(signature, strict=True)
    signed = info["content"]
    signer = signed["signer_infos"][0]
    assert signer.dump(force=True) == signer.dump()  # canonical DER, nothing to re-encode
    assert signed["encap_content_info"]["content_type"].native == "data"
    assert signed["encap_content_info"]["content"].native is None
    assert [c.chosen.dump() for c in signed["certificates"]] == [mo.certificate_der]
    attributes = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert list(attributes) == ["content_type", "signing_time", "message_digest",
                                "signing_certificate_v2"]
    assert attributes["content_type"].native == "data"
    assert attributes["signing_time"].native == NOW
    assert attributes["message_digest"].native == gost.streebog(DOCUMENT)
    ess = attributes["signing_certificate_v2"]["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].dotted == oids.STREEBOG_256
    assert ess["cert_hash"].native == gost.streebog(mo.certificate_der)
    assert ess["issuer_serial"]["serial_number"].native == \
        parse_certificate(mo.certificate_der).asn.serial_number


def test_the_document_is_signed_as_binary_line_ends_and_all(signer: PureSigner,
                                                            trust: TrustStore) -> None:
    crlf = b"line one\r\nline two\r\n"
    signature = signer.sign(crlf)
    verify_detached(crlf, signature, trust=trust)
    rejected("digest_mismatch", crlf.replace(b"\r\n", b"\n"), signature, trust)


@pytest.mark.parametrize("encode", [
    pytest.param(lambda der: base64.b64encode(der), id="one-line base64 (.p7s)"),
    pytest.param(lambda der: base64.b64encode(der) + b"\r\n", id="base64 with CRLF"),
    pytest.param(lambda der: base64.encodebytes(der), id="base64 in 76 columns"),
    pytest.param(lambda der: b"-----BEGIN CMS-----\n" + base64.encodebytes(der)
                 + b"-----END CMS-----\n", id="PEM"),
])
def test_textual_forms_of_the_signature_are_accepted(encode, signature: bytes,  # type: ignore[no-untyped-def]
                                                     trust: TrustStore) -> None:
    assert verify_detached(DOCUMENT, encode(signature), trust=trust).signing_time == NOW


def test_pure_python_hashing_gives_the_same_signatures(monkeypatch: pytest.MonkeyPatch,
                                                       signer: PureSigner,
                                                       signature: bytes,
                                                       trust: TrustStore) -> None:
    monkeypatch.setenv("MEDSIGN_CRYPTO_NATIVE", "0")
    small = b"%PDF-1.4 consent"
    verify_detached(small, signer.sign(small), trust=trust)
    verify_detached(DOCUMENT, signature, trust=trust)


# --- tampering ----------------------------------------------------------------------------

def test_one_changed_byte_in_the_document_is_a_digest_mismatch(signature: bytes,
                                                               trust: TrustStore) -> None:
    tampered = bytearray(DOCUMENT)
    tampered[len(tampered) // 2] ^= 0x01
    rejected("digest_mismatch", bytes(tampered), signature, trust)


def test_one_changed_byte_in_the_signature_value_is_a_bad_signature(signature: bytes,
                                                                    trust: TrustStore) -> None:
    tampered = bytearray(signature)
    tampered[-1] ^= 0x01  # the signature value is the last field of the last structure
    rejected("bad_signature", DOCUMENT, bytes(tampered), trust)


def test_a_changed_signed_attribute_is_a_bad_signature(signature: bytes,
                                                       trust: TrustStore) -> None:
    when = NOW.strftime("%y%m%d%H%M%S").encode()
    later = (NOW + timedelta(minutes=1)).strftime("%y%m%d%H%M%S").encode()
    rejected("bad_signature", DOCUMENT, signature.replace(when, later), trust)


def test_a_certificate_from_another_ca_is_untrusted(stranger: KeyPair,
                                                    trust: TrustStore) -> None:
    signature = PureSigner(stranger).sign(DOCUMENT)
    verify_detached(DOCUMENT, signature, trust=None)  # the cryptography itself is fine
    rejected("untrusted_certificate", DOCUMENT, signature, trust)


def test_an_expired_certificate_is_rejected(expired: KeyPair, trust: TrustStore) -> None:
    signature = PureSigner(expired).sign(DOCUMENT, signing_time=NOW - timedelta(days=100))
    error = rejected("certificate_expired", DOCUMENT, signature, trust)
    assert "Истёкший" in error.message
    verify_detached(DOCUMENT, signature, trust=None, at=NOW - timedelta(days=99))


def test_a_signing_time_outside_the_certificate_is_rejected(mo: KeyPair,
                                                            trust: TrustStore) -> None:
    signature = PureSigner(mo).sign(DOCUMENT, signing_time=NOW + timedelta(days=400))
    error = rejected("certificate_expired", DOCUMENT, signature, trust)
    assert "подписано" in error.message


def test_validity_is_checked_without_a_trust_store_only_when_asked(expired: KeyPair) -> None:
    signature = PureSigner(expired).sign(DOCUMENT)
    verify_detached(DOCUMENT, signature, trust=None)
    rejected("certificate_expired", DOCUMENT, signature, None, at=NOW)


@pytest.mark.parametrize("garbage", [
    b"", b"garbage", b"\x30\x03\x02\x01", b"MIIB" + b"A" * 40, b"\x30\x80" + b"\x00" * 30,
    base64.b64encode(b"not a cms at all"), b"-----BEGIN CMS-----\nQUJD\n-----END CMS-----\n",
])
def test_garbage_is_malformed(garbage: bytes, trust: TrustStore) -> None:
    rejected("malformed_cms", DOCUMENT, garbage, trust)


def test_a_truncated_signature_is_malformed(signature: bytes, trust: TrustStore) -> None:
    rejected("malformed_cms", DOCUMENT, signature[:-10], trust)
    rejected("malformed_cms", DOCUMENT, signature + b"\x00", trust)


def test_a_cms_that_is_not_signed_data_is_malformed(trust: TrustStore) -> None:
    data_only = cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    rejected("malformed_cms", DOCUMENT, data_only, trust)


def test_an_attached_signature_is_not_a_detached_one(signature: bytes,
                                                     trust: TrustStore) -> None:
    def attach(signed: cms.SignedData) -> None:
        signed["encap_content_info"] = {"content_type": "data", "content": DOCUMENT}
    rejected("malformed_cms", DOCUMENT, edit(signature, attach), trust)


def test_a_signature_without_signed_attributes_is_malformed(signature: bytes,
                                                            trust: TrustStore) -> None:
    rejected("malformed_cms", DOCUMENT, edit_signer(signature, "signed_attrs", None),
             trust)


def test_a_foreign_digest_algorithm_is_unsupported(signature: bytes,
                                                   trust: TrustStore) -> None:
    sha256 = {"algorithm": "sha256"}
    rejected("unsupported_algorithm", DOCUMENT,
             edit_signer(signature, "digest_algorithm", sha256), trust)
    rsa = {"algorithm": "rsassa_pkcs1v15"}
    rejected("unsupported_algorithm", DOCUMENT,
             edit_signer(signature, "signature_algorithm", rsa), trust)


def test_the_signature_with_digest_oid_is_accepted_too(signature: bytes,
                                                       trust: TrustStore) -> None:
    renamed = edit_signer(signature, "signature_algorithm", {"algorithm": oids.GOST_256_SIGN})
    assert verify_detached(DOCUMENT, renamed, trust=trust).signature_algorithm == \
        oids.GOST_256_SIGN


def test_a_missing_signer_certificate_is_reported(signature: bytes, trust: TrustStore) -> None:
    def strip(signed: cms.SignedData) -> None:
        del signed["certificates"]
    rejected("no_signer_certificate", DOCUMENT, edit(signature, strip), trust)


def test_a_signed_content_type_other_than_data_is_wrong(mo: KeyPair, trust: TrustStore) -> None:
    _, cert = check_pair(mo)
    attributes = gost_cms.signed_attributes(gost.streebog(DOCUMENT), NOW, cert,
                                            oids.STREEBOG_256)
    attributes[0]["values"] = [cms.ContentType("signed_data")]
    signature = sign_with_attributes(mo, cms.CMSAttributes(list(attributes)))
    rejected("wrong_content_type", DOCUMENT, signature, trust)


def test_a_signing_certificate_attribute_naming_another_certificate_fails(
        mo: KeyPair, stranger: KeyPair, trust: TrustStore) -> None:
    _, cert = check_pair(mo)
    _, other = check_pair(stranger)
    attributes = gost_cms.signed_attributes(gost.streebog(DOCUMENT), NOW, cert,
                                            oids.STREEBOG_256)
    foreign = gost_cms.signed_attributes(gost.streebog(DOCUMENT), NOW, other,
                                         oids.STREEBOG_256)
    attributes[3]["values"] = list(foreign[3]["values"])
    signature = sign_with_attributes(mo, cms.CMSAttributes(list(attributes)))
    error = rejected("bad_signature", DOCUMENT, signature, trust)
    assert "signingCertificateV2" in error.message


def test_a_duplicated_message_digest_is_malformed(mo: KeyPair, trust: TrustStore) -> None:
    _, cert = check_pair(mo)
    attributes = gost_cms.signed_attributes(gost.streebog(DOCUMENT), NOW, cert,
                                            oids.STREEBOG_256)
    twice = [*attributes, gost_cms._attribute("message_digest", core.OctetString(b"x" * 32))]
    rejected("malformed_cms", DOCUMENT, sign_with_attributes(mo, cms.CMSAttributes(twice)),
             trust)


def test_error_messages_are_russian_and_codes_stable(signature: bytes,
                                                     trust: TrustStore) -> None:
    error = rejected("digest_mismatch", b"other", signature, trust)
    assert error.message.startswith("документ изменён")
    assert str(error).startswith("digest_mismatch: ")
