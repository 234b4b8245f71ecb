"""Limits on incoming request bodies, enforced before any endpoint runs.

- A body larger than ``max_body_bytes`` (``server.max_body_size``) is answered with 413,
  whether it announces its length (``Content-Length``) or is sent in chunks; nothing of it is
  handed to the application, so no record is touched.
- A ``POST``/``PUT``/``PATCH`` of the REST API whose body is not JSON (by its
  ``Content-Type``) is answered with 415 instead of a confusing validation error.
- A JSON body (by its ``Content-Type``, on any path) nested deeper than
  ``medsign.httpsafe.bodies.MAX_DEPTH`` is answered with 400 ``malformed_json`` (the API's
  code for a body it cannot parse) saying so: no request of this service nests that deep,
  and parsing such a body costs a recursion per level (at ~1000, a ``RecursionError``).

Both answers are ``application/problem+json`` with a stable ``code``, like every other API
error. The body is read into memory up to the limit (requests of this service are small JSON
documents and forms) and replayed to the application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from medsign.api import problems
from medsign.httpsafe import bodies

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_JSON_PREFIXES = ("/api/",)
TOO_DEEP = (f"Тело запроса — JSON с вложенностью глубже {bodies.MAX_DEPTH} уровней; "
            "такие запросы не принимаются.")


def is_json(content_type: str) -> bool:
    """``application/json`` or any ``application/…+json``, parameters (charset) aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


def declared_length(headers: Headers) -> int | None | str:
    """The ``Content-Length`` as a number, None when absent, or the raw text when invalid."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() else raw


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = declared_length(headers)
        if isinstance(length, str):
            await self._refuse(scope, receive, send, 400, "bad_content_length",
                               "Заголовок Content-Length должен быть неотрицательным целым.")
            return
        if length is not None and length > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        has_body = bool(length) or chunked
        if (has_body and scope["method"] in _WITH_BODY
                and scope["path"].startswith(_JSON_PREFIXES)
                and not is_json(headers.get("content-type", ""))):
            await self._refuse(scope, receive, send, 415, "unsupported_media_type",
                               "Тело запроса должно быть в формате JSON "
                               "(Content-Type: application/json).")
            return
        if not has_body:
            await self.app(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        if is_json(headers.get("content-type", "")) and bodies.depth(body) > bodies.MAX_DEPTH:
            await self._refuse(scope, receive, send, 400, "malformed_json", TOO_DEEP)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(parts)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        await self._refuse(scope, receive, send, 413, "payload_too_large",
                           f"Тело запроса больше допустимого ({limit} байт).", limit=limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str,
                      detail: str, **extra: Any) -> None:
        response = problems.problem(status, code, detail, **extra)
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as Starlette does
    return replayed
