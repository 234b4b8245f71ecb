"""The emulator's PDFs: rendered from a working-set cut of DejaVu, parsed once per process, and
byte for byte what the full font and fpdf2's general paths give."""

from __future__ import annotations

import io
import os
import re
import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fontTools import ttLib

from medsign.integrations.goskey.emulator import render
from medsign.integrations.goskey.emulator.config import EmulatorConfig, FontNotFound
from medsign.integrations.goskey.emulator.model import Document
from medsign.integrations.goskey.emulator.profile import profile_for

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


SHEETS = [
    sheet(),
    sheet("Согласие на обработку персональных данных", phone="+79161234567"),
    sheet(services=["Рентгенография — «грудной клетки» № 2, 1 500 ₽ (€ 15)", "x" * 300]),
    # what multi_cell has to break, drop or stretch: only ever rendered by it
    sheet(services=["два  пробела", " в начале", "в конце ", "мягкий\xadперенос",
                    "строка\nперенос", "неразрывный\xa0пробел", ""]),
    sheet("Очень длинный заголовок согласия, который не помещается в одну строку страницы A4"),
]


def full_font_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "font_for", lambda font, texts: font)


def multi_cell_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "_fits_one_line", lambda pdf, text: False)


def test_the_working_font_gives_the_same_pdf_as_the_full_font(
        font: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [render.render_pdf(s, font=font) for s in SHEETS]
    full_font_only(monkeypatch)
    assert [render.render_pdf(s, font=font) for s in SHEETS] == fast


def test_one_line_paragraphs_come_out_as_multi_cell_would_draw_them(
        font: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [render.render_pdf(s, font=font) for s in SHEETS]
    multi_cell_only(monkeypatch)
    assert [render.render_pdf(s, font=font) for s in SHEETS] == fast


def test_the_font_is_cut_once_per_process_and_text_outside_it_uses_the_full_font(
        font: Path) -> None:
    cut = render.font_for(font, ["Иванов Иван Иванович, № 1 «—» ₽"])
    assert cut != font and cut.stat().st_size < font.stat().st_size / 4
    assert render.font_for(font, ["ещё один документ"]) == cut
    for foreign in ("Ωμέγα", "Ա", "→", "\t"):
        assert render.font_for(font, [f"Иванов {foreign}"]) == font
    pdf = render.render_pdf(sheet(services=["Ωμέγα → Ա"]), font=font)
    assert pdf.startswith(b"%PDF-")


def test_the_embedded_font_carries_dejavus_own_glyphs(font: Path) -> None:
    pdf = render.render_pdf(sheet(), font=font)
    match = re.search(rb"/Length1 \d+.*?stream\n(.*?)\nendstream", pdf, re.S)
    assert match is not None
    embedded = ttLib.TTFont(io.BytesIO(zlib.decompress(match.group(1))))
    original = ttLib.TTFont(font)
    names = {name for name in embedded.getGlyphOrder() if name != ".notdef"}
    assert len(names) > 20
    codes = {original.getBestCmap()[ord(ch)] for ch in "ИДСнамедицинскоевмешательство"}
    assert codes <= names
    for name in codes:
        ours, theirs = embedded["glyf"][name], original["glyf"][name]
        assert ours.getCoordinates(embedded["glyf"])[0] == \
            theirs.getCoordinates(original["glyf"])[0]
        assert embedded["hmtx"][name] == original["hmtx"][name]


def test_a_font_fonttools_cannot_cut_falls_back_to_itself(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    assert render.font_for(broken, ["Иванов"]) == broken


def test_the_cut_is_kept_once_per_content_in_a_private_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    first = render._store(b"font bytes")
    assert render._store(b"font bytes") == first and first.read_bytes() == b"font bytes"
    assert first.parent.stat().st_mode & 0o777 == 0o700
    first.write_bytes(b"changed by someone")
    assert render._store(b"font bytes") == first and first.read_bytes() == b"font bytes"
    other = render._store(b"other bytes")
    assert other != first and sorted(first.parent.iterdir()) == sorted([first, other])


def test_a_folder_others_can_write_to_is_not_used(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"medsign-fonts-{os.getuid()}"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(PermissionError):
        render._store(b"font bytes")
    assert list(folder.iterdir()) == []
