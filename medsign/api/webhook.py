"""The MAX webhook: ``POST /max/webhook``, one update per request.

The platform counts only an ``HTTP 200`` within 30 s as delivered, and holds back every later
update until then; so the endpoint only checks the secret, stores the update (once, by its
digest — replays are harmless) with its work item, and answers. The worker does the rest.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from medsign.api.guard import TOO_DEEP
from medsign.api.problems import problem
from medsign.bot.updates import ingest
from medsign.httpsafe import bodies
from medsign.integrations.max.client import verify_webhook_secret
from medsign.serving import state

router = APIRouter()
MAX_BODY = 1024 * 1024
SECRET_HEADER = "X-Max-Bot-Api-Secret"


@router.post("/max/webhook", include_in_schema=False)
async def max_webhook(request: Request) -> JSONResponse:
    app = state(request)
    if app.bot is None or not app.bot.webhook_secret:
        return problem(404, "webhook_disabled", "Приём обновлений MAX через вебхук выключен.")
    if not verify_webhook_secret(app.bot.webhook_secret, request.headers.get(SECRET_HEADER)):
        return problem(401, "invalid_webhook_secret", "Неверный секрет вебхука MAX.")
    try:
        raw = _update(await request.body())
    except bodies.JsonRejected as exc:  # refused before parsing
        if exc.reason == "too_large":
            return problem(413, "payload_too_large", "Тело запроса больше допустимого.",
                           limit=MAX_BODY)
        return problem(400, "malformed_json", TOO_DEEP)
    if raw is None:
        return problem(400, "invalid_update", "Тело запроса — не обновление MAX в JSON.")
    stored = await run_in_threadpool(_store, request, raw)
    return JSONResponse({"ok": True, "duplicate": not stored})


def _update(body: bytes) -> dict[str, Any] | None:
    """The update, None when the body is not one; :class:`bodies.JsonRejected` when it is
    too large or too deep to parse (whatever its ``Content-Type``)."""
    try:
        raw = bodies.loads(body, max_bytes=MAX_BODY)
    except bodies.JsonRejected:
        raise
    except ValueError:  # UnicodeDecodeError included
        return None
    ok = isinstance(raw, dict) and isinstance(raw.get("update_type"), str)
    return raw if ok else None


def _store(request: Request, raw: dict[str, Any]) -> bool:
    app = state(request)
    with app.engine.begin() as conn:
        return ingest(conn, raw, via="webhook", now=app.clock.now())
