"""The portal's password login (ESIA in ``portal_esia``). What the patient does once logged
in — documents, signing, MAX linking — is ``medsign.web.patient``, shared with the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from medsign.web import deps
from medsign.web.login.password import password_login, safe_next
from medsign.web.templating import render

router = APIRouter(prefix="/portal", dependencies=[deps.Guard], include_in_schema=False)
Text = Annotated[str, Form(max_length=1000)]
Id = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:  # noqa: A002
    visitor = deps.ensure_csrf(request)
    if visitor.patient is not None:
        return RedirectResponse("/portal", status_code=303)
    return login_form(request, next=next)


def login_form(request: Request, *, status: int = 200, next: str = "",  # noqa: A002
               login: str = "", error: str | None = None) -> Response:
    deps.ensure_csrf(request)
    return render(request, "portal/login.html", status=status, title="Вход на портал пациента",
                  next=safe_next(next, ""), login=login[:254], error=error,
                  esia_enabled=deps.web_settings(request).esia is not None)


@router.post("/login")
def login_submit(request: Request, login: Text = "", password: Text = "",
                 next: Text = "") -> Response:  # noqa: A002
    result = password_login(request, realm="portal", login=login, password=password)
    if not result.ok:
        return login_form(request, status=result.status, next=next, login=login,
                          error=result.message("portal"))
    return RedirectResponse(safe_next(next, "/portal"), status_code=303)
