"""``verify_archive`` on hostile input: every defect is refused with its own code and a
readable Russian reason, and nothing but ``ArchiveRejected`` ever comes out of it."""

from __future__ import annotations

import base64
import tracemalloc
import zipfile

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from medsign.config import SigningSettings
from medsign.signing.archive import ArchiveRejected, Limits, VerifiedArchive, verify_archive
from tests.unit.signing.archive_kit import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    NOW,
    PDF_SIG,
    PDF_SUFFIX,
    TITLES,
    XML_SIG,
    XML_SUFFIX,
    Entries,
    Operator,
    deflate_stream_damaged,
    document_entries,
    genuine_entries,
    incompressible,
    replace,
    with_declared_size,
    with_flag,
    without,
    zeros_bomb,
    zip_of,
)

LIMITS = SigningSettings(max_uncompressed_bytes=100 * 1024**2, max_compression_ratio=100)
T0, T1 = TITLES


@pytest.fixture(scope="module")
def operator() -> Operator:
    return Operator.create()


@pytest.fixture(scope="module")
def genuine(operator: Operator) -> Entries:
    return genuine_entries(operator)


def check(data: bytes, operator: Operator, *, documents: int = 2,
          limits: Limits = LIMITS) -> VerifiedArchive:
    return verify_archive(data, expected_documents=documents, trust=operator.trust,
                          limits=limits, at=NOW)


def rejected(data: bytes, operator: Operator, **kw: object) -> ArchiveRejected:
    with pytest.raises(ArchiveRejected) as caught:
        check(data, operator, **kw)  # type: ignore[arg-type]
    assert caught.value.message[:1].isupper() or caught.value.message[:1] == "«"
    assert str(caught.value).startswith(caught.value.code + ": ")
    return caught.value


def test_a_genuine_archive_verifies_with_both_signatures_of_every_document(
        operator: Operator, genuine: Entries) -> None:
    verified = check(zip_of(genuine), operator)
    assert [d.title for d in verified.documents] == sorted(TITLES)
    for doc in verified.documents:
        assert doc.pdf.name == doc.title + PDF_SUFFIX and doc.xml.name == doc.title + XML_SUFFIX
        assert doc.pdf.content.startswith(b"%PDF-")
        assert "Минцифры России (тест)" in doc.pdf.report.signer_subject
        assert doc.xml.report.message_digest_hex != doc.pdf.report.message_digest_hex


def test_a_stored_archive_is_as_good_as_a_deflated_one(operator: Operator,
                                                       genuine: Entries) -> None:
    assert len(check(zip_of(genuine, compression=zipfile.ZIP_STORED), operator).documents) == 2


# -- zip bombs -------------------------------------------------------------------------------
def test_a_high_ratio_entry_is_a_zip_bomb_and_is_not_inflated(operator: Operator,
                                                              genuine: Entries) -> None:
    bomb = zip_of(replace(genuine, T0 + PDF_SUFFIX, zeros_bomb(64 * 1024**2)))
    assert len(bomb) < 200 * 1024
    tracemalloc.start()
    try:
        error = rejected(bomb, operator)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "archive_zip_bomb"
    assert f"«{T0}{PDF_SUFFIX}»" in error.message and "zip-бомб" in error.message
    assert peak < 16 * 1024**2, f"read {peak} bytes of a 64 MiB bomb"


def test_entries_each_within_the_ratio_but_too_big_together_are_refused(
        operator: Operator, genuine: Entries) -> None:
    limits = SigningSettings(max_uncompressed_bytes=1024**2, max_compression_ratio=100)
    big = [(f"{T0} PDF.pdf", incompressible(400 * 1024)),
           (f"{T1} PDF.pdf", incompressible(400 * 1024)),
           (f"{T0} XML.xml", incompressible(400 * 1024))]
    entries = [*big, *[e for e in genuine if e[0] not in {n for n, _ in big}]]
    error = rejected(zip_of(entries, compression=zipfile.ZIP_STORED), operator, limits=limits)
    assert error.code == "archive_too_large"
    assert "слишком большой" in error.message


def test_a_central_directory_that_understates_a_size_is_not_believed(
        operator: Operator, genuine: Entries) -> None:
    lying = with_declared_size(zip_of(genuine), T0 + PDF_SUFFIX, 10)
    error = rejected(lying, operator)
    assert error.code == "archive_corrupt" and f"«{T0}{PDF_SUFFIX}»" in error.message


