"""The platform's HTTP face: the Bot API methods at the root (spec §1–§6).

Every call is counted, then checked in the platform's order: a token in the query
(``403 deprecated.token``), the raw token in ``Authorization`` (``401 verify.token``), the
per-token rate limit (``429``). Errors are ``{"code", "message"}``.
``GET /updates`` answers ``405`` while a webhook subscription exists (the spec lists 405 for
it; the exact answer is [UNCONFIRMED]).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medsign.httpsafe import bodies
from medsign.integrations.max.emulator import messaging, uploads, webhooks
from medsign.integrations.max.emulator.core import Emulator, PlatformError
from medsign.integrations.max.emulator.limits import TooManyRequests
from medsign.integrations.max.emulator.updates import poll
from medsign.integrations.max.emulator.validation import (
    ProtoPayload,
    int_param,
    list_param,
    required_param,
)

Handler = Callable[[Request], Awaitable[Response]]
SUCCESS = {"success": True}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def platform_error(emulator: Emulator, exc: Exception) -> JSONResponse:
    if isinstance(exc, ProtoPayload):
        return error(400, "proto.payload", exc.message)
    if isinstance(exc, TooManyRequests):
        emulator.store.count(f"429:{exc.limit}")
        return error(429, "too.many.requests", exc.message, {"Retry-After": exc.retry_after})
    if not isinstance(exc, PlatformError):
        raise TypeError(f"not a platform error: {type(exc).__name__}")
    return error(exc.status, exc.code, exc.message)


def routes(emulator: Emulator) -> list[Route]:
    api = _Api(emulator)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/me", api.me), ("POST", "/messages", api.send),
        ("PUT", "/messages", api.edit), ("DELETE", "/messages", api.delete),
        ("GET", "/messages", api.listing), ("GET", "/messages/{mid}", api.message),
        ("POST", "/answers", api.answer), ("GET", "/updates", api.updates),
        ("GET", "/subscriptions", api.subscriptions), ("POST", "/subscriptions", api.subscribe),
        ("DELETE", "/subscriptions", api.unsubscribe), ("POST", "/uploads", api.upload_url)]
    by_path: dict[str, dict[str, Handler]] = {}
    for method, path, handler in table:
        by_path.setdefault(path, {})[method] = _guarded(emulator, f"{method} {path}", handler)
    return [*(Route(path, _dispatch(handlers), methods=list(handlers))
              for path, handlers in by_path.items()),
            Route(uploads.ROUTE, _upload_endpoint(emulator), methods=["POST"]),
            Route(uploads.FILES, _file_endpoint(emulator), methods=["GET"])]


def _upload_endpoint(emulator: Emulator) -> Handler:
    """The upload URL (another host on the platform): no token, one multipart file."""
    async def endpoint(request: Request) -> Response:
        emulator.store.requests["POST upload"] += 1
        try:
            length = request.headers.get("Content-Length")
            slot = request.path_params["slot"]
            kind = uploads.slot_kind(emulator, slot, int(length) if length and
                                     length.isdigit() else None)
            async with request.form(max_files=1, max_fields=1) as form:
                data = form.get("data")
                if isinstance(data, str) or data is None:
                    raise ProtoPayload("data: a multipart/form-data field 'data' with the "
                                       "file is required")
                content = await data.read(emulator.config.upload_max_bytes + 1)
                with emulator.changing():
                    return JSONResponse(uploads.store(emulator, slot, kind,
                                                      data.filename or "file", content))
        except HTTPException as exc:  # a body that is not a readable multipart form
            return error(400, "proto.payload", f"data: {exc.detail}")
        except (ProtoPayload, PlatformError) as exc:
            return platform_error(emulator, exc)
    return endpoint


def _file_endpoint(emulator: Emulator) -> Handler:
    """Download a sent file (the attachment's ``payload.url``)."""
    async def endpoint(request: Request) -> Response:
        try:
            found = uploads.download(emulator, request.path_params["token"])
        except PlatformError as exc:
            return platform_error(emulator, exc)
        return Response(found.content, media_type="application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}"})
    return endpoint


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    async def endpoint(request: Request) -> Response:
        return await handlers[request.method](request)
    return endpoint


