"""What every client of an external JSON API shares: mapping HTTP outcomes to typed errors.

Each client keeps its own exception classes (so callers catch ``GoskeyTransient``, not a
generic error) and hands them to :class:`ErrorMap`, which decides once, for all of them:

- a transport failure (timeout, refused or dropped connection) → *transient*;
- ``429`` → *transient*, with the server's ``Retry-After`` (seconds or an HTTP date);
- ``5xx`` → *transient*;
- any other non-2xx → *rejected*, with the server's error code and message;
- a 2xx whose body is not the JSON object promised → *rejected* ``malformed_response``.

It also times every call for the metrics hook (``on_call(method, outcome, seconds)``).

The clients speak HTTP through :class:`Transport`: httpx's transport interface over aiohttp's
connection pool (the ``httpx-aiohttp`` package). httpx's own pool (httpcore) rescans every
connection it holds whenever a request starts or a response closes; with a worker's 16–200
platform calls in flight that cost more CPU than the exchange itself (``bench/README.md``).
aiohttp keeps the idle connections of a host in a stack, checks only the one it takes, and
sweeps expired ones on a timer. Failures still arrive as httpx's exceptions, so the mapping
above does not know which pool is underneath.
"""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from medsign.httpsafe import bodies

CallHook = Callable[[str, str, float], None]
ERROR_TEXT_LIMIT = 500
# A JSON answer larger than this is refused unparsed (MAX's update batches are the largest).
MAX_ANSWER_BYTES = 16 * 1024**2
# Each client talks to one system: at most this many connections to it at once (a request
# waits for a free one up to the pool timeout), an idle one closed after this many seconds.
MAX_CONNECTIONS = 100
KEEPALIVE_EXPIRY = 5.0
# The keys an API's error body may use: MAX and the partner API say code/message, OAuth
# (ESIA) says error/error_description.
ERROR_KEYS = (("code", "message"), ("error", "error_description"))


class ApiError(Exception):
    """The base of one API client's errors; each client derives its own family from these
    three (``class GoskeyTransient(GoskeyError, ApiTransient)``) so that callers can catch
    exactly one API's errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiTransient(ApiError):
    """Worth retrying later: a transport failure, 429 (``retry_after`` seconds), 5xx."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class ApiRejected(ApiError):
    """Refused for good, with the server's ``code`` and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


@dataclass(frozen=True)
class ErrorMap:
    """How one API's answers become its exceptions.

    ``transient(message, status, retry_after)`` and ``rejected(status, code, message)`` build
    the client's own exception classes; ``transient_type``/``rejected_type`` are those classes.
    """

    transient: Callable[[str, int | None, float | None], Exception]
    rejected: Callable[[int, str, str], Exception]
    transient_type: type[Exception]
    rejected_type: type[Exception]

    @classmethod
    def of(cls, transient: type[ApiTransient], rejected: type[ApiRejected]) -> ErrorMap:
        """The map for a client whose errors derive from :class:`ApiTransient` and
        :class:`ApiRejected`."""
        return cls(transient=lambda message, status, after: transient(
                       message, status=status, retry_after=after),
                   rejected=rejected, transient_type=transient, rejected_type=rejected)

    def raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        code, message = error_body(response)
        if status == 429:
            raise self.transient(f"429 {code}: {message}", status,
                                 retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise self.transient(f"{status} {code}: {message}", status, None)
        raise self.rejected(status, code, message)

    def transport_failure(self, exc: httpx.TransportError) -> Exception:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport error"
        return self.transient(f"{kind}: {type(exc).__name__}: {exc}", None, None)

    def malformed(self, response: httpx.Response, detail: str) -> Exception:
        return self.rejected(response.status_code, "malformed_response", detail)

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = bodies.loads(response.content, max_bytes=MAX_ANSWER_BYTES)
        except ValueError:
            raise self.malformed(response, "the answer is not JSON") from None
        if not isinstance(body, dict):
            raise self.malformed(response, "the answer is not a JSON object")
        return body

    def required_text(self, body: dict[str, Any], key: str, response: httpx.Response) -> str:
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise self.malformed(response, f"the answer has no '{key}' string")
        return value

    async def request(self, http: httpx.AsyncClient, method: str, path: str,
                      **kwargs: Any) -> httpx.Response:
        try:
            response = await http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.transport_failure(exc) from exc
        self.raise_for_status(response)
        return response

    @contextlib.asynccontextmanager
    async def timed(self, hook: CallHook | None, method: str) -> AsyncIterator[None]:
        """Report the call's outcome (ok / transient / rejected) and duration to ``hook``."""
        started, outcome = time.perf_counter(), "ok"
        try:
            yield
        except self.transient_type:
            outcome = "transient"
            raise
        except self.rejected_type:
            outcome = "rejected"
            raise
        finally:
            if hook is not None:
                hook(method, outcome, time.perf_counter() - started)


