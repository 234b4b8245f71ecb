"""The platform's HTTP face: ``/gov/pep/v1/sign/*`` (spec §2), plus the fault middleware.

Errors are ``{"code", "message"}`` as in §2.6. The middleware sits in front of these routes
only: it counts calls, applies the rate limit, and injects latency, ``429``, ``5xx`` and
dropped connections — before the platform acts, or after it (the answer is lost) — and calls held
past the client's timeout before the platform acts on them, chosen with ``POST /_emulator/faults``.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from typing import Any

import httpx
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medsign.httpsafe import bodies
from medsign.integrations.goskey.emulator.core import Emulator, PlatformError
from medsign.integrations.goskey.emulator.faults import (
    DROP,
    DROP_AFTER,
    TIMEOUT,
    TOO_MANY,
    RateLimiter,
    retry_after_header,
)
from medsign.integrations.goskey.emulator.model import InvalidState, KeyReused
from medsign.integrations.goskey.emulator.validation import ValidationFailed

PREFIX = "/gov/pep/v1/sign"
_METHOD = re.compile(rf"{PREFIX}/(send|status|download|upload|complete)(/|$)")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised after the response has started: uvicorn closes the socket without an answer,
    and ``httpx.ASGITransport`` hands the exception to the client as the network would."""


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def platform_error(exc: Exception) -> JSONResponse:
    if isinstance(exc, ValidationFailed):
        return error(400, "validation.failed", exc.message)
    if isinstance(exc, InvalidState):
        return error(409, "invalid.state", exc.message)
    if isinstance(exc, KeyReused):
        return error(422, "idempotency.key.reused", exc.message)
    if not isinstance(exc, PlatformError):
        raise TypeError(f"not a platform error: {type(exc).__name__}")
    return error(exc.status, exc.code, exc.message)


def routes(emulator: Emulator) -> list[Route]:
    async def send(request: Request) -> Response:
        _authorize(request, emulator)
        key = request.headers.get("Idempotency-Key")
        return JSONResponse({"transactionId": emulator.send(await _json(request),
                                                            idempotency_key=key)})

    async def status(request: Request) -> Response:
        _authorize(request, emulator)
        return JSONResponse(await emulator.status(request.path_params["tid"]))

    async def download(request: Request) -> Response:
        _authorize(request, emulator)
        found = emulator.download(request.path_params["tid"], request.path_params["fid"],
                                  await _json(request))
        disposition = f"attachment; filename*=UTF-8''{urllib.parse.quote(found.name)}"
        return Response(found.data, media_type=found.media_type,
                        headers={"Content-Disposition": disposition})

    async def upload(request: Request) -> Response:
        _authorize(request, emulator)
        filename, mime_type, content = await _multipart(request)
        file_id = await emulator.upload(request.path_params["tid"], filename=filename,
                                        mime_type=mime_type, content=content,
                                        idempotency_key=request.headers.get("Idempotency-Key"))
        return JSONResponse({"fileId": file_id})

    async def complete(request: Request) -> Response:
        _authorize(request, emulator)
        return JSONResponse({"fileId": emulator.complete(
            request.path_params["tid"], await _json(request),
            idempotency_key=request.headers.get("Idempotency-Key"))})

    return [Route(f"{PREFIX}/send", send, methods=["POST"]),
            Route(f"{PREFIX}/status/{{tid}}", status, methods=["GET"]),
            Route(f"{PREFIX}/download/{{tid}}/{{fid}}", download, methods=["POST"]),
            Route(f"{PREFIX}/upload/{{tid}}", upload, methods=["POST"]),
            Route(f"{PREFIX}/complete/{{tid}}", complete, methods=["POST"])]


def _authorize(request: Request, emulator: Emulator) -> None:
    if request.headers.get("Authorization") != emulator.config.token:
        raise PlatformError(401, "verify.token", "Invalid access token")


async def _json(request: Request) -> Any:
    try:
        return bodies.loads(await request.body())
    except bodies.JsonRejected as exc:
        raise ValidationFailed(str(exc)) from None
    except ValueError:
        raise ValidationFailed("body: not valid JSON") from None


async def _multipart(request: Request) -> tuple[str, str, bytes]:
    if not request.headers.get("Content-Type", "").startswith("multipart/form-data"):
        raise ValidationFailed("body: expected multipart/form-data")
    async with request.form(max_files=1, max_fields=10,
                            max_part_size=MAX_UPLOAD_BYTES) as form:
        part, mime_type = form.get("file"), form.get("mimeType")
        if not isinstance(part, UploadFile):
            raise ValidationFailed("file: a file part is required")
        if not isinstance(mime_type, str) or not mime_type:
            raise ValidationFailed("mimeType: required")
        content = await part.read(MAX_UPLOAD_BYTES + 1)
    if not content or len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed(f"file: must hold 1 to {MAX_UPLOAD_BYTES} bytes")
    return part.filename or "upload.bin", mime_type, content


class FaultMiddleware:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app, self.emulator = app, emulator
        per_second = emulator.config.rate_limit_per_s
        self.limiter = RateLimiter(per_second) if per_second else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = _METHOD.match(scope["path"]) if scope["type"] == "http" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        method = matched.group(1)
        self.emulator.store.count_call(method)
        refusal = await self._refusal(method)
        if refusal is None:
            await self.app(scope, receive, send)
        elif refusal == DROP:
            await send(_start(200))
            raise DroppedConnection("the emulator dropped the connection (fault injection)")
        elif refusal == DROP_AFTER:
            await self.app(scope, receive, _discard)  # the platform acts; its answer is lost
            await send(_start(200))
            raise DroppedConnection("the emulator acted, then dropped the connection "
                                    "(fault injection)")
        elif refusal == TIMEOUT:
            await self._late(method, scope, receive, send)
        else:
            await self._answer(refusal, method, scope, receive, send)

    async def _refusal(self, method: str) -> str | None:
        if self.limiter is not None and self.limiter.take() is not None:
            return "rate_limit"
        fault = self.emulator.faults.get(method)
        if fault is None:
            return None
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        return fault.roll()

    async def _answer(self, refusal: str, method: str, scope: Scope, receive: Receive,
                      send: Send) -> None:
        fault = self.emulator.faults.get(method)
        if refusal == "rate_limit" and self.limiter is not None:
            wait = 1 / self.limiter.per_second
            response = error(429, "too.many.requests", "Rate limit exceeded",
                             {"Retry-After": retry_after_header(wait)})
        elif refusal == TOO_MANY:
            after = retry_after_header(fault.retry_after_s if fault else 1)
            response = error(429, "too.many.requests", "Too many requests (fault injection)",
                             {"Retry-After": after})
        else:
            response = error(503, "service.unavailable", "Service unavailable (fault injection)")
        await response(scope, receive, send)


    async def _late(self, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole request first (a client that gives up must not stop the platform
        from acting on it), wait, then act and answer whoever still listens."""
        fault = self.emulator.faults.get(method)
        messages = [await receive()]
        while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
            messages.append(await receive())
        await asyncio.sleep(fault.timeout_s if fault else 0)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()
        await self.app(scope, replay, send)


async def _discard(_: Message) -> None:
    pass


def _start(status: int) -> Message:
    return {"type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]}
