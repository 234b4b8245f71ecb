"""«Забыли пароль?»: a reset link by e-mail (``accounts.patient_accounts``).

``/portal/password/forgot`` answers the same whether or not the name is an account's (and
whether it has an e-mail); it is throttled by the name and by the address. Without ``[email]``
it says that a password is reset at the clinic. ``/portal/password/reset/{token}`` sets a new
password once; the account's sessions end and the patient logs in with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from medsign.accounts import patient_accounts
from medsign.errors import NotFound, ServiceError, TooManyRequests
from medsign.web import deps
from medsign.web.templating import render

router = APIRouter(prefix="/portal/password", dependencies=[deps.Guard],
                   include_in_schema=False)
Text = Annotated[str, Form(max_length=1000)]
Token = Annotated[str, Path(min_length=1, max_length=100)]
SENT = ("Если на портале есть учётная запись с таким логином или электронной почтой и в ней "
        "указана почта, мы отправили на неё письмо со ссылкой. Откройте ссылку из письма и "
        "задайте новый пароль. Письма нет несколько минут — проверьте папку «Спам».")


def _forgot(request: Request, *, status: int = 200, login: str = "", error: str | None = None,
            sent: bool = False) -> Response:
    deps.ensure_csrf(request)
    mailing = deps.web_settings(request).mailing
    return render(request, "portal/forgot.html", status=status, title="Восстановление пароля",
                  enabled=mailing.enabled, login=login[:254], error=error,
                  sent=SENT if sent else None)


@router.get("/forgot")
def forgot_page(request: Request) -> Response:
    return _forgot(request)


@router.post("/forgot")
def forgot_submit(request: Request, login: Text = "") -> Response:
    mailing = deps.web_settings(request).mailing
    if not mailing.enabled:
        return _forgot(request, status=503)
    if not login.strip():
        return _forgot(request, status=422, error="Укажите логин или электронную почту.")
    try:
        with deps.write_db(request) as db:
            patient_accounts.request_reset(db, name=login, address=deps.visitor(request).address,
                                           mailing=mailing, now=deps.now(request))
            db.commit()
    except TooManyRequests as exc:
        return _forgot(request, status=429, login=login, error=exc.message)
    return _forgot(request, sent=True)


def _reset(request: Request, token: str, *, status: int = 200,
           error: str | None = None) -> Response:
    deps.ensure_csrf(request)
    with deps.read_db(request) as db:
        try:
            row = patient_accounts.check_link(db, token, now=deps.now(request))
        except NotFound as exc:
            return render(request, "portal/reset.html", status=410, title="Новый пароль",
                          invalid=exc.message, token="", login=None)
    return render(request, "portal/reset.html", status=status, title="Новый пароль",
                  invalid=None, token=token, login=row.login or row.email, error=error)


@router.get("/reset/{token}")
def reset_page(request: Request, token: Token) -> Response:
    return _reset(request, token)


@router.post("/reset/{token}")
def reset_submit(request: Request, token: Token, password: Text = "",
                 password_again: Text = "") -> Response:
    settings = deps.web_settings(request)
    try:
        with deps.write_db(request) as db:
            patient_accounts.set_password_by_link(
                db, token=token, password=password, password_again=password_again,
                allow_demo_password=settings.allow_demo_passwords, now=deps.now(request))
            db.commit()
    except NotFound:
        return _reset(request, token)
    except ServiceError as exc:
        return _reset(request, token, status=exc.status, error=exc.message)
    return RedirectResponse("/portal/login?msg=password_changed", status_code=303)
