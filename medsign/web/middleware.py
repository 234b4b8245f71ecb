"""Per-response work of the web pages: the session cookie and ``Cache-Control`` (the security
headers are ``medsign.httpsafe.headers``, shared with the emulators).

Route code says *what* the cookie should become (``request.state.web_cookie`` /
``web_cookie_clear``); this one place says *how* (flags), so no route can set it without
``HttpOnly``/``Secure``/``SameSite``.
"""

from __future__ import annotations

from fastapi import Request, Response

from medsign.domain.app_devices import QuickLoginRule
from medsign.domain.app_regions import REMEMBER_REGION
from medsign.domain.login_devices import DEVICE
from medsign.serving import Call
from medsign.web.config import WebSettings
from medsign.web.deps import (
    app_device_cookie_name,
    cookie_name,
    csrf_cookie_name,
    device_cookie_name,
    region_cookie_name,
    web_settings,
)
from medsign.web.errors import APP_API, wants_html


async def web_middleware(request: Request, call_next: Call) -> Response:
    response = await call_next(request)
    if not wants_html(request) and not request.url.path.startswith(APP_API):
        return response
    _cookie(request, response)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _cookie(request: Request, response: Response) -> None:
    settings = web_settings(request)
    name = cookie_name(settings)
    token = getattr(request.state, "web_cookie", None)
    if isinstance(token, str):
        response.set_cookie(name, token, path="/", secure=settings.cookie_secure, httponly=True,
                            samesite="lax")
    elif getattr(request.state, "web_cookie_clear", False):
        response.delete_cookie(name, path="/", secure=settings.cookie_secure, httponly=True,
                               samesite="lax")
    csrf = getattr(request.state, "web_csrf_cookie", None)
    if isinstance(csrf, str):
        response.set_cookie(csrf_cookie_name(settings), csrf, path="/",
                            secure=settings.cookie_secure, httponly=True, samesite="lax")
    device = getattr(request.state, "web_device_cookie", None)
    if isinstance(device, str):  # outlives the session and logout: it is the browser's
        response.set_cookie(device_cookie_name(settings), device, path="/",
                            max_age=int(DEVICE.lifetime.total_seconds()),
                            secure=settings.cookie_secure, httponly=True, samesite="lax")
    region = getattr(request.state, "web_region_cookie", None)
    if isinstance(region, str):  # a preference of the browser's, like the device cookie
        response.set_cookie(region_cookie_name(settings), region, path="/",
                            max_age=int(REMEMBER_REGION.total_seconds()),
                            secure=settings.cookie_secure, httponly=True, samesite="lax")
    app_device = getattr(request.state, "web_app_device", None)
    if isinstance(app_device, str):
        _app_device(response, settings, app_device)


def _app_device(response: Response, settings: WebSettings, device_id: str) -> None:
    """Outlives sessions like the device tokens; removed when the device is unbound."""
    name = app_device_cookie_name(settings)
    if not device_id:
        response.delete_cookie(name, path="/", secure=settings.cookie_secure, httponly=True,
                               samesite="lax")
        return
    rule = settings.quick_login or QuickLoginRule()
    response.set_cookie(name, device_id, path="/", max_age=int(rule.lifetime.total_seconds()),
                        secure=settings.cookie_secure, httponly=True, samesite="lax")
