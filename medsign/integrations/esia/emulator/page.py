"""ESIA's own pages in the emulator: the login page (choose a test person) and the error page.

Server-rendered Russian HTML, no scripts; one column that fits a 375 px screen, 44 px touch
targets, real ``<label>``s and a ``<fieldset>``/``<legend>`` around the radio list.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from medsign.integrations.esia.emulator.checks import OAuthError
from medsign.integrations.esia.emulator.config import SCOPE_TITLES
from medsign.integrations.esia.emulator.model import LoginRequest, TestPerson

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))
_NO_STORE = {"Cache-Control": "no-store"}


def login_page(request: LoginRequest, persons: Iterable[TestPerson], *, action: str,
               problem: str | None = None, status: int = 200) -> HTMLResponse:
    scopes = [SCOPE_TITLES.get(s, s) for s in request.scope.split()]
    html = _ENV.get_template("login.html").render(
        request=request, persons=list(persons), scopes=scopes, action=action, problem=problem)
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


def error_page(error: OAuthError) -> HTMLResponse:
    html = _ENV.get_template("error.html").render(error=error.error,
                                                  description=error.description)
    return HTMLResponse(html, status_code=error.status, headers=_NO_STORE)
