"""The API clients' transport (``medsign.integrations.http.Transport``) over real sockets.

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
from sqlalchemy import Engine

from medsign.bootstrap import Container
from medsign.config import load_settings
from medsign.integrations.goskey.client import GoskeyClient, GoskeyRejected, GoskeyTransient
from medsign.integrations.http import Transport, http_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Server:
    url: str
    connections: int = 0
    open_connections: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    requests: int = 0


@asynccontextmanager
async def serving(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Paths: ``/ok``, ``/slow`` (0.3 s), ``/close`` (``Connection: close``), ``/hangup``
    (answers, then drops the connection without saying so), ``/big`` (1 MiB), ``/garbage``
    (an answer that is not HTTP), ``/silent`` (drops the connection without an answer)."""
    server = Server(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        server.open_connections += 1
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
                    if path.startswith("/silent"):
                        return
                    if path.startswith("/garbage"):
                        writer.write(b"SMTP READY\r\n\r\n")
                        await writer.drain()
                        return
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
            server.open_connections -= 1
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()


def client(server: Server, **limits: Any) -> httpx.AsyncClient:
    transport = Transport(**limits) if limits else None
    return http_client(server.url, transport=transport, timeout=5)


async def test_sequential_requests_share_one_connection() -> None:
    async with serving() as server, client(server) as http:
        for _ in range(5):
            assert (await http.get("/ok")).text == "/ok"
    assert (server.requests, server.connections) == (5, 1)


async def test_concurrency_is_bounded_by_max_connections_and_idle_ones_are_kept() -> None:
    async with serving() as server, client(server, max_connections=4) as http:
        answers = await asyncio.gather(*(http.get("/slow") for _ in range(12)))
        assert all(a.status_code == 200 for a in answers)
        assert server.most_in_flight == 4
        assert server.connections == 4
        await asyncio.gather(*(http.get("/slow") for _ in range(4)))
        assert server.connections == 4  # the idle ones were used again


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


async def test_waiting_longer_than_the_pool_timeout_is_a_timeout() -> None:
    async with serving() as server, client(server, max_connections=1) as http:
        slow = asyncio.create_task(http.get("/slow"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.TimeoutException):
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
    async with http_client(url, timeout=1, transport=Transport(max_connections=1)) as http:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await http.get("/ok", timeout=httpx.Timeout(1, pool=0.2))


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    async with serving() as server, client(server) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/garbage")
        assert (await http.get("/ok")).text == "/ok"


async def test_a_connection_dropped_without_an_answer_is_a_protocol_error() -> None:
    async with serving() as server, client(server) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/silent", content=b"{}")
        assert (await http.get("/ok")).text == "/ok"


async def test_a_client_sees_a_broken_answer_as_a_transient_error() -> None:
    async with serving() as server:
        for path in ("/garbage", "/silent"):
            async with GoskeyClient(server.url + path, "token", timeout=5) as goskey:
                with pytest.raises(GoskeyTransient, match="RemoteProtocolError"):
                    await goskey.status("t1")


async def test_the_container_closes_the_clients_it_made(engine: Engine) -> None:
    async with serving() as server:
        env = {"MEDSIGN_GOSKEY__BASE_URL": server.url, "MEDSIGN_GOSKEY__TOKEN": "token"}
        container = Container(load_settings(None, env=env), engine)
        goskey = container.goskey_client()
        with pytest.raises(GoskeyRejected, match="not JSON"):  # the test server says its path
            await goskey.status("t1")
        assert server.open_connections == 1
        await container.close_clients()
        async with asyncio.timeout(5):
            while server.open_connections:
                await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError):  # closed for good
            await goskey.status("t1")
        container.close()


async def test_the_server_cookies_are_sent_back_once() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(b"\r\n".join(line for line in head.split(b"\r\n")
                                       if line.lower().startswith(b"cookie:")))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                         b"Set-Cookie: session=abc; Path=/\r\n\r\n")
            await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with http_client(f"http://127.0.0.1:{port}", timeout=5) as http:
            await http.get("/a")
            await http.get("/b")
    finally:
        listener.close()
    assert seen == [b"", b"cookie: session=abc"]


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
