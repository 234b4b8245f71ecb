"""The verification report as a page a lawyer can read (``verification.html``).

Self-contained (no scripts, no external resources), in Russian, printable on A4. Words wrap
only between words: hashes, serial numbers and ids — and only they — may break anywhere
(``.id``); nothing is hyphenated automatically, so a Russian word is never split.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any

from medsign.domain import evidence as words

_e = html.escape


def render_html(report: dict[str, Any], trail: dict[str, Any]) -> str:
    tz = report["timezone"]
    return _PAGE.format(
        request=_e(report["signing_request"]), verdict=_e(verdict(report)),
        facts=_facts(report, tz), documents="".join(
            _document(n, d, tz) for n, d in enumerate(report["documents"], start=1))
        or f"<p>{_e(_archive_problem(report))}</p>",
        signatures="".join(_signature(s, tz) for s in _all_signatures(report)),
        history=_history(trail, tz))


def verdict(report: dict[str, Any]) -> str:
    valid = report["platform_archive"]["valid"] and all(
        s["valid"] for s in report["mo_signatures"])
    return "подписи действительны" if valid else "есть недействительные подписи"


def when(value: str | None, tz: str) -> str:
    """An ISO time of the report, on the organisation's clock, to the second."""
    return words.local_time(datetime.fromisoformat(value), tz) if value else "—"


def _t(value: str | None, tz: str) -> str:
    """A time as HTML: the date and time stay on one line, the zone («(Москва, UTC+3)») on
    another when the column is narrow."""
    moment, _, zone = when(value, tz).partition(" (")
    spans = f'<span class="nowrap">{_e(moment)}</span>'
    return spans + (f' <span class="nowrap">({_e(zone)}</span>' if zone else "")


def birth_date(value: str | None) -> str:
    return f"{date.fromisoformat(value):%d.%m.%Y}" if value else "не указана"


def _archive_problem(report: dict[str, Any]) -> str:
    return f"Архив платформы не прошёл проверку: {report['platform_archive']['problem']}"


def _facts(report: dict[str, Any], tz: str) -> str:
    org, patient, appt = report["organization"], report["patient"], report["appointment"]
    archive = report["platform_archive"]
    rows = [
        ("Пациент", _e(f"{patient['full_name']}, дата рождения "
                       f"{birth_date(patient['birth_date'])}")),
        ("Медицинская организация", _e(f"{org['name']}, ОГРН {org['ogrn']}")),
        ("Приём", _e(f"{appt['service']}, врач {appt['doctor']}, ")
         + _t(appt["starts_at"], tz)),
        ("Транзакция подписания", _id(report["signing_request"])),
        ("Транзакция платформы Госключ", _id(report["transaction_id"] or "—")),
        ("Подписание завершено", _t(report["completed_at"], tz)),
        ("Подписи проверены", _t(report["checked_at"], tz)),
        ("Архив платформы", f"{_e(archive['name'])}, {archive['size']} байт, SHA-256 "
                            f"{_id(archive['sha256'])}"),
    ]
    return _dl(rows)


def _document(number: int, doc: dict[str, Any], tz: str) -> str:
    signer = doc["signer"]
    seal = doc["patient_signature"]
    rows = [("Файл", _e(doc["pdf"])), ("SHA-256 файла PDF", _id(doc["pdf_sha256"])),
            ("Подписант (по данным платформы)",
             _e(f"{signer['full_name'] or 'не указан'}, дата рождения "
                f"{birth_date(signer['birth_date'])}")),
            ("Подпись пациента", _e("простая электронная подпись в Госключе, ")
             + _t(seal["signing_time"], tz)),
            ("Сертификат оператора платформы", _e(seal["signer_subject"])
             + f", серийный номер {_id(seal['signer_serial'])}")]
    for mo in doc["mo_signatures"]:
        rows.append(("Подпись медицинской организации", _mo_text(mo, tz)))
    return (f'<section class="doc"><h3>{number}. {_e(doc["title"])}</h3>'
            f"{_dl(rows)}</section>")


def _mo_text(mo: dict[str, Any], tz: str) -> str:
    if not mo["valid"]:
        return _e(f"недействительна: {mo.get('problem', '')}")
    return (_e(f"{mo['signer_subject']}, ") + f"серийный номер {_id(mo['signer_serial'])}"
            + f", отпечаток {_id(mo['certificate_thumbprint'])}"
            + ", подписано " + _t(mo["signing_time"], tz))


