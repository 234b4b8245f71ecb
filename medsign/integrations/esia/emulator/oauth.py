"""ESIA's OAuth 2.0 endpoints: ``/aas/oauth2/ac`` (v1; ``/v2/ac`` too), the login form's
``/aas/oauth2/login``, and ``/aas/oauth2/te`` (``/v3/te`` too).

Both versions take the v1 ``client_secret`` here (see ``docs/esia.md``); v2's
``client_certificate_hash`` is accepted and ignored.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from medsign.integrations.esia.emulator import page
from medsign.integrations.esia.emulator.checks import OAuthError, PageError, RedirectError
from medsign.integrations.esia.emulator.core import Emulator, UnknownPerson, with_query

LOGIN_PATH = "/aas/oauth2/login"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def routes(emulator: Emulator) -> list[Route]:
    async def authorize(request: Request) -> Response:
        try:
            login = emulator.authorize(request.query_params)
        except RedirectError as exc:
            return _redirect(with_query(exc.redirect_uri, error=exc.error,
                                        error_description=exc.description, state=exc.state))
        except PageError as exc:
            return page.error_page(exc)
        return page.login_page(login, emulator.store.persons.values(), action=LOGIN_PATH)

    async def choose(request: Request) -> Response:
        form = await request.form()
        request_id, oid = str(form.get("request_id", "")), str(form.get("oid", ""))
        try:
            if form.get("action") == "cancel":
                return _redirect(emulator.cancel(request_id))
            return _redirect(emulator.login(request_id, oid))
        except PageError as exc:
            return page.error_page(exc)
        except UnknownPerson:
            return page.login_page(emulator.pending(request_id),
                                   emulator.store.persons.values(), action=LOGIN_PATH,
                                   problem="Выберите пользователя из списка", status=422)

    async def token(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            answer = emulator.exchange(fields)
        except OAuthError as exc:
            return oauth_error(exc)
        return JSONResponse(answer, headers=_NO_STORE)

    return [Route(path, authorize, methods=["GET"])
            for path in ("/aas/oauth2/ac", "/aas/oauth2/v2/ac")] + [
            Route(LOGIN_PATH, choose, methods=["POST"])] + [
            Route(path, token, methods=["POST"])
            for path in ("/aas/oauth2/te", "/aas/oauth2/v3/te")]


def oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    return JSONResponse({"error": exc.error, "error_description": exc.description},
                        status_code=exc.status, headers=headers)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302)
