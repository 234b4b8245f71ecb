"""The test and demo side door, ``/_emulator/*`` (no auth): act as users, look inside, reset,
change limits at run time. Answers JSON; errors are ``{"code", "message"}`` too.

==============================================  ==============================================
``GET  /_emulator/``                            the phone-like page (Russian)
``GET  /_emulator/users``                       all users
``POST /_emulator/users``                       ``{"name", "phone"?}`` → the new user
``POST /_emulator/users/{id}/start``            ``{"payload"?}`` → the ``bot_started`` update
``POST /_emulator/users/{id}/stop``             → ``bot_stopped``; sends become ``chat.denied``
``POST /_emulator/users/{id}/press``            ``{"mid", "payload"}`` → ``message_callback``
``POST /_emulator/users/{id}/share-contact``    → ``message_created`` with a contact card
``POST /_emulator/users/{id}/messages``         ``{"text"}`` → ``message_created``
``GET  /_emulator/users/{id}/chat``             the dialog as the user sees it now
``GET  /_emulator/stats``                       counters (requests, 429s, sends, webhooks…)
``GET  /_emulator/webhooks``                    the subscription and recent delivery attempts
``GET|POST /_emulator/config``                  run-time knobs (rate limits, webhook scale…)
``POST /_emulator/reset``                       forget everything (the config stays)
==============================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medsign.httpsafe import bodies
from medsign.integrations.max.emulator import page, people
from medsign.integrations.max.emulator.core import Emulator, PlatformError

ROOT = "/_emulator"
UserAct = Callable[[Emulator, int, Any], dict[str, Any]]


def routes(emulator: Emulator) -> list[Route]:
    async def home(_: Request) -> Response:
        return page.render(emulator)

    async def users(request: Request) -> Response:
        if request.method == "POST":
            user = people.create_user(emulator, await _json(request))
            return JSONResponse(user.view())
        return JSONResponse({"users": [u.view() for u in emulator.store.users.values()],
                             "deep_link": emulator.deep_link()})

    async def chat(request: Request) -> Response:
        return JSONResponse(people.chat(emulator, _user_id(request)))

    return [Route(f"{ROOT}/", home, methods=["GET"]),
            Route(f"{ROOT}/users", users, methods=["GET", "POST"]),
            Route(f"{ROOT}/users/{{user_id}}/chat", chat, methods=["GET"]),
            *_acts(emulator), *_switches(emulator)]


def _acts(emulator: Emulator) -> list[Route]:
    acts: dict[str, UserAct] = {
        "start": lambda e, uid, body: people.start(e, uid, _field(body, "payload")),
        "stop": lambda e, uid, _: people.stop(e, uid),
        "press": people.press,
        "share-contact": lambda e, uid, _: people.share_contact(e, uid),
        "messages": people.write,
    }
    return [Route(f"{ROOT}/users/{{user_id}}/{name}", _act_endpoint(emulator, act),
                  methods=["POST"]) for name, act in acts.items()]


def _act_endpoint(emulator: Emulator, act: UserAct) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        update = act(emulator, _user_id(request), await _json(request))
        return JSONResponse({"update": update})
    return endpoint


def _switches(emulator: Emulator) -> list[Route]:
    async def stats(_: Request) -> Response:
        return JSONResponse(emulator.stats())

    async def hooks(_: Request) -> Response:
        current = emulator.store.subscription
        return JSONResponse({"subscription": current.wire() if current else None,
                             "attempts": list(emulator.webhooks.attempts)})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            changes = await _json(request)
            if not isinstance(changes, dict):
                raise PlatformError(400, "bad.request", "body: a JSON object is expected")
            try:
                emulator.configure(changes)
            except ValueError as exc:
                raise PlatformError(400, "bad.request", str(exc)) from None
        return JSONResponse(emulator.config.describe())

    async def reset(_: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    return [Route(f"{ROOT}/stats", stats, methods=["GET"]),
            Route(f"{ROOT}/webhooks", hooks, methods=["GET"]),
            Route(f"{ROOT}/config", config, methods=["GET", "POST"]),
            Route(f"{ROOT}/reset", reset, methods=["POST"])]


def _user_id(request: Request) -> int:
    raw = request.path_params["user_id"]
    try:
        return int(raw)
    except ValueError:
        raise PlatformError(404, "not.found", "user not found") from None


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return bodies.loads(raw) if raw.strip() else {}
    except bodies.JsonRejected as exc:
        raise PlatformError(400, "bad.request", str(exc)) from None
    except ValueError:
        raise PlatformError(400, "bad.request", "body: not valid JSON") from None
