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
import os
from collections.abc import AsyncIterator
from pathlib import Path
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
from medsign.integrations.http import (
    ApiClient,
    ApiError,
    ApiRejected,
    ApiTransient,
    CallHook,
    ErrorMap,
    http_client,
    segment,
)

__all__ = ["ArchiveTooLarge", "CallHook", "DocumentSpec", "Executor", "GoskeyClient",
           "GoskeyError", "GoskeyRejected", "GoskeyTransient", "SendRequest", "StepStatus",
           "TransactionStatus"]



class GoskeyError(ApiError):
    """Any error of the partner signing API client."""


class GoskeyTransient(GoskeyError, ApiTransient):
    """Retried by the runner with backoff (honouring ``retry_after``)."""


class GoskeyRejected(GoskeyError, ApiRejected):
    """Recorded with the server's ``code`` and message."""


class ArchiveTooLarge(GoskeyRejected):
    def __init__(self, max_bytes: int, *, status: int = 200) -> None:
        super().__init__(status, "archive_too_large",
                         f"the archive is larger than the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


ERRORS = ErrorMap.of(GoskeyTransient, GoskeyRejected)


class GoskeyClient(ApiClient):
    errors = ERRORS

    def __init__(self, base_url: str, token: str, *, ca_bundle: Path | None = None,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 on_call: CallHook | None = None) -> None:
        super().__init__(http_client(base_url, headers={"Authorization": token},
                                     ca_bundle=ca_bundle, timeout=timeout, transport=transport),
                         on_call)

    async def send(self, request: SendRequest, *, idempotency_key: str) -> str:
        """Start a transaction; the same ``idempotency_key`` must give the same id back."""
        async with self._call("send"):
            response = await self._request("POST", "/v1/sign/send", json=request.to_json(),
                                           headers={"Idempotency-Key": idempotency_key})
            return ERRORS.required_text(ERRORS.json_object(response), "transactionId", response)

    async def status(self, transaction_id: str) -> TransactionStatus:
        async with self._call("status"):
            response = await self._request("GET", f"/v1/sign/status/{segment(transaction_id)}")
            try:
                return TransactionStatus.from_json(ERRORS.json_object(response))
            except MalformedStatus as exc:
                raise ERRORS.malformed(response, str(exc)) from None

    async def download(self, transaction_id: str, file_id: str, *, phone: str, dest: Path,
                       max_bytes: int) -> int:
        """Stream a file to ``dest`` (through a temporary file beside it); return its size."""
        path = f"/v1/sign/download/{segment(transaction_id)}/{segment(file_id)}"
        body = {"phoneNumber": phone, "notify": True}
        async with self._call("download"), self._stream("POST", path, json=body) as response:
            return await _save(response, dest, max_bytes)

    async def upload(self, transaction_id: str, content: bytes, *, filename: str,
                     mime_type: str, idempotency_key: str) -> str:
        """Upload the MO's file (its detached signature); return the platform's file id. The
        same ``idempotency_key`` must give the same file id back, not a second copy."""
        async with self._call("upload"):
            response = await self._request(
                "POST", f"/v1/sign/upload/{segment(transaction_id)}",
                files={"file": (filename, content, mime_type)}, data={"mimeType": mime_type},
                headers={"Idempotency-Key": idempotency_key})
            return ERRORS.required_text(ERRORS.json_object(response), "fileId", response)

    async def complete(self, transaction_id: str, *, phone: str, template_id: str,
                       idempotency_key: str) -> str | None:
        """Finish the transaction; the same ``idempotency_key`` must not complete it twice."""
        async with self._call("complete"):
            response = await self._request(
                "POST", f"/v1/sign/complete/{segment(transaction_id)}",
                json={"phoneNumber": phone, "templateId": template_id},
                headers={"Idempotency-Key": idempotency_key})
            body = ERRORS.json_object(response) if response.content.strip() else {}
            file_id = body.get("fileId")
            return file_id if isinstance(file_id, str) and file_id else None


    @contextlib.asynccontextmanager
    async def _stream(self, method: str, path: str, **kwargs: Any
                      ) -> AsyncIterator[httpx.Response]:
        try:
            async with self._http.stream(method, path, **kwargs) as response:
                if not response.is_success:
                    await response.aread()
                    ERRORS.raise_for_status(response)
                yield response
        except httpx.TransportError as exc:
            raise ERRORS.transport_failure(exc) from exc


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
