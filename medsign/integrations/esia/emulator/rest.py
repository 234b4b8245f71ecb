"""ESIA's REST resources for a person: ``/rs/prns/{oid}`` and its contacts ``/ctts``.

``Authorization: Bearer <access token>``; the answer holds only what the token's scope grants.
``/ctts`` lists links to ``/ctts/{id}`` unless asked ``?embed=(elements)``, as ESIA does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medsign.integrations.esia.emulator.checks import OAuthError
from medsign.integrations.esia.emulator.core import Emulator
from medsign.integrations.esia.emulator.model import IssuedToken, TestPerson
from medsign.integrations.esia.emulator.oauth import oauth_error

ROOT = "/rs/prns/{oid}"
Answer = Callable[[Request, IssuedToken, TestPerson], Response]


def routes(emulator: Emulator) -> list[Route]:
    def guarded(answer: Answer) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                token, person = emulator.bearer(request.headers.get("Authorization"),
                                                request.path_params["oid"])
            except OAuthError as exc:
                return oauth_error(exc)
            return answer(request, token, person)
        return endpoint

    return [Route(ROOT, guarded(_person), methods=["GET"]),
            Route(f"{ROOT}/ctts", guarded(_contacts), methods=["GET"]),
            Route(f"{ROOT}/ctts/{{cid}}", guarded(_contact), methods=["GET"], name="contact")]


def _person(_: Request, token: IssuedToken, person: TestPerson) -> Response:
    return JSONResponse(person.esia_json(token.scopes))


def _contacts(request: Request, token: IssuedToken, person: TestPerson) -> Response:
    elements = person.contacts(token.scopes)
    listed: list[Any] = elements
    if request.query_params.get("embed", "") != "(elements)":
        listed = [str(request.url_for("contact", oid=person.oid, cid=str(e["id"])))
                  for e in elements]
    return JSONResponse({"stateFacts": ["hasSize"], "size": len(listed), "elements": listed})


def _contact(request: Request, token: IssuedToken, person: TestPerson) -> Response:
    wanted = request.path_params["cid"]
    found = [e for e in person.contacts(token.scopes) if str(e["id"]) == wanted]
    if not found:
        return oauth_error(OAuthError("not_found", "Контакт не найден", status=404))
    return JSONResponse(found[0])
