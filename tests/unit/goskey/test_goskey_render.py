"""The emulator's PDFs: the project's small writer with the working-set cut of DejaVu for
documents it covers, and a cut that adds a document's other characters for the rest — read
back with pypdf, an independent PDF parser."""

from __future__ import annotations

import io
import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest
from fontTools import ttLib

from medsign.integrations.goskey.emulator import render
from medsign.integrations.goskey.emulator.config import EmulatorConfig, FontNotFound
from medsign.integrations.goskey.emulator.model import Document
from medsign.integrations.goskey.emulator.profile import profile_for
from medsign.pdf import writer as pdf

EXECUTOR = {"nameExecutor": "ГБУЗ «Городская поликлиника № 1»",
            "regAdrExecutor": "г. Москва, ул. Ленина, д. 1", "ogrnExecutor": "1027700132195",
            "innExecutor": "7707083893", "kppExecutor": "770701001"}


@pytest.fixture(scope="module")
def font() -> Path:
    try:
        return EmulatorConfig(token="x").resolve_font()
    except FontNotFound as exc:
        pytest.skip(str(exc))


def sheet(title: str = "ИДС на медицинское вмешательство", services: list[str] | None = None,
          executor: dict[str, str] | None = None, phone: str = "+79160000000") -> render.Sheet:
    document = Document(template_id="tpl", title=title, doc_type="med_permission",
                        services=["Приём врача-терапевта"] if services is None else services,
                        executor=EXECUTOR if executor is None else executor)
    return render.Sheet(document, profile_for(phone), "tx-1", datetime(2024, 5, 6, tzinfo=UTC))


