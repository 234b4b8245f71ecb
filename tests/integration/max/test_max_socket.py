"""Over real sockets: the emulator under uvicorn on 127.0.0.1:0 in a thread, delivering
webhooks to a tiny receiving server, and a long poll that waits and wakes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from medsign.integrations.max import MaxClient
from medsign.integrations.max.emulator import EmulatorConfig, create_emulator
from tests.integration.max.conftest import TOKEN, eventually

pytestmark = pytest.mark.anyio
SECRET = "socket-test_secret"


@contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on a free port in a thread; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class FlakyReceiver:
    """A webhook endpoint that answers 500 twice, then 200; it records every request."""

    failures: int = 2
    seen: list[tuple[float, dict[str, str], Any]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((time.monotonic(), headers, json.loads(body)))
        status = 500 if len(self.seen) <= self.failures else 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})


@dataclass
class Live:
    url: str
    client: MaxClient
    control: httpx.AsyncClient

    async def act(self, path: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.control.post(f"/_emulator{path}", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self.control.get("/_emulator/stats")).json()
        return stats


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    config = EmulatorConfig(token=TOKEN, insecure_webhooks=True, webhook_time_scale=0.001)
    with served(create_emulator(config)) as url:
        async with MaxClient(url, TOKEN, timeout=10) as client, \
                httpx.AsyncClient(base_url=url, timeout=10) as control:
            yield Live(url, client, control)


async def test_webhooks_are_retried_on_the_scaled_schedule_one_update_per_post_in_order(
        live: Live) -> None:
    receiver = FlakyReceiver()
    with served(receiver) as hook_base:
        await live.client.subscribe(f"{hook_base}/max/webhook", secret=SECRET)
        user = await live.act("/users", {"name": "Мария Иванова", "phone": "+79995550011"})
        uid = user["user_id"]
        await live.act(f"/users/{uid}/start", {"payload": "patient-7"})
        await live.act(f"/users/{uid}/messages", {"text": "Здравствуйте"})
        await live.act(f"/users/{uid}/share-contact")

        async def all_delivered() -> bool:
            return len(receiver.seen) >= 5
        await eventually(all_delivered, timeout=20)

    times = [at for at, _, _ in receiver.seen]
    bodies = [body for _, _, body in receiver.seen]
    assert all(headers.get("x-max-bot-api-secret") == SECRET for _, headers, _ in receiver.seen)
    assert all(isinstance(b, dict) and "update_type" in b and "marker" not in b for b in bodies)
    assert bodies[0] == bodies[1] == bodies[2] and bodies[0]["payload"] == "patient-7"
    first_gap, second_gap = times[1] - times[0], times[2] - times[1]
    assert 0.05 <= first_gap < 5 and 0.14 <= second_gap < 5 and second_gap > first_gap
    assert [b["update_type"] for b in bodies[2:]] == ["bot_started", "message_created",
                                                      "message_created"]
    assert bodies[3]["message"]["body"]["text"] == "Здравствуйте"
    assert bodies[4]["message"]["body"]["attachments"][0]["type"] == "contact"
    stats = await live.stats()
    assert (stats["webhook_failures"], stats["webhook_deliveries"]) == (2, 3)
    assert stats["pending_updates"] == 0


async def test_a_long_poll_over_a_socket_waits_and_wakes_on_a_new_update(live: Live) -> None:
    user = await live.act("/users", {"name": "Олег Сидоров"})
    first = await live.client.get_updates(marker=None, timeout=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.ensure_future(live.client.get_updates(marker=first.marker, timeout=30))

    async def holding() -> bool:
        return bool((await live.stats())["requests"].get("GET /updates", 0) >= 2)
    await eventually(holding)
    assert not poll.done()
    await live.act(f"/users/{user['user_id']}/start", {"payload": None})
    batch = await asyncio.wait_for(poll, 10)
    assert [u.update_type for u in batch.updates] == ["bot_started"]
    assert batch.marker is not None and first.marker is not None
    assert batch.marker > first.marker
    assert loop.time() - started < 10
