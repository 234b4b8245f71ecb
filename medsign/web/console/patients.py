"""«Пациенты портала» (administrators only): patient password accounts — list and search,
create, disable and enable, send a reset link, relink to patient records
(``accounts.patient_accounts``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from medsign.accounts import patient_accounts
from medsign.accounts.patient_accounts import NewAccount
from medsign.domain.patient_accounts import PersonDetails
from medsign.errors import ServiceError
from medsign.web import deps
from medsign.web.console import identities
from medsign.web.templating import render

router = APIRouter(prefix="/console/patients",
                   dependencies=[deps.Guard, Depends(identities.banner)],
                   include_in_schema=False)
FormText = Annotated[str, Form(max_length=1000)]
Name = Annotated[str, Form(min_length=1, max_length=254)]
PERSON_FIELDS = ("last_name", "first_name", "middle_name", "birth_date", "snils", "phone")


def _page(request: Request, *, q: str = "", status: int = 200, error: str | None = None,
          form: dict[str, str] | None = None, relink_error: str | None = None,
          relink: dict[str, str] | None = None) -> Response:
    with deps.read_db(request) as db:
        rows = patient_accounts.list_accounts(db, search=q)
    settings = deps.web_settings(request)
    return render(request, "console/patients.html", status=status, title="Пациенты портала",
                  rows=rows, q=q, error=error, form=form or {}, relink_error=relink_error,
                  relink=relink or {}, mail_enabled=settings.mailing.enabled,
                  tz=settings.console_timezone)


@router.get("")
def patients_page(request: Request, user: deps.Admin,
                  q: Annotated[str, Query(max_length=200)] = "") -> Response:
    return _page(request, q=q)


def _person(form: dict[str, str]) -> PersonDetails:
    return PersonDetails(last_name=form["last_name"], first_name=form["first_name"],
                         middle_name=form["middle_name"] or None,
                         birth_date=patient_accounts.birth_date_of(form["birth_date"]),
                         snils=form["snils"] or None, phone=form["phone"] or None)


@router.post("")
def patients_create(request: Request, user: deps.Admin, login: FormText = "",
                    email: FormText = "", full_name: FormText = "", last_name: FormText = "",
                    first_name: FormText = "", middle_name: FormText = "",
                    birth_date: FormText = "", snils: FormText = "", phone: FormText = "",
                    password: FormText = "", password_again: FormText = "") -> Response:
    form = {"login": login, "email": email, "full_name": full_name, "last_name": last_name,
            "first_name": first_name, "middle_name": middle_name, "birth_date": birth_date,
            "snils": snils, "phone": phone}
    if password != password_again:
        return _page(request, status=422, error="Пароли не совпадают.", form=form)
    settings = deps.web_settings(request)
    try:
        new = NewAccount(login=login, email=email or None, full_name=full_name,
                         password=password or None, person=_person(form))
        with deps.write_db(request) as db:
            patient_accounts.create(db, new=new, mailing=settings.mailing,
                                    allow_demo_password=settings.allow_demo_passwords,
                                    actor=user.actor, now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        return _page(request, status=exc.status, error=exc.message, form=form)
    return RedirectResponse("/console/patients?msg=account_created", status_code=303)


def _act(request: Request, action: str, done: str, run: Callable[[Session], object]) -> Response:
    """Run one action on an account; errors go back to the list."""
    try:
        with deps.write_db(request) as db:
            run(db)
            db.commit()
    except ServiceError as exc:
        return _page(request, status=exc.status, error=f"{action}: {exc.message}")
    return RedirectResponse(f"/console/patients?{urlencode({'msg': done})}", status_code=303)


@router.post("/disable")
def patients_disable(request: Request, user: deps.Admin, account: Name) -> Response:
    now = deps.now(request)
    return _act(request, "Отключение", "account_disabled", lambda db: patient_accounts.disable(
        db, name=account, actor=user.actor, now=now))


@router.post("/enable")
def patients_enable(request: Request, user: deps.Admin, account: Name) -> Response:
    now = deps.now(request)
    return _act(request, "Включение", "account_enabled", lambda db: patient_accounts.enable(
        db, name=account, actor=user.actor, now=now))


@router.post("/reset")
def patients_reset(request: Request, user: deps.Admin, account: Name) -> Response:
    now, mailing = deps.now(request), deps.web_settings(request).mailing
    return _act(request, "Сброс пароля", "reset_sent", lambda db: patient_accounts.reset(
        db, name=account, mailing=mailing, actor=user.actor, now=now))


@router.post("/relink")
def patients_relink(request: Request, user: deps.Admin, account: Name,
                    last_name: FormText = "", first_name: FormText = "",
                    middle_name: FormText = "", birth_date: FormText = "",
                    snils: FormText = "", phone: FormText = "") -> Response:
    form = {"account": account, "last_name": last_name, "first_name": first_name,
            "middle_name": middle_name, "birth_date": birth_date, "snils": snils,
            "phone": phone}
    try:
        person = _person(form)
        with deps.write_db(request) as db:
            patient_accounts.relink(db, name=account, person=person, actor=user.actor,
                                    now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        return _page(request, status=exc.status, relink_error=exc.message, relink=form)
    return RedirectResponse("/console/patients?msg=account_relinked", status_code=303)