def test_a_central_directory_that_overstates_a_size_does_not_widen_the_limit(
        operator: Operator, genuine: Entries) -> None:
    bomb = zip_of(replace(genuine, T0 + PDF_SUFFIX, zeros_bomb(32 * 1024**2)))
    error = rejected(with_declared_size(bomb, T0 + PDF_SUFFIX, 2**32 - 1), operator)
    assert error.code == "archive_zip_bomb"


def test_garbled_compressed_data_is_a_corrupt_archive_not_a_crash(
        operator: Operator, genuine: Entries) -> None:
    big_pdf = replace(genuine, T1 + PDF_SUFFIX, incompressible(4096)[:9] + bytes(range(256)) * 64)
    data = deflate_stream_damaged(zip_of(big_pdf), T1 + PDF_SUFFIX)
    error = rejected(data, operator)
    assert error.code == "archive_corrupt"
    assert f"«{T1}{PDF_SUFFIX}»" in error.message and "не читается" in error.message


# -- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    f"../{T0} PDF.pdf", f"../../etc/{T0} PDF.pdf", f"/{T0} PDF.pdf", "/etc/passwd",
    f"docs/{T0} PDF.pdf", f"..\\{T0} PDF.pdf", f"docs\\..\\..\\{T0} PDF.pdf",
    f"C:{T0} PDF.pdf", f"C:\\Windows\\{T0} PDF.pdf", f"\\\\server\\share\\{T0} PDF.pdf",
    f"{T0}\x07 PDF.pdf", "..", "docs/",
])
def test_a_name_that_leaves_the_folder_is_refused(operator: Operator, genuine: Entries,
                                                  name: str) -> None:
    entries = [(name if n == T0 + PDF_SUFFIX else n, c) for n, c in genuine]
    error = rejected(zip_of(entries), operator)
    assert error.code == "archive_path_traversal", error
    assert "Недопустимое имя файла" in error.message


def test_a_missing_signature_is_named(operator: Operator, genuine: Entries) -> None:
    error = rejected(zip_of(without(genuine, T1 + XML_SIG)), operator)
    assert error.code == "archive_missing_entry"
    assert error.message == f"В архиве нет файла: «{T1}{XML_SIG}»"


def test_a_document_without_its_pdf_is_refused(operator: Operator, genuine: Entries) -> None:
    error = rejected(zip_of(without(without(genuine, T0 + PDF_SUFFIX), T0 + PDF_SIG)), operator)
    assert error.code == "archive_missing_entry"
    assert f"«{T0}{PDF_SUFFIX}»" in error.message and f"«{T0}{PDF_SIG}»" in error.message


@pytest.mark.parametrize("extra", ["readme.txt", "ИДС PDF.pdf.exe", " XML.xml",
                                   f"{T0} PDF.PDF"])
def test_an_extra_entry_is_refused(operator: Operator, genuine: Entries, extra: str) -> None:
    error = rejected(zip_of([*genuine, (extra, b"%PDF-1.7\n")]), operator)
    assert error.code == "archive_unexpected_entry"
    assert error.message == f"Лишний файл в архиве: «{extra}»."


def test_a_third_document_is_refused_by_count(operator: Operator, genuine: Entries) -> None:
    third = document_entries("Договор", operator.seal)
    error = rejected(zip_of([*genuine, *third]), operator)
    assert error.code == "archive_document_count"
    assert error.message == "В архиве 3 документ(ов), ожидалось 2."


def test_a_duplicate_name_is_refused(operator: Operator, genuine: Entries) -> None:
    evil_pdf = (T0 + PDF_SUFFIX, b"%PDF-1.7\nsomething else")
    error = rejected(zip_of([*genuine, evil_pdf]), operator)
    assert error.code == "archive_duplicate_entry"
    assert error.message == f"Файл «{T0}{PDF_SUFFIX}» встречается в архиве дважды."


def test_an_encrypted_entry_is_refused(operator: Operator, genuine: Entries) -> None:
    error = rejected(with_flag(zip_of(genuine), 0x1), operator)
    assert error.code == "archive_encrypted" and "зашифрован" in error.message


def test_too_many_entries_are_refused_before_any_is_read(operator: Operator) -> None:
    entries = [(f"{i} PDF.pdf", b"%PDF-") for i in range(65)]
    error = rejected(zip_of(entries), operator)
    assert error.code == "archive_too_many_entries"
    assert error.message == "В архиве 65 файлов."


