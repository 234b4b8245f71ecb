"""The test and demo side door, ``/_emulator/*`` (no auth): people, codes, tokens, reset.

``GET /_emulator/persons`` · ``POST /_emulator/persons`` (a person as JSON; 201, 409 when the
oid is taken, 422 when invalid) · ``GET /_emulator/logins`` (pending login pages) ·
``GET /_emulator/codes`` · ``GET /_emulator/tokens`` · ``GET /_emulator/certificate.pem``
(the token-signing certificate) · ``POST /_emulator/reset`` (configured people only; no
logins, codes or tokens).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medsign.httpsafe import bodies
from medsign.integrations.esia.emulator.checks import OAuthError
from medsign.integrations.esia.emulator.core import Emulator
from medsign.integrations.esia.emulator.model import InvalidPerson, TestPerson, to_dict
from medsign.integrations.esia.emulator.oauth import oauth_error

ROOT = "/_emulator"


def routes(emulator: Emulator) -> list[Route]:
    async def persons(request: Request) -> Response:
        if request.method == "POST":
            return await _add_person(emulator, request)
        return JSONResponse({"persons": [p.to_json() for p in emulator.store.persons.values()]})

    async def logins(_: Request) -> Response:
        return JSONResponse({"logins": [to_dict(r) for r in emulator.store.logins.values()]})

    async def codes(_: Request) -> Response:
        return JSONResponse({"codes": [_code_view(emulator, c.code) for c in
                                       emulator.store.codes.values()]})

    async def tokens(_: Request) -> Response:
        now = emulator.now()
        return JSONResponse({"tokens": [{**to_dict(t), "expired": now >= t.expires_at}
                                        for t in emulator.store.tokens.values()]})

    async def certificate(_: Request) -> Response:
        return Response(emulator.signer.certificate_pem, media_type="application/x-pem-file")

    async def reset(_: Request) -> Response:
        emulator.store.reset()
        return JSONResponse({"reset": True})

    return [Route(f"{ROOT}/persons", persons, methods=["GET", "POST"]),
            Route(f"{ROOT}/logins", logins, methods=["GET"]),
            Route(f"{ROOT}/codes", codes, methods=["GET"]),
            Route(f"{ROOT}/tokens", tokens, methods=["GET"]),
            Route(f"{ROOT}/certificate.pem", certificate, methods=["GET"]),
            Route(f"{ROOT}/reset", reset, methods=["POST"])]


async def _add_person(emulator: Emulator, request: Request) -> Response:
    try:
        person = TestPerson.from_json(bodies.loads(await request.body() or b"null"))
        emulator.add_person(person)
    except bodies.JsonRejected as exc:  # not a person at all: refused before parsing
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)},
                            status_code=400)
    except (ValueError, InvalidPerson) as exc:
        return JSONResponse({"error": "invalid_person", "error_description": str(exc)},
                            status_code=422)
    except OAuthError as exc:
        return oauth_error(exc)
    return JSONResponse(person.to_json(), status_code=201)


def _code_view(emulator: Emulator, code: str) -> dict[str, Any]:
    issued = emulator.store.codes[code]
    state = ("used" if issued.used_at is not None else
             "expired" if emulator.now() >= issued.expires_at else "active")
    return {**to_dict(issued), "status": state}
