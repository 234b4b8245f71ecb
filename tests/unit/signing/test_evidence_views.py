"""The verification page and the signature sheet, drawn from a report given as plain data
(what ``verification.json`` holds); the sheet is read back with pypdf."""

from __future__ import annotations

import copy
import io
import re
from datetime import UTC, datetime
from typing import Any

import pypdf

from medsign.pdf import fonts, writer
from medsign.signing.evidence import render_html, render_sheet

PDF_SHA = "7c06900b31489246b860bbbc6ed02a37f8f81965e28d8bb111913ff024b83af5"
SEAL = {"covers": "Согласие на вмешательство PDF.pdf", "valid": True,
        "signer_subject": "C=RU, CN=Минцифры России (эмулятор Госключа)",
        "signer_serial": "1730320BB15846247995AD56F9AF9B45D7EC51BF",
        "issuer_subject": "CN=Эмулятор УЦ Госключа", "not_before": "2026-12-05T08:08:56+03:00",
        "not_after": "2036-12-02T08:08:56+03:00", "signing_time": "2026-12-06T08:08:56+03:00",
        "digest_algorithm": "streebog256", "signature_algorithm": "gost3410-2012-256",
        "message_digest_hex": "ff4abd1057", "certificate_sha256": "ab",
        "certificate_thumbprint": "5F1E" * 10}
MO = {**SEAL, "file": "Согласие на вмешательство PDF подпись МО.p7s",
      "signer_subject": "CN=ГБУЗ «Городская поликлиника № 1»",
      "signer_serial": "3D831A1F52F6B99B70A3EBB3AFDD0FBE9FAC853F",
      "not_after": "2027-12-05T08:08:56+03:00", "signing_time": "2026-12-06T08:09:07+03:00",
      "certificate_thumbprint": "A1B2C3D4E5" * 4, "certificate_sha256": "9c" * 32}
REPORT: dict[str, Any] = {
    "version": 2, "signing_request": "a0597edc-d80a-423a-9fe1-16dc9e5ecdfc",
    "transaction_id": "e33d4006-e102-499d-8d93-cfce33557c0b", "state": "completed",
    "timezone": "Asia/Yekaterinburg",
    "organization": {"code": "mo1", "name": "ГБУЗ «Городская поликлиника № 1»",
                     "ogrn": "1027700132195", "inn": "7707083893"},
    "patient": {"external_id": "p1", "full_name": "Иванов Иван Иванович",
                "birth_date": "1980-05-17"},
    "appointment": {"external_id": "a1", "starts_at": "2026-12-08T10:00:00+05:00",
                    "doctor": "Петрова А. С.", "service": "Приём врача-терапевта"},
    "completed_at": "2026-12-06T10:09:07+05:00", "checked_at": "2026-12-06T10:10:00+05:00",
    "platform_archive": {"name": "platform-archive.zip", "sha256": "e7" * 32, "size": 111539,
                         "valid": True, "problem": None},
    "documents": [{"title": "Согласие на вмешательство", "pdf": SEAL["covers"],
                   "pdf_sha256": PDF_SHA, "xml": "Согласие на вмешательство XML.xml",
                   "xml_sha256": "00" * 32,
                   "signer": {"full_name": "Иванов Иван Иванович", "birth_date": "1980-05-17"},
                   "patient_signature": SEAL, "mo_signatures": [MO]}],
    "operator_signatures": [SEAL], "mo_signatures": [MO],
}
TRAIL = {"timezone": "Asia/Yekaterinburg", "history": [
    {"at": "2026-12-06T10:08:56.123+05:00", "from": None, "to": "new",
     "state_title": "готовится к отправке", "actor": "api:mis", "actor_title": "МИС клиники",
     "reason": None},
    {"at": "2026-12-06T10:09:00+05:00", "from": "failed", "to": "patient_signed",
     "state_title": "подписано пациентом", "actor": "web:ivanova",
     "actor_title": "оператор Иванова И. И.", "reason": "исправлено"}], "audit": []}


def sheet_text(report: dict[str, Any]) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(render_sheet(report)), strict=True)
    text = " ".join(p.extract_text() for p in reader.pages)
    return len(reader.pages), re.sub(r"\s+", " ", text)


def test_the_sheet_names_the_document_its_hash_and_both_signatures() -> None:
    pages, text = sheet_text(REPORT)
    assert pages == 1
    for expected in ("Лист подписания", "Иванов Иван Иванович, дата рождения 17.05.1980",
                     "ГБУЗ «Городская поликлиника № 1», ОГРН 1027700132195",
                     "Документ 1. Согласие на вмешательство", PDF_SHA,
                     REPORT["signing_request"], REPORT["transaction_id"],
                     SEAL["signer_serial"], MO["signer_serial"],
                     MO["certificate_thumbprint"], MO["certificate_sha256"],
                     "06.12.2026 10:09:07 (Екатеринбург, UTC+5)",  # the MO's signing time
                     "с 05.12.2026 10:08:56 (Екатеринбург, UTC+5) по 05.12.2027"):
        assert expected in text, expected
    assert text.index("Подпись пациента") < text.index("Подпись медицинской организации")


def test_captions_read_before_their_values() -> None:
    _, text = sheet_text(REPORT)
    assert "Сертификат оператора платформы C=RU, CN=Минцифры России" in text


def test_many_documents_run_over_pages_and_odd_letters_do_not_break_the_sheet() -> None:
    report = copy.deepcopy(REPORT)
    report["patient"]["full_name"] = "Иванов Иван 伊万"
    report["documents"] = [{**REPORT["documents"][0], "title": f"Документ {n}"}
                           for n in range(8)]
    pages, text = sheet_text(report)
    assert pages > 1 and text.count(PDF_SHA) == 8
    assert "Иванов Иван ��" in text


def test_an_unverified_archive_says_so_in_the_sheet() -> None:
    report = {**REPORT, "documents": [], "platform_archive": {
        **REPORT["platform_archive"], "valid": False, "problem": "подпись не прошла проверку"}}
    _, text = sheet_text(report)
    assert "архив платформы не прошёл проверку: подпись не прошла проверку" in text
    assert "есть недействительные подписи" in text


def test_the_page_names_people_and_times_and_lets_only_ids_break() -> None:
    page = render_html(REPORT, TRAIL)
    text = re.sub(r"<[^>]+>", "", page)
    assert "Иванов Иван Иванович, дата рождения 17.05.1980" in page
    assert "ГБУЗ «Городская поликлиника № 1», ОГРН 1027700132195" in page
    assert "оператор Иванова И. И." in page and "МИС клиники" in page
    assert "06.12.2026 10:08:56 (Екатеринбург, UTC+5)" in text  # microseconds dropped
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", page)
    assert "break-word" not in page and "hyphens:manual" in page
    assert f'<code class="id">{PDF_SHA}</code>' in page


def test_the_shipped_cut_covers_cyrillic_and_marks_what_it_lacks() -> None:
    font = fonts.regular()
    assert font.covers("АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя№«»—")
    assert fonts.printable("Ӑ伊", font) == "Ӑ\ufffd"
    assert fonts.bold().slot == 1


def test_a_labelled_block_wraps_each_column_inside_itself() -> None:
    font = fonts.regular()
    block = writer.Block("значение " * 40, size=9, line=4.6, align="L", indent=50,
                         label="очень длинная подпись к полю, в две строки")
    data = writer.render(font, [block], title="t", author="a", creator="c",
                         created=datetime(2026, 12, 6, tzinfo=UTC))
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert text.index("очень длинная") < text.index("значение")
    assert text.count("значение") == 40