# -- not a ZIP -------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    b"", b"%PDF-1.7\n%%EOF\n", b"<html><body>502 Bad Gateway</body></html>", b"PK\x03\x04",
    b"PK\x05\x06" + bytes(18), bytes(1000),
], ids=["empty", "pdf", "html", "local-header-only", "empty-directory-only", "zeros"])
def test_something_that_is_not_a_zip_is_a_corrupt_archive(operator: Operator,
                                                          data: bytes) -> None:
    error = rejected(data, operator)
    assert error.code in {"archive_corrupt", "archive_document_count"}, error
    if error.code == "archive_corrupt":
        assert error.message.startswith("Архив повреждён или не ZIP")


def test_a_zip_of_a_version_python_cannot_read_is_a_corrupt_archive(
        operator: Operator, genuine: Entries) -> None:
    """"Version needed to extract" above what zipfile knows raises NotImplementedError while
    the directory is read; found by the random-damage test below."""
    data = bytearray(zip_of(genuine))
    header = data.index(b"PK\x01\x02")  # the first central directory entry
    data[header + 6:header + 8] = (99).to_bytes(2, "little")  # "version 9.9"
    error = rejected(bytes(data), operator)
    assert error.code == "archive_corrupt" and "9.9" in error.message


def test_a_truncated_archive_is_corrupt(operator: Operator, genuine: Entries) -> None:
    data = zip_of(genuine)
    error = rejected(data[: len(data) * 2 // 3], operator)
    assert error.code == "archive_corrupt"


# -- the XML ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("xml", "detail"), [
    (b"<agreement version='2.0'><docInfo></agreement>", "некорректный XML"),
    (b"not xml at all", "некорректный XML"),
    (b"", "некорректный XML"),
    (BILLION_LAUGHS, "DTD"),
    (EXTERNAL_ENTITY, "DTD"),
    (b'<?xml version="1.0" encoding="x-unknown-charset"?><agreement/>', "некорректный XML"),
    (b"<contract version='2.0'/>", "ожидался «agreement»"),
], ids=["unclosed", "text", "empty", "billion-laughs", "external-entity", "unknown-encoding",
        "wrong-root"])
def test_bad_xml_is_refused_even_when_signed(operator: Operator, genuine: Entries, xml: bytes,
                                             detail: str) -> None:
    entries = replace(replace(genuine, T0 + XML_SUFFIX, xml), T0 + XML_SIG, operator.seal(xml))
    error = rejected(zip_of(entries), operator)
    assert error.code == "archive_xml_invalid", error
    assert f"«{T0}{XML_SUFFIX}»" in error.message and detail in error.message


def test_a_pdf_that_is_not_a_pdf_is_refused_even_when_signed(operator: Operator,
                                                             genuine: Entries) -> None:
    fake = b"MZ\x90\x00 an executable"
    entries = replace(replace(genuine, T1 + PDF_SUFFIX, fake), T1 + PDF_SIG, operator.seal(fake))
    error = rejected(zip_of(entries), operator)
    assert error.code == "archive_not_pdf"
    assert error.message == f"«{T1}{PDF_SUFFIX}» не является PDF-документом."


# -- the operator's signatures ---------------------------------------------------------------
def test_a_pdf_signature_over_other_bytes_is_a_digest_mismatch(operator: Operator,
                                                               genuine: Entries) -> None:
    other = operator.seal(b"%PDF-1.7\nanother document")
    error = rejected(zip_of(replace(genuine, T0 + PDF_SIG, other)), operator)
    assert error.code == "archive_signature_digest_mismatch"
    assert error.message.startswith(f"Подпись «{T0}{PDF_SIG}» не прошла проверку: документ "
                                    "изменён после подписания")


def test_a_pdf_changed_after_sealing_is_a_digest_mismatch(operator: Operator,
                                                          genuine: Entries) -> None:
    changed = dict(genuine)[T1 + PDF_SUFFIX] + b"% appended\n"
    error = rejected(zip_of(replace(genuine, T1 + PDF_SUFFIX, changed)), operator)
    assert error.code == "archive_signature_digest_mismatch"
    assert f"«{T1}{PDF_SIG}»" in error.message


