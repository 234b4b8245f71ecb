"""Typed async client of the Goskey ПЭП partner API (spec ``goskey-pep-api.md``).

One ``httpx.AsyncClient`` per instance, one method per endpoint, one response handler that maps
every failure to an exception of this tree::

    GoskeyError                  .message
    ├── GoskeyTransient          timeout, connection error, dropped connection, 429, 5xx
    │                            .retry_after (seconds from Retry-After, 429 only), .status
    └── GoskeyRejected           any other non-2xx, or a 2xx answer we cannot read
        │                        .status, .code (server's code, "http_<status>",
        │                        "malformed_response"), .message (server's message)
        └── ArchiveTooLarge      a download exceeded ``max_bytes`` (code "archive_too_large")

Retry ``GoskeyTransient`` with backoff; a ``GoskeyRejected`` is a permanent failure of that
step. ``base_url`` includes ``/gov/pep``; the token goes raw into ``Authorization`` (no
``Bearer``), as on the MAX platform. An optional ``on_call(method, outcome, seconds)`` hook
sees every call; ``outcome`` is ``"ok"``, ``"transient"`` or ``"rejected"``.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from medsign.integrations.goskey.schemas import (
    DocumentSpec,
    Executor,
    MalformedStatus,
    SendRequest,
    StepStatus,
    TransactionStatus,
)

__all__ = ["ArchiveTooLarge", "CallHook", "DocumentSpec", "Executor", "GoskeyClient",
           "GoskeyError", "GoskeyRejected", "GoskeyTransient", "SendRequest", "StepStatus",
           "TransactionStatus"]

CallHook = Callable[[str, str, float], None]
_ERROR_TEXT_LIMIT = 500


class GoskeyError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GoskeyTransient(GoskeyError):
    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class GoskeyRejected(GoskeyError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class ArchiveTooLarge(GoskeyRejected):
    def __init__(self, max_bytes: int, *, status: int = 200) -> None:
        super().__init__(status, "archive_too_large",
                         f"the archive is larger than the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


class GoskeyClient:
    def __init__(self, base_url: str, token: str, *, ca_bundle: Path | None = None,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 on_call: CallHook | None = None) -> None:
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(ca_bundle))
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": token},
            timeout=timeout, verify=verify, transport=transport, follow_redirects=False)
        self._on_call = on_call

    async def __aenter__(self) -> GoskeyClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, request: SendRequest, *, idempotency_key: str) -> str:
        """Start a transaction; the same ``idempotency_key`` must give the same id back."""
        async with self._call("send"):
            response = await self._request("POST", "/v1/sign/send", json=request.to_json(),
                                           headers={"Idempotency-Key": idempotency_key})
            return _required_text(_json_object(response), "transactionId", response)

    async def status(self, transaction_id: str) -> TransactionStatus:
        async with self._call("status"):
            response = await self._request("GET", f"/v1/sign/status/{_seg(transaction_id)}")
            try:
                return TransactionStatus.from_json(_json_object(response))
            except MalformedStatus as exc:
                raise _malformed(response, str(exc)) from None

    async def download(self, transaction_id: str, file_id: str, *, phone: str, dest: Path,
                       max_bytes: int) -> int:
        """Stream a file to ``dest`` (through a temporary file beside it); return its size."""
        path = f"/v1/sign/download/{_seg(transaction_id)}/{_seg(file_id)}"
        body = {"phoneNumber": phone, "notify": True}
        async with self._call("download"), self._stream("POST", path, json=body) as response:
            return await _save(response, dest, max_bytes)

    async def upload(self, transaction_id: str, content: bytes, *, filename: str,
                     mime_type: str) -> str:
        """Upload the MO's file (its detached signature); return the platform's file id."""
        async with self._call("upload"):
            response = await self._request(
                "POST", f"/v1/sign/upload/{_seg(transaction_id)}",
                files={"file": (filename, content, mime_type)}, data={"mimeType": mime_type})
            return _required_text(_json_object(response), "fileId", response)

    async def complete(self, transaction_id: str, *, phone: str, template_id: str) -> str | None:
        async with self._call("complete"):
            response = await self._request(
                "POST", f"/v1/sign/complete/{_seg(transaction_id)}",
                json={"phoneNumber": phone, "templateId": template_id})
            body = _json_object(response) if response.content.strip() else {}
            file_id = body.get("fileId")
            return file_id if isinstance(file_id, str) and file_id else None

    @contextlib.asynccontextmanager
    async def _call(self, method: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        outcome = "ok"
        try:
            yield
        except GoskeyTransient:
            outcome = "transient"
            raise
        except GoskeyRejected:
            outcome = "rejected"
            raise
        finally:
            if self._on_call is not None:
                self._on_call(method, outcome, time.perf_counter() - started)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _transport_failure(exc) from exc
        _raise_for_status(response)
        return response

    @contextlib.asynccontextmanager
    async def _stream(self, method: str, path: str, **kwargs: Any
                      ) -> AsyncIterator[httpx.Response]:
        try:
            async with self._http.stream(method, path, **kwargs) as response:
                if not response.is_success:
                    await response.aread()
                    _raise_for_status(response)
                yield response
        except httpx.TransportError as exc:
            raise _transport_failure(exc) from exc


async def _save(response: httpx.Response, dest: Path, max_bytes: int) -> int:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ArchiveTooLarge(max_bytes, status=response.status_code)
    partial = dest.with_name(f".{dest.name}.part")
    size = 0
    try:
        with partial.open("wb") as out:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ArchiveTooLarge(max_bytes, status=response.status_code)
                out.write(chunk)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return size


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if response.is_success:
        return
    code, message = _error_body(response)
    if status == 429:
        raise GoskeyTransient(f"429 {code}: {message}", status=status,
                              retry_after=_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        raise GoskeyTransient(f"{status} {code}: {message}", status=status)
    raise GoskeyRejected(status, code, message)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    fallback = f"http_{response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return fallback, response.text[:_ERROR_TEXT_LIMIT] or response.reason_phrase
    if not isinstance(body, dict):
        return fallback, str(body)[:_ERROR_TEXT_LIMIT]
    code, message = body.get("code"), body.get("message")
    return (code if isinstance(code, str) and code else fallback,
            message if isinstance(message, str) else response.reason_phrase)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _transport_failure(exc: httpx.TransportError) -> GoskeyTransient:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport error"
    return GoskeyTransient(f"{kind}: {type(exc).__name__}: {exc}")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        raise _malformed(response, "the answer is not JSON") from None
    if not isinstance(body, dict):
        raise _malformed(response, "the answer is not a JSON object")
    return body


def _required_text(body: dict[str, Any], key: str, response: httpx.Response) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(response, f"the answer has no '{key}' string")
    return value


def _malformed(response: httpx.Response, detail: str) -> GoskeyRejected:
    return GoskeyRejected(response.status_code, "malformed_response", detail)


def _seg(value: str) -> str:
    """An id as one path segment: ids are opaque, so never let one add a path level."""
    return urllib.parse.quote(value, safe="")
