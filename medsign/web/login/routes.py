"""The start page, staff login and logout (shared with the portal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from medsign.accounts.staff import Role
from medsign.web import deps
from medsign.web.login.password import logout, password_login, safe_next
from medsign.web.templating import render

router = APIRouter(dependencies=[deps.Guard], include_in_schema=False)
Text = Annotated[str, Form(max_length=1000)]


def home_of(visitor: deps.Visitor) -> str:
    if visitor.staff is not None:
        return "/doctor" if visitor.staff.role is Role.doctor else "/console"
    return "/portal" if visitor.patient is not None else "/"


@router.get("/")
def start_page(request: Request) -> Response:
    return render(request, "home.html", title="Подписание медицинских документов")


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:  # noqa: A002
    visitor = deps.ensure_csrf(request)
    if visitor.staff is not None:
        return RedirectResponse(home_of(visitor), status_code=303)
    return render(request, "login.html", title="Вход для сотрудников", next=safe_next(next, ""),
                  login="")


@router.post("/login")
def login_submit(request: Request, login: Text = "", password: Text = "",
                 next: Annotated[str, Form(max_length=1000)] = "") -> Response:  # noqa: A002
    result = password_login(request, realm="staff", login=login, password=password)
    if not result.ok:
        deps.ensure_csrf(request)
        return render(request, "login.html", status=result.status, title="Вход для сотрудников",
                      next=safe_next(next, ""), login=login[:100],
                      error=result.message("staff"))
    return RedirectResponse(safe_next(next, "/after-login"), status_code=303)


@router.get("/after-login")
def after_login(request: Request) -> Response:
    return RedirectResponse(home_of(deps.visitor(request)), status_code=303)


@router.post("/logout")
def logout_submit(request: Request) -> Response:
    portal = deps.visitor(request).patient is not None
    logout(request)
    target = "/portal/login" if portal else "/login"
    return RedirectResponse(f"{target}?msg=logged_out", status_code=303)