def test_swapped_xml_and_pdf_signatures_are_refused(operator: Operator,
                                                    genuine: Entries) -> None:
    files = dict(genuine)
    swapped = replace(replace(genuine, T0 + PDF_SIG, files[T0 + XML_SIG]), T0 + XML_SIG,
                      files[T0 + PDF_SIG])
    assert rejected(zip_of(swapped), operator).code == "archive_signature_digest_mismatch"


def test_a_certificate_from_another_ca_is_untrusted(operator: Operator) -> None:
    stranger = Operator.create()  # a CA of its own, which the service does not trust
    error = rejected(zip_of(genuine_entries(stranger)), operator)
    assert error.code == "archive_signature_untrusted_certificate"
    assert "не доверенным удостоверяющим центром" in error.message
    assert "Тестовый УЦ оператора" in error.message  # names the unknown issuer


def test_an_expired_operator_certificate_is_refused(operator: Operator) -> None:
    stale = Operator.create(operator.ca, expired=True)
    error = rejected(zip_of(genuine_entries(stale)), operator)
    assert error.code == "archive_signature_certificate_expired"
    assert "срок действия сертификата истёк" in error.message and "действует с" in error.message


@pytest.mark.parametrize("p7s", [b"", b"not base64 at all!", b"MIIB", b"AAAA",
                                 b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n"])
def test_a_signature_file_that_is_not_a_cms_is_malformed(operator: Operator, genuine: Entries,
                                                         p7s: bytes) -> None:
    error = rejected(zip_of(replace(genuine, T0 + XML_SIG, p7s)), operator)
    assert error.code == "archive_signature_malformed_cms", error
    assert f"«{T0}{XML_SIG}»" in error.message


# -- anything at all -------------------------------------------------------------------------
# Positions are taken modulo the length: keys (so sizes) differ from run to run.
FLIPS = st.lists(st.tuples(st.integers(0, 2**20), st.integers(1, 255)), min_size=1, max_size=6)
# Generate only: the archive's keys (so its size) differ per run, and a replay or shrink of
# length-dependent draws is reported as a flaky strategy rather than a real failure.
@settings(max_examples=60, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_damage_is_always_a_refusal_never_a_crash(operator: Operator, genuine: Entries,
                                                         data: st.DataObject) -> None:
    archive = bytearray(zip_of(genuine))
    for at, mask in data.draw(FLIPS):
        archive[at % len(archive)] ^= mask
    try:
        check(bytes(archive), operator)
    except ArchiveRejected as exc:
        assert exc.code.startswith("archive_") and exc.message


# Generate only: the archive's keys (so its size) differ per run, and a replay or shrink of
# length-dependent draws is reported as a flaky strategy rather than a real failure.
@settings(max_examples=60, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_damage_to_a_signature_is_a_refusal_never_a_crash(
        operator: Operator, genuine: Entries, data: st.DataObject) -> None:
    der = bytearray(base64.b64decode(dict(genuine)[T0 + PDF_SIG]))
    for at, mask in data.draw(FLIPS):
        der[at % len(der)] ^= mask
    damaged = replace(genuine, T0 + PDF_SIG, base64.b64encode(bytes(der)))
    try:
        check(zip_of(damaged), operator)
    except ArchiveRejected as exc:
        assert exc.code.startswith("archive_signature_") and exc.message
    # else: the damage hit a field nothing relies on (SignedData's own digestAlgorithms set,
    # a version number); the signature, its attributes and the certificate still verify


def test_a_damaged_certificate_name_in_a_signature_is_malformed_not_a_crash(
        operator: Operator, genuine: Entries) -> None:
    """asn1crypto decodes names lazily: invalid UTF-8 in the issuer that names the signer
    (SignerInfo.sid) used to escape ``verify_archive`` as a ``UnicodeDecodeError``."""
    der = bytearray(base64.b64decode(dict(genuine)[T0 + PDF_SIG]))
    issuer = "Тестовый УЦ оператора".encode()
    # occurrences: the embedded certificate's issuer, the sid, signingCertificateV2's issuer
    at = der.find(issuer, der.find(issuer) + 1)
    assert at > 0
    der[at + 1] ^= 0x40  # the continuation byte of a two-byte letter is no longer one
    damaged = replace(genuine, T0 + PDF_SIG, base64.b64encode(bytes(der)))
    error = rejected(zip_of(damaged), operator)
    assert error.code == "archive_signature_malformed_cms", error
    assert f"«{T0}{PDF_SIG}»" in error.message and "повреждён" in error.message
