"""The documents the platform renders from a transaction: the PDF and the ``<agreement>`` XML.

The PDF is what the patient reads and signs: a heading, the medical organisation, the patient
(from the Gosuslugi profile), the services and the signing note, in DejaVu Sans (Cyrillic).
The patient's name is also in the PDF's ``/Author`` metadata, where a test can find it without
a PDF parser.

Rendering is the emulator's main cost in a throughput run, so, once per process and font, the
font is cut down to a working set — Latin, Latin-1 and Latin Extended-A, Cyrillic, common
punctuation, №, ₽, €, U+FFFD (~700 glyphs with their hinting, ~80 KB) — and prepared
for the project's small PDF writer, which embeds that cut whole: a document then costs its line
breaking (well under a millisecond of font work). A document with characters outside the
working set gets a cut that adds them (~0.2 s from the full DejaVu Sans, once per set of such
characters: kept for the next document with the same ones); characters the font lacks show as
U+FFFD.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from medsign.integrations.goskey.emulator.model import Document
from medsign.integrations.goskey.emulator.profile import PatientProfile
from medsign.pdf import cutting, fonts
from medsign.pdf import writer as pdf

log = logging.getLogger("medsign.goskey.emulator")
_CREATOR = "Госключ (эмулятор)"
# narrower than the shipped cuts' set (``cutting.WORKING_SET``): the cut is embedded in every
# PDF, and the archive deflates each PDF again — every 10 KB more costs ~0.5 ms a document
_WORKING_SET = frozenset(itertools.chain(
    range(0x20, 0x7F), range(0xA0, 0x180), range(0x400, 0x500), range(0x2010, 0x203B),
    (0x20AC, 0x20BD, 0x2116, 0x2122, ord(fonts.REPLACEMENT))))


@dataclass(frozen=True)
class Sheet:
    """Everything one rendered document shows."""

    document: Document
    patient: PatientProfile
    transaction_id: str
    created_at: datetime


def render_pdf(sheet: Sheet, *, font: Path) -> bytes:
    blocks = _blocks(sheet)
    face = _face(font, "".join(block.text for block in blocks))
    if not all(face.covers(block.text) for block in blocks):  # what the font itself lacks
        blocks = [dataclasses.replace(block, text=fonts.printable(block.text, face))
                  for block in blocks]
    return pdf.render(face, blocks, title=sheet.document.title,
                      author=sheet.patient.full_name, creator=_CREATOR,
                      created=sheet.created_at)


def _blocks(sheet: Sheet) -> list[pdf.Block]:
    blocks = [pdf.Block(sheet.document.title, size=15, line=8, align="C", space=4)]
    for caption, lines in _sections(sheet):
        blocks.append(pdf.Block(caption, size=12, line=7))
        blocks.extend(pdf.Block(line, size=10, line=5.5) for line in lines)
        blocks[-1] = dataclasses.replace(blocks[-1], space=3)  # the gap below a section
    return blocks


def _face(font: Path, text: str) -> pdf.Font:
    """The working-set cut of ``font`` when it covers ``text``, else a cut that adds the
    other characters of ``text``."""
    working = working_font(font)
    if working is None:
        return fonts.regular()
    others = frozenset(ch for ch in set(text) if not working.covers(ch))
    return _with_characters(font, others) if others else working


@functools.lru_cache(maxsize=64)
def _with_characters(font: Path, characters: frozenset[str]) -> pdf.Font:
    return _cut(font, characters) or fonts.regular()


_working: dict[Path, pdf.Font | None] = {}
_working_lock = threading.Lock()


def working_font(font: Path) -> pdf.Font | None:
    """The working-set cut of ``font``, prepared for ``pdf.writer.render`` (once per process and
    font); None when it cannot be made (every document is then set in the cut shipped with
    medsign)."""
    with _working_lock:
        if font not in _working:
            _working[font] = _cut(font)
        return _working[font]


def _cut(font: Path, characters: frozenset[str] = frozenset()) -> pdf.Font | None:
    try:
        return pdf.load_font(cutting.cut(font, _WORKING_SET | {ord(ch) for ch in characters}))
    except Exception:  # a font that cannot be cut: the shipped cut still renders the text
        log.warning("could not cut the font %s down; PDFs are set in the shipped cut", font,
                    exc_info=True)
        return None


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
