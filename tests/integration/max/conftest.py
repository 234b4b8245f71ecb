"""The real MAX client against the emulator, in-process through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from medsign.integrations.max import MaxClient
from medsign.integrations.max.emulator import Emulator, EmulatorConfig, create_emulator

TOKEN = "emulated-bot-token-0123456789"
BASE = "http://max.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Stand:
    app: Starlette
    client: MaxClient
    http: httpx.AsyncClient

    @property
    def emulator(self) -> Emulator:
        emulator: Emulator = self.app.state.emulator
        return emulator

    async def control(self, method: str, path: str, body: Any = None,
                      expect: int = 200) -> Any:
        response = await self.http.request(method, f"/_emulator{path}", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    async def raw(self, method: str, path: str, *, token: str | None = TOKEN,
                  headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        sent = {"Authorization": token} if token is not None else {}
        return await self.http.request(method, path, headers={**sent, **(headers or {})},
                                       **kwargs)

    async def user(self, name: str = "Иван Петров", phone: str | None = "+79991234567",
                   *, start: bool = True) -> dict[str, Any]:
        user: dict[str, Any] = await self.control("POST", "/users", {"name": name,
                                                                    "phone": phone}, 200)
        if start:
            await self.control("POST", f"/users/{user['user_id']}/start", {"payload": None})
        return user

    async def chat(self, user_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.control("GET", f"/users/{user_id}/chat"))[
            "items"]
        return items

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.control("GET", "/stats")
        return stats

    async def drain(self) -> int | None:
        """Acknowledge every queued update; the marker to go on from."""
        batch = await self.client.get_updates(marker=None, timeout=0)
        return (await self.client.get_updates(marker=batch.marker, timeout=0)).marker


@pytest.fixture
async def make_stand() -> AsyncIterator[Callable[..., Awaitable[Stand]]]:
    opened: list[Stand] = []

    async def build(**options: Any) -> Stand:
        app = create_emulator(EmulatorConfig(token=TOKEN, **options))
        transport = httpx.ASGITransport(app=app)
        stand = Stand(app, MaxClient(BASE, TOKEN, transport=transport),
                      httpx.AsyncClient(transport=transport, base_url=BASE))
        opened.append(stand)
        return stand

    yield build
    for stand in opened:
        await stand.client.aclose()
        await stand.http.aclose()
        await stand.emulator.aclose()


@pytest.fixture
async def stand(make_stand: Callable[..., Awaitable[Stand]]) -> Stand:
    return await make_stand()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait for a condition, polling; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)
