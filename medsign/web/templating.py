"""Jinja2 templates, their filters, and the one way pages are rendered.

Messages after a redirect travel as a fixed code (``?msg=signing_started``) looked up in
``NOTICES``: a URL can never put its own words on a page.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from medsign.domain.signing import SigningState

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
          "сентября", "октября", "ноября", "декабря")

NOTICES: dict[str, tuple[str, str]] = {
    "signing_started": ("success", "Документы отправлены на подписание. Пациент получит запрос "
                                   "в Госключе; состояние обновится на этой странице."),
    "patient_signing_started": ("success", "Готовим документы к подписанию. Когда они появятся в "
                                           "Госключе, здесь появится ссылка; страница "
                                           "обновляется сама."),
    "paper_chosen": ("success", "Документы, ожидавшие электронной подписи, переведены на "
                                "бумагу: пациент подпишет их в клинике."),
    "retried": ("success", "Транзакция поставлена на повтор с того шага, где остановилась."),
    "cancelled": ("success", "Транзакция подписания отменена."),
    "support_closed": ("success", "Обращение закрыто."),
    "webhook_replayed": ("success", "Событие поставлено на повторную отправку."),
    "user_created": ("success", "Пользователь создан."),
    "password_set": ("success", "Новый пароль задан; прежние сеансы пользователя завершены."),
    "user_disabled": ("success", "Пользователь отключён; его сеансы завершены."),
    "user_enabled": ("success", "Пользователь снова может входить."),
    "user_changed": ("success", "Роль и МО пользователя изменены."),
    "doctor_id_set": ("success", "Идентификатор врача в МИС сохранён."),
    "logged_out": ("success", "Вы вышли из системы."),
    "password_changed": ("success", "Новый пароль сохранён. Войдите с ним."),
    "account_created": ("success", "Учётная запись пациента создана."),
    "account_disabled": ("success", "Учётная запись отключена; её сеансы завершены."),
    "account_enabled": ("success", "Учётная запись снова включена."),
    "reset_sent": ("success", "Ссылка для нового пароля отправлена на почту пациента; прежний "
                              "пароль и сеансы больше не действуют."),
    "account_relinked": ("success", "Карты пациента сопоставлены заново."),
    "email_changed": ("success", "Электронная почта изменена."),
    "session_expired": ("warning", "Сеанс завершён из-за бездействия или истёк. Войдите снова."),
}


def _local(value: datetime | None, tz: str | None = None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz)) if tz else value


def format_datetime(value: datetime | None, tz: str | None = None) -> str:
    local = _local(value, tz)
    return local.strftime("%d.%m.%Y %H:%M") if local else "—"


def format_time(value: datetime | None, tz: str | None = None) -> str:
    local = _local(value, tz)
    return local.strftime("%H:%M") if local else "—"


def format_date(value: date | datetime | None) -> str:
    return value.strftime("%d.%m.%Y") if value else "—"


def long_date(value: date) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def state_title(value: str | None) -> str:
    """A signing state's Russian name (the raw value if it is not one)."""
    if value is None:
        return "—"
    try:
        return SigningState(value).title
    except ValueError:
        return value


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def age(value: timedelta | None) -> str:
    """How old, in words and at most two units: «2 дня 4 часа», «35 минут»."""
    if value is None:
        return "—"
    if value < timedelta(0):
        return "в будущем"
    minutes = int(value.total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [(days, ("день", "дня", "дней")), (hours, ("час", "часа", "часов")),
             (minutes, ("минута", "минуты", "минут"))]
    words = [f"{n} {plural(n, *forms)}" for n, forms in parts if n]
    return " ".join(words[:2]) if words else "меньше минуты"


def plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    return few if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else many


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES)
    env = templates.env
    env.filters.update(dt=format_datetime, time=format_time, d=format_date,
                       long_date=long_date, iso=iso, percent=percent, state_title=state_title,
                       age=age)
    env.trim_blocks, env.lstrip_blocks = True, True
    return templates


templates = _templates()


def render(request: Request, name: str, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    visitor = getattr(request.state, "visitor", None)
    settings = getattr(request.app.state, "web", None)
    notice = NOTICES.get(request.query_params.get("msg", ""))
    base: dict[str, Any] = {
        "visitor": visitor, "csrf_token": getattr(visitor, "csrf_token", None),
        "refresh_seconds": getattr(settings, "refresh_seconds", 5), "notice": notice,
        "request_id": getattr(request.state, "request_id", None),
        "mo_warnings": getattr(request.state, "mo_warnings", ()),
        "console_alerts": getattr(request.state, "console_alerts", "")}
    response: HTMLResponse = templates.TemplateResponse(request, name, {**base, **context},
                                                        status_code=status)
    return response
