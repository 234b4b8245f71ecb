"""The API clients' connection pool (``medsign.integrations.pool``) over real sockets.

The server is a small HTTP/1.1 server on asyncio streams, so that a test can decide when the
server hangs up, how slowly it answers, and count the connections it was given.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from medsign.integrations.http import http_client
from medsign.integrations.pool import LeanTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Server:
    url: str
    connections: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    requests: int = 0


@asynccontextmanager
async def serving(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Paths: ``/ok``, ``/slow`` (0.3 s), ``/close`` (``Connection: close``), ``/hangup``
    (answers, then drops the connection without saying so), ``/big`` (1 MiB)."""
    server = Server(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                path = head.split(b" ", 2)[1].decode()
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                server.requests += 1
                server.in_flight += 1
                server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    if path == "/slow":
                        await asyncio.sleep(0.3)
                    body = b"x" * (1 << 20) if path == "/big" else path.encode()
                    extra = b"Connection: close\r\n" if path == "/close" else b""
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
                                 % (len(body), extra, body))
                    await writer.drain()
                finally:
                    server.in_flight -= 1
                if path in ("/close", "/hangup"):
                    return
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()


def client(server: Server, **limits: Any) -> httpx.AsyncClient:
    transport = LeanTransport(limits=httpx.Limits(**limits)) if limits else None
    return http_client(server.url, transport=transport, timeout=5)


async def test_sequential_requests_share_one_connection() -> None:
    async with serving() as server, client(server) as http:
        for _ in range(5):
            assert (await http.get("/ok")).text == "/ok"
    assert (server.requests, server.connections) == (5, 1)


async def test_concurrency_is_bounded_by_max_connections_and_idle_ones_are_kept() -> None:
    async with serving() as server, client(server, max_connections=4,
                                           max_keepalive_connections=2) as http:
        answers = await asyncio.gather(*(http.get("/slow") for _ in range(12)))
        assert all(a.status_code == 200 for a in answers)
        assert server.most_in_flight == 4
        assert server.connections == 4
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert pool.idle_connections == 2  # the other two were closed when the load ended
        await asyncio.gather(*(http.get("/ok") for _ in range(2)))
        assert server.connections == 4


async def test_a_connection_the_server_dropped_is_replaced_without_an_error() -> None:
    async with serving() as server, client(server) as http:
        assert (await http.get("/hangup")).status_code == 200
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        assert (await http.get("/ok")).status_code == 200
        assert (await http.get("/close")).status_code == 200
        assert (await http.get("/ok")).status_code == 200
    assert server.connections == 3


async def test_an_idle_connection_older_than_the_keepalive_expiry_is_not_reused() -> None:
    async with serving() as server, client(server, max_connections=10,
                                           keepalive_expiry=0.05) as http:
        await http.get("/ok")
        await asyncio.sleep(0.1)
        await http.get("/ok")
    assert server.connections == 2


async def test_waiting_longer_than_the_pool_timeout_is_a_pool_timeout() -> None:
    async with serving() as server, client(server, max_connections=1) as http:
        slow = asyncio.create_task(http.get("/slow"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout, match="no free connection"):
            await http.get("/ok", timeout=httpx.Timeout(5, pool=0.05))
        assert (await slow).status_code == 200
        assert (await http.get("/ok")).status_code == 200  # the slot came back


async def test_failures_and_cancellations_give_their_slot_back() -> None:
    async with serving() as server, client(server, max_connections=1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/slow", timeout=0.05)
        task = asyncio.create_task(http.get("/slow"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with http.stream("GET", "/big") as response:  # closed before it is read
            assert response.status_code == 200
        assert (await http.get("/ok", timeout=httpx.Timeout(5, pool=1))).text == "/ok"
    # the timed-out, the cancelled and the half-read exchanges could not be reused
    assert server.connections == 4


async def test_a_refused_connection_is_a_connect_error_and_frees_its_slot() -> None:
    async with serving() as server:
        url = server.url
    async with http_client(url, timeout=1, transport=LeanTransport(
            limits=httpx.Limits(max_connections=1))) as http:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await http.get("/ok", timeout=httpx.Timeout(1, pool=0.2))


async def test_a_closed_client_refuses_new_requests() -> None:
    async with serving() as server:
        http = client(server)
        await http.get("/ok")
        await http.aclose()
        with pytest.raises(RuntimeError):
            await http.get("/ok")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


async def test_tls_is_verified_against_the_configured_ca_bundle(
        tls: tuple[ssl.SSLContext, Path]) -> None:
    context, cert = tls
    async with serving(context) as server:
        async with http_client(server.url, ca_bundle=cert, timeout=5) as http:
            assert (await http.get("/ok")).text == "/ok"
            assert (await http.get("/ok")).text == "/ok"
        async with http_client(server.url, timeout=5) as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get("/ok")
    assert server.connections == 1  # the refused handshake never reached the server's handler
