"""The documents the platform renders from a transaction: the PDF and the ``<agreement>`` XML.

The PDF is what the patient reads and signs; fpdf2 subsets the Cyrillic TTF font into it, so a
consent stays a few kilobytes (cheap to hash with pure-Python Streebog). The patient's name is
also in the PDF's ``/Author`` metadata, where a test can find it without a PDF parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

from medsign.integrations.goskey.emulator.model import Document
from medsign.integrations.goskey.emulator.profile import PatientProfile

_FONT = "DejaVu"


@dataclass(frozen=True)
class Sheet:
    """Everything one rendered document shows."""

    document: Document
    patient: PatientProfile
    transaction_id: str
    created_at: datetime


def render_pdf(sheet: Sheet, *, font: Path) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(sheet.created_at)
    pdf.set_title(sheet.document.title)
    pdf.set_author(sheet.patient.full_name)
    pdf.set_creator("Госключ (эмулятор)")
    pdf.add_font(_FONT, fname=str(font))
    pdf.add_page()
    _heading(pdf, sheet.document.title)
    for caption, lines in _sections(sheet):
        _section(pdf, caption, lines)
    return bytes(pdf.output())


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
    pdf.multi_cell(0, 8, text, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _section(pdf: FPDF, caption: str, lines: list[str]) -> None:
    pdf.set_font(_FONT, size=12)
    pdf.multi_cell(0, 7, caption, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=10)
    for line in lines:
        pdf.multi_cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


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