def error_body(response: httpx.Response) -> tuple[str, str]:
    """The server's error code and message, or ``http_<status>`` and whatever text it sent."""
    fallback = f"http_{response.status_code}"
    try:
        body = bodies.loads(response.content, max_bytes=MAX_ANSWER_BYTES)
    except ValueError:
        return fallback, response.text[:ERROR_TEXT_LIMIT] or response.reason_phrase
    if not isinstance(body, dict):
        return fallback, str(body)[:ERROR_TEXT_LIMIT]
    for code_key, message_key in ERROR_KEYS:
        code, message = body.get(code_key), body.get(message_key)
        if isinstance(code, str) and code:
            return code, message if isinstance(message, str) else response.reason_phrase
    message = body.get("message")
    return fallback, message if isinstance(message, str) else response.reason_phrase


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
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


def segment(value: str) -> str:
    """An id as exactly one path segment: an id can never add a path level."""
    return urllib.parse.quote(value, safe="")


def http_client(base_url: str, *, headers: dict[str, str] | None = None,
                ca_bundle: Path | None = None, timeout: float = 30.0,
                transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """One ``httpx.AsyncClient`` per external system: its base URL, its CA bundle (the MAX
    hosts chain to the Russian Trusted Root CA, which is not in certifi), no redirects, and
    a :class:`Transport` unless a transport is given (tests give ``httpx.ASGITransport``)."""
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                             transport=transport or Transport(verify=verify),
                             follow_redirects=False)


class Transport(AiohttpTransport):
    """HTTP/1.1 over aiohttp's connection pool, behind httpx's transport interface.

    httpx keeps what a client sees: timeouts (connect, read, and the pool wait, passed to
    aiohttp per request), headers, cookies (aiohttp's own jar is a dummy, so a cookie cannot
    be sent twice), redirects (off), and the exception types. The aiohttp session is made on
    the first request, inside the event loop that uses it. No proxies and no HTTP/2: none of
    our external systems needs them.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool = True,
                 max_connections: int = MAX_CONNECTIONS,
                 keepalive_expiry: float = KEEPALIVE_EXPIRY) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify)  # loads the CA bundle once

        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(ssl=ssl_context, limit=max_connections,
                                             keepalive_timeout=keepalive_expiry)
            return aiohttp.ClientSession(connector=connector,
                                         cookie_jar=aiohttp.DummyCookieJar())

        super().__init__(verify=ssl_context, client=session, limits=httpx.Limits(
            max_connections=max_connections, keepalive_expiry=keepalive_expiry))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            # httpx-aiohttp (0.2.0) reports every aiohttp connection error as a connect
            # timeout; name them as httpcore would: only a timeout is one, a connection that
            # could not be made is a connect error, any other lost one a protocol error.
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ServerTimeoutError):
                raise
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(exc), request=request) from cause
            raise httpx.RemoteProtocolError(str(exc), request=request) from cause
        except aiohttp.ClientError as exc:
            # httpx-aiohttp passes on what it has no httpx type for, such as an answer that
            # is not HTTP at all: a protocol error, so that callers see a transport failure.
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}",
                                            request=request) from exc


class ApiClient:
    """The shared shell of a client: the HTTP client, closing, timing and error mapping.

    Subclasses set ``errors`` and call ``self._request`` inside ``async with self._call(...)``.
    """

    errors: ErrorMap

    def __init__(self, http: httpx.AsyncClient, on_call: CallHook | None = None) -> None:
        self._http = http
        self._on_call = on_call

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _call(self, method: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.errors.timed(self._on_call, method)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.errors.request(self._http, method, path, **kwargs)