def read(data: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, text


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_consent_reads_back_with_everything_it_shows(font: Path) -> None:
    given = sheet(services=["Рентгенография — «грудной клетки» № 2, 1 500 ₽ (€ 15)"])
    data = render.render_pdf(given, font=font)
    assert data.startswith(b"%PDF-1.7") and b"/FontFile2" in data  # the fast path
    reader, text = read(data)
    assert len(reader.pages) == 1
    assert reader.metadata is not None and reader.metadata.title == given.document.title
    assert reader.metadata.author == given.patient.full_name
    assert reader.metadata.creator == "Госключ (эмулятор)"
    for expected in (given.document.title, "ГБУЗ «Городская поликлиника № 1»",
                     given.patient.full_name, "ОГРН 1027700132195",
                     "Рентгенография — «грудной клетки» № 2, 1 500 ₽ (€ 15)",
                     "Транзакция: tx-1", "Дата документа: 06.05.2024"):
        assert squeeze(expected) in squeeze(text), expected
    page = reader.pages[0]
    assert [round(float(v)) for v in page.mediabox] == [0, 0, 595, 842]  # A4


def test_the_same_content_gives_the_same_bytes(font: Path) -> None:
    assert render.render_pdf(sheet(), font=font) == render.render_pdf(sheet(), font=font)
    assert render.render_pdf(sheet(), font=font) != render.render_pdf(
        sheet(phone="+79161234567"), font=font)


def test_long_text_wraps_inside_the_page_and_flows_onto_new_pages(font: Path) -> None:
    services = [f"Услуга № {i}: консультация врача-специалиста с длинным названием, "
                f"которое не помещается в одну строку страницы A4 и переносится" for i in range(60)]
    services.append("Ж" * 300)  # one word wider than a line: cut between letters
    data = render.render_pdf(sheet(services=services), font=font)
    reader, text = read(data)
    assert len(reader.pages) > 1
    flat = squeeze(text)
    for i in (0, 29, 59):
        assert squeeze(services[i]) in flat
    assert "Ж" * 300 in flat
    # every line starts inside the page and the widest one ends inside it too
    prepared = render.working_font(font)
    assert prepared is not None
    for line, _ in pdf.wrap(prepared, " ".join(services), 10, 188):
        assert prepared.width(line, 10) <= 188


def test_wrapping_keeps_words_whole_and_marks_paragraph_ends(font: Path) -> None:
    prepared = render.working_font(font)
    assert prepared is not None
    assert prepared.width("раз два", 10) < 15 < prepared.width("раз два три", 10)
    # a line break ends a paragraph; soft hyphens are dropped, a tab is a space; a word wider
    # than the line is cut where the line is full
    assert pdf.wrap(prepared, "раз два три\nчетыре\xadпять\tшесть", 10, 15) == [
        ("раз два", False), ("три", True), ("четыре", False), ("пять", False),
        ("шесть", True)]
    assert pdf.wrap(prepared, "", 10, 15) == [("", True)]


def test_justified_lines_reach_the_right_margin(font: Path) -> None:
    text = "слово " * 60
    data = render.render_pdf(sheet(services=[text.strip()]), font=font)
    streams = [zlib.decompress(m) for m in re.findall(
        rb"/Filter /FlateDecode >>\nstream\n(.*?)\nendstream", data, re.S)]
    assert any(b"] TJ" in s for s in streams)  # stretched with TJ offsets after the spaces


def test_text_outside_the_working_set_gets_a_cut_that_adds_it(font: Path) -> None:
    prepared = render.working_font(font)
    assert prepared is not None
    for foreign in ("Ωμέγα", "Ա", "→"):
        assert not prepared.covers(f"Иванов {foreign}")
    data = render.render_pdf(sheet(services=["Ωμέγα → Ա"]), font=font)
    assert b"/Producer (medsign)" in data  # the project's writer, not another library
    _, text = read(data)
    if not font.name.startswith("DejaVuSans-medsign"):  # the system's DejaVu has them all
        assert "Ωμέγα → Ա" in text
    assert squeeze(sheet().document.title) in squeeze(text)
    cut_before = render._with_characters.cache_info().hits
    render.render_pdf(sheet(services=["→ Ωμέγα Ա"]), font=font)  # the same characters
    assert render._with_characters.cache_info().hits == cut_before + 1  # the same cut


def test_characters_the_font_lacks_show_as_the_replacement_mark(font: Path) -> None:
    data = render.render_pdf(sheet(services=["Иероглиф 伊 в названии"]), font=font)
    _, text = read(data)
    assert squeeze("Иероглиф \ufffd в названии") in squeeze(text)


def test_the_embedded_font_is_dejavus_own_glyphs_cut_once(font: Path) -> None:
    prepared = render.working_font(font)
    assert render.working_font(font) is prepared  # once per process
    data = render.render_pdf(sheet(), font=font)
    match = re.search(rb"/Length1 (\d+) /Filter /FlateDecode >>\nstream\n(.*?)\nendstream",
                      data, re.S)
    assert match is not None
    raw = zlib.decompress(match.group(2))
    assert len(raw) == int(match.group(1)) and len(raw) < font.stat().st_size / 4
    embedded, original = ttLib.TTFont(io.BytesIO(raw)), ttLib.TTFont(font)
    for ch in "ИДСнамедицинскоевмешательство№₽":
        ours, theirs = embedded.getBestCmap()[ord(ch)], original.getBestCmap()[ord(ch)]
        assert embedded["hmtx"][ours] == original["hmtx"][theirs]
        assert embedded["glyf"][ours].getCoordinates(embedded["glyf"])[0] == \
            original["glyf"][theirs].getCoordinates(original["glyf"])[0]


def test_a_font_that_cannot_be_cut_leaves_the_documents_to_the_shipped_cut(
        tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    assert render.working_font(broken) is None
    _, text = read(render.render_pdf(sheet(), font=broken))
    assert squeeze("ГБУЗ «Городская поликлиника № 1»") in squeeze(text)


def test_the_xml_carries_the_agreement_fields() -> None:
    xml = render.render_xml(sheet()).decode()
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert '<agreement version="2.0">' in xml and "<templateNumber>tpl</templateNumber>" in xml
