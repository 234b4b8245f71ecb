"""The app «К врачу»: its start, the region list and the login screen (seed 3.3.2, 3.4.2).

``/app/`` decides where the app opens (``domain.app_regions.start_screen``): the region list
until a region is chosen (remembered by the browser in a long-lived cookie), another
installation's app for a region served elsewhere, the patient's home, the quick login of a
bound device (``/app/unlock``), or the login screen. Login by e-mail and password is the
portal's (``realm="portal"``); «Войти через портал Госуслуг» is the portal's ESIA round trip,
which carries ``next`` back into the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from medsign.domain.app_regions import Region, find, start_screen
from medsign.web import deps
from medsign.web.app import shell
from medsign.web.login.password import logout, password_login
from medsign.web.templating import render, templates

router = APIRouter(prefix="/app", dependencies=[deps.Guard], include_in_schema=False)
Text = Annotated[str, Form(max_length=1000)]
AFTER_LOGIN = "/app/welcome"  # the quick login's offer (PIN, biometrics), then home
templates.env.globals.update(app_asset=shell.static_url)


def regions(request: Request) -> tuple[Region, ...]:
    return deps.web_settings(request).app.regions


def here(request: Request) -> Region | None:
    """This installation's entry in the list (None: the list leaves it out)."""
    return find(regions(request), deps.web_settings(request).app.public_url)


def chosen(request: Request) -> Region | None:
    return find(regions(request), deps.region_cookie(request))


@router.get("/")
def start(request: Request, region: str = "") -> Response:
    """``?region=`` is this installation's address when another one sent the patient here
    after they chose it: remembered without asking again. Any other value is ignored."""
    current, this = chosen(request), here(request)
    if this is not None and region and find((this,), region) is not None:
        deps.remember_region(request, this.url)
        current = this
    visitor = deps.visitor(request)
    target = start_screen(chosen=current, here=this, patient=visitor.patient is not None,
                          device=deps.app_device_cookie(request) is not None)
    return RedirectResponse(target, status_code=303)


@router.get("/region")
def region_page(request: Request) -> Response:
    deps.ensure_csrf(request)
    return render(request, "app/regions.html", title="Выбор региона", regions=regions(request),
                  current=chosen(request))


@router.post("/region")
def choose_region(request: Request, url: Text = "") -> Response:
    picked = find(regions(request), url)
    if picked is None:
        deps.ensure_csrf(request)
        return render(request, "app/regions.html", status=400, title="Выбор региона",
                      regions=regions(request), current=chosen(request),
                      error="Такого региона нет в списке. Выберите регион из списка.")
    deps.remember_region(request, picked.url)
    return RedirectResponse("/app/", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    if deps.visitor(request).patient is not None:
        return RedirectResponse("/app/home", status_code=303)
    return login_form(request)


def login_form(request: Request, *, status: int = 200, email: str = "",
               error: str | None = None, kind: str = "error") -> Response:
    """The login screen; ``kind`` "fault" for a failure of the service (ESIA unavailable):
    the message then leads to the support form."""
    deps.ensure_csrf(request)
    return render(request, "app/login.html", status=status, title="Вход", email=email[:254],
                  error=error, error_kind=kind, after_login=AFTER_LOGIN,
                  esia_enabled=deps.web_settings(request).esia is not None,
                  region=chosen(request))


@router.post("/login")
def login_submit(request: Request, email: Text = "", password: Text = "") -> Response:
    result = password_login(request, realm="portal", login=email, password=password)
    if not result.ok:
        return login_form(request, status=result.status, email=email,
                          error=result.message("portal"))
    return RedirectResponse(AFTER_LOGIN, status_code=303)


@router.post("/logout")
def logout_submit(request: Request) -> Response:
    logout(request)
    return RedirectResponse("/app/login?msg=logged_out", status_code=303)
