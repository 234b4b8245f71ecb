"""The HTTP transport of our API clients: httpx on top of a connection pool whose cost per
request does not grow with the number of connections.

httpcore's own pool looks at every connection it holds whenever a request starts or a response
closes: whether it has expired, is idle, is readable (a ``getpeername`` and a poll of the
socket each). A worker with 16 platform calls in flight keeps ~16 connections, so choosing one
cost more than the HTTP exchange itself. Each of our clients talks to one system, so a stack
of idle connections per origin is all the pool needs:

- a request waits for one of ``max_connections`` slots (``PoolTimeout`` after the pool
  timeout), takes the most recently used idle connection — checking only that one, and
  closing it if the server has hung up or it outlived ``keepalive_expiry`` — or opens a new one;
- when its response has been read or closed, the connection goes back on the stack if it can
  carry another request and is closed otherwise; a failed exchange closes its connection
  (httpcore does that itself). When no request is waiting for a slot, the stack is trimmed to
  ``max_keepalive_connections``, oldest first.

The HTTP/1.1 exchange, TLS, timeouts and the mapping of httpcore's errors to httpx's stay
httpx's and httpcore's: :class:`LeanTransport` is ``httpx.AsyncHTTPTransport`` with the pool
swapped (its ``_pool``, which httpx==0.28.1 — pinned — reads in ``handle_async_request``,
``aclose`` and the context-manager methods). No proxies and no HTTP/2: none of our external
systems needs them.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from types import TracebackType

import httpcore
import httpx

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                              keepalive_expiry=5.0)


class LeanTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` over a :class:`LeanPool`."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify)  # loads the CA bundle once
        super().__init__(verify=ssl_context, limits=limits)
        self._pool = LeanPool(ssl_context, limits)  # type: ignore[assignment]


class LeanPool:
    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._ssl_context = ssl_context
        self._max_connections = limits.max_connections or 1_000_000
        self._max_idle = (self._max_connections if limits.max_keepalive_connections is None
                          else limits.max_keepalive_connections)
        self._keepalive_expiry = limits.keepalive_expiry
        self._slots = asyncio.Semaphore(self._max_connections)
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._waiting = 0
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return sum(len(stack) for stack in self._idle.values())

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        scheme = request.url.scheme
        if scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode()!r}")
        if not request.url.host:
            raise httpcore.UnsupportedProtocol("the URL has no host")
        await self._acquire(request.extensions.get("timeout", {}).get("pool"))
        origin = request.url.origin
        try:
            connection, response = await self._exchange(origin, request)
        except BaseException:
            self._slots.release()
            raise
        return httpcore.Response(status=response.status, headers=response.headers,
                                 content=_ReturningStream(response.stream, self, origin,
                                                          connection),
                                 extensions=response.extensions)

    async def _acquire(self, timeout: float | None) -> None:
        self._waiting += 1
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpcore.PoolTimeout(
                f"no free connection within {timeout} s "
                f"({self._max_connections} in use)") from None
        finally:
            self._waiting -= 1

    async def _exchange(self, origin: httpcore.Origin, request: httpcore.Request,
                        ) -> tuple[httpcore.AsyncHTTPConnection, httpcore.Response]:
        while True:
            connection = await self._checkout(origin)
            try:
                return connection, await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                continue  # closed between the check and the use: take another

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        stack = self._idle.get(_key(origin))
        while stack:
            connection = stack.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(origin=origin, ssl_context=self._ssl_context,
                                            keepalive_expiry=self._keepalive_expiry)

    async def _give_back(self, origin: httpcore.Origin,
                         connection: httpcore.AsyncHTTPConnection) -> None:
        self._slots.release()
        if self._closed or not connection.is_idle():
            await connection.aclose()
            return
        stack = self._idle.setdefault(_key(origin), [])
        stack.append(connection)
        # Under load every returning connection is wanted at once by a waiting request; the
        # stack is trimmed (oldest first) only when nobody waits.
        while not self._waiting and len(stack) > self._max_idle:
            await stack.pop(0).aclose()

    async def aclose(self) -> None:
        self._closed = True
        stacks, self._idle = list(self._idle.values()), {}
        for stack in stacks:
            for connection in stack:
                await connection.aclose()

    async def __aenter__(self) -> LeanPool:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None = None,
                        exc_value: BaseException | None = None,
                        traceback: TracebackType | None = None) -> None:
        await self.aclose()


_Key = tuple[bytes, bytes, int]


def _key(origin: httpcore.Origin) -> _Key:
    return origin.scheme, origin.host, origin.port  # Origin itself is not hashable


class _ReturningStream:
    """A response body that hands its connection back to the pool once, when closed."""

    def __init__(self, inner: object, pool: LeanPool, origin: httpcore.Origin,
                 connection: httpcore.AsyncHTTPConnection) -> None:
        self._inner = inner
        self._pool = pool
        self._origin = origin
        self._connection: httpcore.AsyncHTTPConnection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:  # type: ignore[attr-defined]
            yield part

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await self._inner.aclose()  # type: ignore[attr-defined]
        finally:
            await self._pool._give_back(self._origin, connection)
