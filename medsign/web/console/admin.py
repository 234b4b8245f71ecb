"""The console's audit log, support requests, and (administrators only) staff users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from medsign.accounts import sessions, staff, support
from medsign.accounts.sessions import Owner
from medsign.accounts.staff import NewUser, Role, StaffUser
from medsign.errors import ServiceError
from medsign.records import organizations as organization_records
from medsign.records import paging
from medsign.web import deps
from medsign.web.console import identities, queries
from medsign.web.console.routes import PAGE
from medsign.web.forms import day_range, decode_cursor, encode_cursor
from medsign.web.templating import render

router = APIRouter(prefix="/console", dependencies=[deps.Guard, Depends(identities.banner)],
                   include_in_schema=False)
Filter = Annotated[str, Query(max_length=200)]
FormText = Annotated[str, Form(max_length=1000)]


@router.get("/audit")
def audit_page(request: Request, user: deps.Operator, actor: Filter = "", action: Filter = "",
               subject: Filter = "", day: Filter = "",
               cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    tz = deps.web_settings(request).console_timezone
    bounds = day_range(day, tz) if day else None
    where = queries.AuditFilter(actor=actor.strip() or None, action=action.strip() or None,
                                subject=subject.strip() or None,
                                since=bounds[0] if bounds else None,
                                until=bounds[1] if bounds else None)
    before = decode_cursor(cursor)
    before_id = before.get("b") if before else None
    with deps.read_db(request) as db:
        rows = queries.audit_page(db, where=where, limit=PAGE + 1,
                                  before_id=before_id if isinstance(before_id, int) else None)
        entries = queries.audit_entries(db, rows[:PAGE])
    filters = {"actor": actor, "action": action, "subject": subject, "day": day}
    next_url = ("/console/audit?" + urlencode({**filters,
                                                "cursor": encode_cursor({"b": rows[PAGE - 1].id})})
                if len(rows) > PAGE else None)
    return render(request, "console/audit.html", title="Журнал аудита", rows=entries,
                  filters=filters, next_url=next_url, tz=tz)


@router.get("/support")
def support_page(request: Request, user: deps.Operator, status: Filter = support.OPEN,
                 cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    which = support.CLOSED if status == support.CLOSED else support.OPEN
    with deps.read_db(request) as db:
        rows, total = support.list_requests(db, status=which, before=_support_cursor(cursor),
                                            limit=PAGE + 1)
    last = rows[PAGE - 1] if len(rows) > PAGE else None
    next_url = ("/console/support?" + urlencode({"status": which, "cursor": encode_cursor(
        {"t": last.created_at.isoformat(), "i": last.id})}) if last is not None else None)
    return render(request, "console/support.html", title="Обращения в поддержку",
                  rows=rows[:PAGE], which=which, total=min(total, support.COUNT_MOST),
                  more=total > support.COUNT_MOST,
                  next_url=next_url, deep=bool(cursor),
                  tz=deps.web_settings(request).console_timezone)


def _support_cursor(token: str) -> tuple[datetime, int] | None:
    """Where a page of support requests starts; an unreadable cursor: the first page."""
    found = decode_cursor(token) if token else None
    if not found or not isinstance(found.get("i"), int):
        return None
    at = paging.moment(found.get("t"))
    return None if at is None else (at, found["i"])


@router.post("/support/{reference}/close")
def support_close(request: Request, user: deps.Operator,
                  reference: Annotated[str, Path(max_length=16)],
                  resolution: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    with deps.write_db(request) as db:
        support.close(db, reference=reference, resolution=resolution, actor=user.actor,
                      now=deps.now(request))
        db.commit()
    return RedirectResponse("/console/support?msg=support_closed", status_code=303)


@router.get("/users")
def users_page(request: Request, user: deps.Admin) -> Response:
    return _users(request)


def _users(request: Request, *, status: int = 200, error: str | None = None,
           form: dict[str, str] | None = None,
           role_form: dict[str, str] | None = None,
           doctor_form: dict[str, str] | None = None) -> Response:
    with deps.read_db(request) as db:
        users, orgs = staff.list_all(db), organization_records.names(db)
    return render(request, "console/users.html", status=status, title="Пользователи",
                  users=users, organizations=orgs, roles=[(r.value, r.title) for r in Role],
                  error=error, form=form or {}, role_form=role_form or {},
                  doctor_form=doctor_form or {},
                  tz=deps.web_settings(request).console_timezone)


@router.post("/users")
def users_create(request: Request, user: deps.Admin, login: FormText, full_name: FormText,
                 role: FormText, password: FormText, password_again: FormText,
                 organization: Annotated[str, Form(max_length=64)] = "") -> Response:
    form = {"login": login, "full_name": full_name, "role": role, "organization": organization}
    if password != password_again:
        return _users(request, status=422, error="Пароли не совпадают.", form=form)
    new = NewUser(login=login, full_name=full_name, role=role,
                  organization=organization or None, password=password)
    settings = deps.web_settings(request)
    try:
        with deps.write_db(request) as db:
            staff.create(db, user=new, allow_demo_password=settings.allow_demo_passwords,
                         actor=user.actor, now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        return _users(request, status=exc.status, error=exc.message, form=form)
    return RedirectResponse("/console/users?msg=user_created", status_code=303)


@router.post("/users/password")
def users_password(request: Request, user: deps.Admin,
                   login: Annotated[str, Form(max_length=100)], password: FormText,
                   password_again: FormText) -> Response:
    if password != password_again:
        return _users(request, status=422, error="Пароли не совпадают.")
    settings = deps.web_settings(request)
    try:
        with deps.write_db(request) as db:
            row = staff.set_password(db, login=login, password=password,
                                     allow_demo_password=settings.allow_demo_passwords,
                                     actor=user.actor, now=deps.now(request))
            sessions.end_all_of(db, owner=Owner(staff_user_id=row.id))
            db.commit()
    except ServiceError as exc:
        return _users(request, status=exc.status, error=exc.message)
    return RedirectResponse("/console/users?msg=password_set", status_code=303)


Login = Annotated[str, Path(min_length=1, max_length=100)]


@router.post("/users/{login}/disable")
def users_disable(request: Request, user: deps.Admin, login: Login) -> Response:
    return _set_disabled(request, user, login, disabled=True)


@router.post("/users/{login}/enable")
def users_enable(request: Request, user: deps.Admin, login: Login) -> Response:
    return _set_disabled(request, user, login, disabled=False)


def _set_disabled(request: Request, user: StaffUser, login: str, *, disabled: bool) -> Response:
    try:
        with deps.write_db(request) as db:
            staff.set_disabled(db, login=login, disabled=disabled, actor=user.actor,
                               now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        return _users(request, status=exc.status, error=exc.message)
    return RedirectResponse(f"/console/users?msg={'user_disabled' if disabled else 'user_enabled'}",
                            status_code=303)


@router.post("/users/role")
def users_role(request: Request, user: deps.Admin, login: Annotated[str, Form(max_length=100)],
               role: Annotated[str, Form(max_length=20)],
               organization: Annotated[str, Form(max_length=64)] = "") -> Response:
    try:
        with deps.write_db(request) as db:
            staff.change_role(db, login=login, role=role, organization=organization or None,
                              actor=user.actor, now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        return _users(request, status=exc.status, error=exc.message,
                      role_form={"login": login, "role": role, "organization": organization})
    return RedirectResponse("/console/users?msg=user_changed", status_code=303)


@router.post("/users/doctor-id")
def users_doctor_id(request: Request, user: deps.Admin,
                    login: Annotated[str, Form(max_length=100)],
                    doctor_id: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        with deps.write_db(request) as db:
            staff.set_doctor_id(db, login=login, doctor_id=doctor_id or None, actor=user.actor,
                                now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        return _users(request, status=exc.status, error=exc.message,
                      doctor_form={"login": login, "doctor_id": doctor_id})
    return RedirectResponse("/console/users?msg=doctor_id_set", status_code=303)
