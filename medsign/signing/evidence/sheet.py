"""The signature sheet («Лист подписания»): one PDF that says who signed which document, when,
and with what certificate — the page DocuSeal and Documenso append to a signed document.

Per document: its name and the SHA-256 of the PDF exactly as in the platform's archive (what
the patient signed), the patient's signature (the signer as the platform put them into the
agreement XML, the platform operator's certificate that sealed it, the time) and the MO's
counter-signature (certificate subject, serial, thumbprint, SHA-256, validity, time — of the
certificate embedded in the signature, so a later rotation does not change it); above them
the organisation, the patient and both transaction ids. Drawn from the same report as
``verification.json``, set by the project's PDF writer in the shipped DejaVu cut (a page costs
well under a millisecond).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from medsign.pdf import fonts, writer
from medsign.signing.evidence.report import birth_date, verdict, when

_LABEL = 50.0  # the caption column, mm
_CREATOR = "medsign"


def render_sheet(report: dict[str, Any]) -> bytes:
    regular = fonts.regular()
    blocks = _blocks(_fit(report, regular), regular)
    return writer.render(regular, blocks, title="Лист подписания",
                         author=report["organization"]["name"], creator=_CREATOR,
                         created=datetime.fromisoformat(report["checked_at"]),
                         bold=fonts.bold())


def _blocks(report: dict[str, Any], font: writer.Font) -> list[writer.Block]:
    tz = report["timezone"]
    blocks = [writer.Block("Лист подписания", size=16, line=8, align="C", bold=True),
              writer.Block("электронных документов пациента в Госключе", size=10, line=5,
                           align="C", space=5),
              *_header(report, tz)]
    for number, doc in enumerate(report["documents"], start=1):
        group = _document(number, doc, tz)
        # a document's part stays on one page (when it fits one at all)
        blocks += [replace(group[0], keep=writer.height(group, font, fonts.bold())), *group[1:]]
    if not report["documents"]:
        blocks.append(_row("Документы", "архив платформы не прошёл проверку: "
                           f"{report['platform_archive']['problem']}"))
    blocks.append(writer.Block(
        f"Лист сформирован {when(report['checked_at'], tz)} по данным пакета доказательств "
        f"транзакции {report['signing_request']}; подписи проверены, итог: {verdict(report)}.",
        size=8, line=4, align="L"))
    return blocks


def _header(report: dict[str, Any], tz: str) -> list[writer.Block]:
    org, patient = report["organization"], report["patient"]
    return [
        _row("Медицинская организация", f"{org['name']}, ОГРН {org['ogrn']}"),
        _row("Пациент", f"{patient['full_name']}, дата рождения "
                        f"{birth_date(patient['birth_date'])}"),
        _row("Транзакция подписания", report["signing_request"]),
        _row("Транзакция платформы Госключ", report["transaction_id"] or "—"),
        _row("Подписание завершено", when(report["completed_at"], tz)),
        _row("Архив платформы, SHA-256", report["platform_archive"]["sha256"], space=4),
    ]


def _document(number: int, doc: dict[str, Any], tz: str) -> list[writer.Block]:
    signer, seal = doc["signer"], doc["patient_signature"]
    blocks = [writer.Block(f"Документ {number}. {doc['title']}", size=11.5, line=6,
                           align="L", bold=True, space=1),
              _row("Файл", doc["pdf"]),
              _row("SHA-256 файла PDF", doc["pdf_sha256"], space=2),
              _caption("Подпись пациента"),
              _row("Вид подписи", "простая электронная подпись в Госключе"),
              _row("Подписант (по данным платформы)",
                   f"{signer['full_name'] or 'не указан'}, дата рождения "
                   f"{birth_date(signer['birth_date'])}"),
              _row("Сертификат оператора платформы", seal["signer_subject"]),
              _row("Серийный номер", seal["signer_serial"]),
              _row("Время подписи", when(seal["signing_time"], tz), space=2)]
    for mo in doc["mo_signatures"]:
        blocks += [_caption("Подпись медицинской организации"), *_mo_rows(mo, tz)]
    blocks[-1] = replace(blocks[-1], space=5)
    return blocks


def _mo_rows(mo: dict[str, Any], tz: str) -> list[writer.Block]:
    if not mo["valid"]:
        return [_row("Результат проверки", f"недействительна: {mo.get('problem', '')}")]
    return [_row("Сертификат", mo["signer_subject"]),
            _row("Серийный номер", mo["signer_serial"]),
            _row("Отпечаток сертификата (SHA-1)", mo["certificate_thumbprint"]),
            _row("SHA-256 сертификата", mo["certificate_sha256"]),
            _row("Срок действия сертификата",
                 f"с {when(mo['not_before'], tz)} по {when(mo['not_after'], tz)}"),
            _row("Время подписи", when(mo["signing_time"], tz), space=2)]


def _caption(text: str) -> writer.Block:
    return writer.Block(text, size=9.5, line=5, align="L", bold=True, space=0.5)


def _row(label: str, value: str, *, space: float = 0.8) -> writer.Block:
    return writer.Block(value, size=9.0, line=4.6, align="L", space=space, indent=_LABEL,
                        label=label)


def _fit(data: Any, font: writer.Font) -> Any:
    """The report with any character the shipped cut lacks shown as U+FFFD."""
    if isinstance(data, str):
        return fonts.printable(data, font)
    if isinstance(data, dict):
        return {k: _fit(v, font) for k, v in data.items()}
    if isinstance(data, list):
        return [_fit(v, font) for v in data]
    return data