def _guarded(emulator: Emulator, name: str, handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        emulator.store.requests[name] += 1
        emulator.webhooks.kick()
        try:
            _authorize(emulator, request)
            emulator.limits.check("global")
            return await handler(request)
        except (ProtoPayload, PlatformError, TooManyRequests) as exc:
            return platform_error(emulator, exc)
    return endpoint


def _authorize(emulator: Emulator, request: Request) -> None:
    if "access_token" in request.query_params:
        raise PlatformError(403, "deprecated.token", "Query parameter access_token is "
                            "deprecated, use Authorization header")
    if request.headers.get("Authorization") != emulator.config.token:
        raise PlatformError(401, "verify.token", "Invalid access_token")


class _Api:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def me(self, _: Request) -> Response:
        return JSONResponse(self.emulator.me())

    async def send(self, request: Request) -> Response:
        params = dict(request.query_params)
        self._note_idempotency_key(request)
        return JSONResponse(messaging.send(
            self.emulator, user_id=int_param(params, "user_id", default=None),
            chat_id=int_param(params, "chat_id", default=None), body=await _json(request),
            base_url=str(request.base_url)))

    async def upload_url(self, request: Request) -> Response:
        return JSONResponse(uploads.upload_url(self.emulator, request.query_params.get("type"),
                                               str(request.base_url)))

    async def edit(self, request: Request) -> Response:
        mid = required_param(dict(request.query_params), "message_id")
        messaging.edit(self.emulator, mid, await _json(request))
        return JSONResponse(SUCCESS)

    async def delete(self, request: Request) -> Response:
        messaging.delete(self.emulator, required_param(dict(request.query_params),
                                                       "message_id"))
        return JSONResponse(SUCCESS)

    async def listing(self, request: Request) -> Response:
        params = dict(request.query_params)
        return JSONResponse(messaging.listing(
            self.emulator, chat_id=int_param(params, "chat_id", default=None),
            mids=list_param(params, "message_ids"),
            count=int_param(params, "count", default=50, low=1, high=100) or 50))

    async def message(self, request: Request) -> Response:
        return JSONResponse(messaging.get(self.emulator, request.path_params["mid"]))

    async def answer(self, request: Request) -> Response:
        callback_id = required_param(dict(request.query_params), "callback_id")
        messaging.answer(self.emulator, callback_id, await _json(request))
        return JSONResponse(SUCCESS)

    async def updates(self, request: Request) -> Response:
        params = dict(request.query_params)
        limit = int_param(params, "limit", default=100, low=1, high=1000) or 100
        timeout = int_param(params, "timeout", default=30, low=0, high=90) or 0
        marker = int_param(params, "marker", default=None)
        types = list_param(params, "types")
        if self.emulator.store.subscription is not None:
            raise PlatformError(405, "method.not.allowed", "Long polling is not available "
                                "while the bot has a webhook subscription")
        self.emulator.limits.check("polling")
        config = self.emulator.config
        cap = config.poll_timeout_cap_s
        picked, next_marker = await poll(
            self.emulator.store.log, marker=marker, limit=min(limit, config.max_batch),
            types=types, timeout=min(timeout, cap) if cap is not None else timeout,
            gone=request.is_disconnected)
        self.emulator.store.save()
        return JSONResponse({"updates": [q.body for q in picked], "marker": next_marker})

    async def subscriptions(self, _: Request) -> Response:
        current = self.emulator.store.subscription
        return JSONResponse({"subscriptions": [current.wire()] if current else []})

    async def subscribe(self, request: Request) -> Response:
        webhooks.subscribe(self.emulator, await _json(request))
        return JSONResponse(SUCCESS)

    async def unsubscribe(self, request: Request) -> Response:
        webhooks.unsubscribe(self.emulator, required_param(dict(request.query_params), "url"))
        return JSONResponse(SUCCESS)

    def _note_idempotency_key(self, request: Request) -> None:
        """MAX has no idempotency keys; a repeated one is only counted, so tests can see
        duplicate sends (the message is sent again, as the platform would)."""
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return
        if key in self.emulator.idempotency_keys:
            self.emulator.store.count("repeated_idempotency_keys")
        self.emulator.idempotency_keys.add(key)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return bodies.loads(raw)
    except bodies.JsonRejected as exc:
        raise ProtoPayload(str(exc)) from None
    except ValueError:
        raise ProtoPayload("body: not valid JSON") from None