def _all_signatures(report: dict[str, Any]) -> list[dict[str, Any]]:
    return ([{**s, "who": "Оператор платформы (Госключ)"} for s in report["operator_signatures"]]
            + [{**s, "who": "Медицинская организация"} for s in report["mo_signatures"]])


def _signature(s: dict[str, Any], tz: str) -> str:
    status = "действительна" if s["valid"] else f"недействительна: {s.get('problem', '')}"
    rows = [("Файл", _e(str(s.get("covers")))), ("Результат проверки", _e(status))]
    if s["valid"]:
        rows += [("Сертификат", _e(s["signer_subject"])),
                 ("Серийный номер", _id(s["signer_serial"])),
                 ("Отпечаток сертификата (SHA-1)", _id(s["certificate_thumbprint"])),
                 ("SHA-256 сертификата", _id(s["certificate_sha256"])),
                 ("Издатель", _e(s["issuer_subject"])),
                 ("Срок действия", f"с {_t(s['not_before'], tz)} "
                                   f"по {_t(s['not_after'], tz)}"),
                 ("Время подписи", _t(s["signing_time"], tz)),
                 ("Хэш (ГОСТ Р 34.11-2012)", _id(s["message_digest_hex"]))]
    return f'<section class="sig"><h3>{_e(s["who"])}</h3>{_dl(rows)}</section>'


def _history(trail: dict[str, Any], tz: str) -> str:
    return "".join(f'<tr><td data-label="Время">{_t(h["at"], tz)}</td>'
                   f'<td data-label="Состояние">{_e(h["state_title"])}</td>'
                   f'<td data-label="Кто">{_e(h["actor_title"])}</td>'
                   f'<td data-label="Причина">{_e(h["reason"] or "—")}</td></tr>'
                   for h in trail["history"])


def _dl(rows: list[tuple[str, str]]) -> str:
    """Rows of (caption, HTML already escaped)."""
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _id(value: str) -> str:
    """A hash, serial or id: the one kind of text allowed to break between any characters."""
    return f'<code class="id">{_e(value)}</code>'


_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Отчёт о проверке подписей — {request}</title>
<style>
@page{{size:A4;margin:15mm}}
body{{font-family:"DejaVu Sans",Arial,sans-serif;margin:1.5rem auto;max-width:56rem;
padding:0 1rem;line-height:1.4;color:#111;hyphens:manual;overflow-wrap:normal;
word-break:normal}}
h1{{font-size:1.5rem}}h2{{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #999}}
h3{{font-size:1rem;margin:1.2rem 0 .4rem}}
dl{{display:grid;grid-template-columns:minmax(9rem,16rem) minmax(0,1fr);gap:.25rem 1rem;
margin:0}}
dt{{color:#444}}dd{{margin:0;min-width:0}}
.id{{font-family:"DejaVu Sans Mono",monospace;font-size:.85rem;overflow-wrap:anywhere;
word-break:break-all}}
.verdict{{font-size:1.1rem;padding:.5rem .8rem;border:1px solid #999;display:inline-block}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
td,th{{border:1px solid #999;padding:.3rem .4rem;text-align:left;vertical-align:top}}
.nowrap{{white-space:nowrap}}
section{{break-inside:avoid}}
@media (max-width:40rem){{
body{{margin:1rem auto;padding:0 .75rem}}
dl{{grid-template-columns:minmax(0,1fr);gap:0}}dt{{margin-top:.5rem;font-size:.9rem}}
table,tbody,tr,td{{display:block;width:auto}}thead{{display:none}}
tr{{border:1px solid #999;border-bottom:none;padding:.3rem .4rem}}
tr:last-child{{border-bottom:1px solid #999}}
td{{border:none;padding:.1rem 0}}
td::before{{content:attr(data-label) ": ";color:#444}}
}}
</style></head>
<body><h1>Отчёт о проверке подписей</h1>
<p class="verdict"><strong>Итог:</strong> {verdict}.</p>
{facts}
<h2>Подписанные документы</h2>{documents}
<h2>Проверенные подписи</h2>{signatures}
<h2>История</h2><table><thead><tr><th>Время</th><th>Состояние</th><th>Кто</th>
<th>Причина</th></tr></thead><tbody>{history}</tbody></table></body></html>
"""
