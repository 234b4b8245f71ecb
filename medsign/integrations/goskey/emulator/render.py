"""The documents the platform renders from a transaction: the PDF and the ``<agreement>`` XML.

The PDF is what the patient reads and signs; fpdf2 subsets the Cyrillic TTF font into it, so a
consent stays a few kilobytes (cheap to hash with pure-Python Streebog). The patient's name is
also in the PDF's ``/Author`` metadata, where a test can find it without a PDF parser.

fpdf2 parses the font file for every document and, on output, decompiles all its glyphs to
subset them: with the 740 KB DejaVu Sans that was ~30 of the ~45 ms a PDF took. So, once per
process and font, the font is cut down to a working set — Latin, Latin-1 and Latin Extended-A,
Cyrillic, common punctuation, №, ₽, € (~700 glyphs with their hinting; without the tables
fpdf2 drops from an embedded font anyway) — kept in a file that fpdf2 parses quickly (one
shared file per content in a private temporary folder, ``_store``); a document with any
character outside that set is rendered from the full font, as before. The PDF comes out byte
for byte the same either way (``tests/unit/goskey``), and so does drawing a paragraph that fits
on one line with ``cell`` rather than through ``multi_cell``'s (quadratic) line breaking. One
saving changes bytes, not content: the embedded subset is written without recomputing bounding
boxes, so its glyphs keep DejaVu's own encoding and its head/hhea/maxp keep the whole font's
box and maxima (valid upper bounds) instead of values recomputed for the few glyphs used.
Together: ~45 → ~9 ms a PDF.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import os
import stat
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fontTools import subset, ttLib
from fpdf import FPDF

from medsign.integrations.goskey.emulator.model import Document
from medsign.integrations.goskey.emulator.profile import PatientProfile

log = logging.getLogger("medsign.goskey.emulator")
_DROPPED_BY_FPDF = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT",
                    "CBLC", "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"]
_FONT = "DejaVu"
_WORKING_SET = frozenset(itertools.chain(
    range(0x20, 0x7F), range(0xA0, 0x180), range(0x400, 0x500), range(0x2010, 0x203B),
    (0x20AC, 0x20BD, 0x2116, 0x2122)))


@dataclass(frozen=True)
class Sheet:
    """Everything one rendered document shows."""

    document: Document
    patient: PatientProfile
    transaction_id: str
    created_at: datetime


def render_pdf(sheet: Sheet, *, font: Path) -> bytes:
    sections = _sections(sheet)
    texts = [sheet.document.title, *(caption for caption, _ in sections),
             *(line for _, lines in sections for line in lines)]
    pdf = FPDF(format="A4")
    pdf.set_creation_date(sheet.created_at)
    pdf.set_title(sheet.document.title)
    pdf.set_author(sheet.patient.full_name)
    pdf.set_creator("Госключ (эмулятор)")
    pdf.add_font(_FONT, fname=str(font_for(font, texts)))
    _keep_glyph_boxes(pdf)
    pdf.add_page()
    _heading(pdf, sheet.document.title)
    for caption, lines in sections:
        _section(pdf, caption, lines)
    return bytes(pdf.output())


def _keep_glyph_boxes(pdf: FPDF) -> None:
    """fpdf2 writes the embedded subset with fontTools' default of recomputing every glyph's
    bounding box from its outline (decompiling and recompiling each glyph: a third of a PDF's
    time); the boxes in the font file are already right, so they are kept as they are. (The
    font-wide box and maxima then stay those of the whole font: larger than needed, valid.)"""
    for added in pdf.fonts.values():
        parsed = getattr(added, "ttfont", None)
        if parsed is not None:
            parsed.recalcBBoxes = False


@dataclass(frozen=True)
class _WorkingFont:
    path: Path
    covers: frozenset[int]  # the code points its cmap maps


_working: dict[Path, _WorkingFont | None] = {}
_working_lock = threading.Lock()


def font_for(font: Path, texts: Iterable[str]) -> Path:
    """The font file to render ``texts`` from: the working-set cut of ``font`` when it has
    every character, else ``font`` itself."""
    working = _working_font(font)
    if working is None:
        return font
    used = {ord(char) for text in texts for char in text}
    return working.path if used <= working.covers else font


def _working_font(font: Path) -> _WorkingFont | None:
    with _working_lock:
        if font not in _working:
            _working[font] = _cut(font)
        return _working[font]


def _cut(font: Path) -> _WorkingFont | None:
    """``font`` reduced to the working set; None when that cannot be done here (the full font
    is used then)."""
    try:
        # the original head (bounding box, timestamps) is kept, so the PDF's font descriptor
        # and thus the PDF come out byte for byte as from the full font
        parsed = ttLib.TTFont(font, recalcTimestamp=False, recalcBBoxes=False)
        options = subset.Options(notdef_outline=True, recommended_glyphs=True,
                                 name_IDs=["*"], name_languages=["*"])
        # what fpdf2 drops from every embedded subset anyway (layout, colour, bitmaps, FontForge
        # timestamps), so the PDF does not change
        options.drop_tables += _DROPPED_BY_FPDF
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(_WORKING_SET))
        subsetter.subset(parsed)
        buffer = io.BytesIO()
        parsed.save(buffer)
        path = _store(buffer.getvalue())
        covers = frozenset(parsed.getBestCmap() or ())
    except Exception:  # any failure only costs speed
        log.warning("could not cut the font %s down; PDFs use the full font", font,
                    exc_info=True)
        return None
    return _WorkingFont(path, covers)


def _store(data: bytes) -> Path:
    """fpdf2 reads fonts from files: the cut goes to a private per-user folder in the temporary
    directory, named by its content, so that every emulator process (each makes the same
    bytes) shares one file, nothing piles up however processes end, and a file is only ever
    used when it holds exactly these bytes."""
    folder = Path(tempfile.gettempdir()) / f"medsign-fonts-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} is not a private folder of this user")
    target = folder / f"working-{hashlib.sha256(data).hexdigest()[:32]}.ttf"
    if not (target.is_file() and target.read_bytes() == data):
        fd, name = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(name, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
    return target


def _sections(sheet: Sheet) -> list[tuple[str, list[str]]]:
    executor, patient = sheet.document.executor, sheet.patient
    return [
        ("Медицинская организация", [
            executor.get("nameExecutor", ""), f"Адрес: {executor.get('regAdrExecutor', '')}",
            f"ОГРН {executor.get('ogrnExecutor', '')}, ИНН {executor.get('innExecutor', '')}, "
            f"КПП {executor.get('kppExecutor', '')}"]),
        ("Пациент (данные профиля Госуслуг)", [
            patient.full_name, f"Дата рождения: {patient.birth_date:%d.%m.%Y}",
            f"Паспорт: {patient.passport}, выдан {patient.passport_issued_by} "
            f"{patient.passport_issued_on:%d.%m.%Y}, код подразделения "
            f"{patient.passport_department_code}",
            f"Адрес регистрации: {patient.address}"]),
        ("Медицинские услуги", [f"• {name}" for name in sheet.document.services] or ["—"]),
        ("Подписание", [
            f"Дата документа: {sheet.created_at:%d.%m.%Y}",
            "Документ подписан простой электронной подписью пациента в чат-боте Госключа "
            "в мессенджере MAX.", f"Транзакция: {sheet.transaction_id}"]),
    ]


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font(_FONT, size=15)
    _paragraph(pdf, 8, text, align="C")
    pdf.ln(4)


def _section(pdf: FPDF, caption: str, lines: list[str]) -> None:
    pdf.set_font(_FONT, size=12)
    _paragraph(pdf, 7, caption)
    pdf.set_font(_FONT, size=10)
    for line in lines:
        _paragraph(pdf, 5.5, line)
    pdf.ln(3)


def _paragraph(pdf: FPDF, height: float, text: str, align: str = "J") -> None:
    """A full-width paragraph. fpdf2's line breaking re-measures the line for every character
    (quadratic); plain text that fits on one line gives the same PDF through ``cell``."""
    if _fits_one_line(pdf, text):
        pdf.cell(0, height, text, align="C" if align == "C" else "L", new_x="LMARGIN",
                 new_y="NEXT")
    else:
        pdf.multi_cell(0, height, text, align=align, new_x="LMARGIN", new_y="NEXT")


def _fits_one_line(pdf: FPDF, text: str) -> bool:
    # printable (no line breaks, tabs, soft hyphens, no-break spaces), single-spaced, trimmed:
    # nothing that multi_cell would break at, drop or stretch; 0.01 mm spare for rounding
    plain = text.isprintable() and text == text.strip() and "  " not in text
    return bool(plain and text
                and pdf.get_string_width(text) < pdf.epw - 2 * pdf.c_margin - 0.01)


def render_xml(sheet: Sheet) -> bytes:
    """The ``<agreement>`` XML, version 2.0, with the fields of spec §2.3."""
    executor, patient = sheet.document.executor, sheet.patient
    root = ET.Element("agreement", version="2.0")
    _fill(ET.SubElement(root, "docInfo"), templateNumber=sheet.document.template_id,
          creationDate=sheet.created_at.isoformat(timespec="seconds"),
          templateName=sheet.document.title)
    _fill(ET.SubElement(root, "signingObject"), nameExecutor=executor.get("nameExecutor", ""),
          regAdrExecutor=executor.get("regAdrExecutor", ""))
    _fill(ET.SubElement(root, "signerInfo"), signerLastName=patient.last_name,
          signerFirstName=patient.first_name, signerMiddleName=patient.middle_name,
          signerGender=patient.gender, signerBirthDate=patient.birth_date.isoformat(),
          signerSeries=patient.passport_series, signerNumber=patient.passport_number,
          signerIssued=patient.passport_issued_by,
          signerDate=patient.passport_issued_on.isoformat(),
          signerCodeDepart=patient.passport_department_code, signerPLV=patient.address)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'.encode()


def _fill(parent: ET.Element, **fields: str) -> None:
    for name, value in fields.items():
        ET.SubElement(parent, name).text = value
