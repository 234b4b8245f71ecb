"""The patient's view of the Goskey bot: a small server-rendered Russian page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from medsign.integrations.goskey.emulator.model import Transaction
from medsign.integrations.goskey.emulator.profile import profile_for

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))
_STATUS_TEXT = {
    ("active", "wip_client"): "Ожидает вашей подписи",
    ("active", "wip_partner"): "Подписано вами, ожидает подписи медицинской организации",
    ("active", "done"): "Подписано обеими сторонами, завершается",
    ("finished", ""): "Завершено",
    ("cancelled", "refused"): "Вы отказались от подписания",
    ("cancelled", "expired"): "Срок подписания истёк",
    ("cancelled", ""): "Отменено",
    ("error", ""): "Ошибка платформы",
}


@dataclass(frozen=True)
class Card:
    transaction: Transaction
    patient_name: str
    status_text: str
    pending: bool


def render(transactions: list[Transaction], *, phone: str | None, notice: str | None,
           phones: list[str]) -> HTMLResponse:
    cards = [_card(t) for t in transactions]
    html = _ENV.get_template("page.html").render(
        phone=phone or "", notice=notice, pending=[c for c in cards if c.pending],
        others=[c for c in cards if not c.pending],
        phones=phones)
    return HTMLResponse(html)


def _card(transaction: Transaction) -> Card:
    key = (transaction.status,
           transaction.step_status if transaction.status == "active" else
           transaction.reason or "")
    text = _STATUS_TEXT.get(key) or _STATUS_TEXT.get((transaction.status, ""), transaction.status)
    return Card(transaction, profile_for(transaction.phone).full_name, text,
                transaction.awaits_patient)
