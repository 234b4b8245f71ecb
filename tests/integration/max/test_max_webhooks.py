"""Webhook delivery in-process (``webhook_transport``): one update per POST, the secret,
exactly-200 success, retries, give-up, the subscription's update types."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from medsign.integrations.max import CallbackButton
from tests.integration.max.conftest import Stand, eventually

pytestmark = pytest.mark.anyio
HOOK = "https://bot.example.ru/max/webhook"


class Receiver:
    """Answers with the given statuses in turn (the last one repeats) and records requests."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status, json={"ok": status == 200})

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]

    def count(self, n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return len(self.requests) >= n
        return check


async def hooked(make_stand: Callable[..., Awaitable[Stand]], receiver: Receiver,
                 **options: Any) -> Stand:
    options.setdefault("webhook_time_scale", 0.001)
    return await make_stand(webhook_transport=httpx.MockTransport(receiver), **options)


async def test_each_update_is_one_post_with_the_secret_in_order(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    receiver = Receiver(200)
    stand = await hooked(make_stand, receiver)
    await stand.client.subscribe(HOOK, secret="s3cret_value-1")
    users = [await stand.user(f"Пациент {n}") for n in range(3)]
    await eventually(receiver.count(3))
    assert [str(r.url) for r in receiver.requests] == [HOOK] * 3
    assert all(r.method == "POST" for r in receiver.requests)
    assert {r.headers["X-Max-Bot-Api-Secret"] for r in receiver.requests} == {"s3cret_value-1"}
    bodies = receiver.bodies()
    assert all(isinstance(b, dict) and "marker" not in b for b in bodies)
    assert [b["user"]["user_id"] for b in bodies] == [u["user_id"] for u in users]
    assert (await stand.stats())["webhook_deliveries"] == 3


async def test_without_a_secret_there_is_no_secret_header(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    receiver = Receiver(200)
    stand = await hooked(make_stand, receiver)
    await stand.client.subscribe(HOOK, secret=None)
    await stand.user()
    await eventually(receiver.count(1))
    assert "X-Max-Bot-Api-Secret" not in receiver.requests[0].headers


async def test_anything_but_200_is_retried_and_the_next_update_waits(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    receiver = Receiver(204, 500, 200)
    stand = await hooked(make_stand, receiver)
    await stand.client.subscribe(HOOK, secret=None)
    await stand.user("Первый Пациент")
    await stand.user("Второй Пациент")
    await eventually(receiver.count(4))
    names = [b["user"]["name"] for b in receiver.bodies()]
    assert names == ["Первый Пациент"] * 3 + ["Второй Пациент"]
    stats = await stand.stats()
    assert (stats["webhook_failures"], stats["webhook_deliveries"]) == (2, 2)
    attempts = (await stand.control("GET", "/webhooks"))["attempts"]
    assert [a["status"] for a in attempts] == [204, 500, 200, 200]


async def test_no_success_for_the_give_up_time_unsubscribes_and_keeps_the_update(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    receiver = Receiver(503)
    stand = await hooked(make_stand, receiver, webhook_give_up_s=300)
    await stand.client.subscribe(HOOK, secret=None)
    await stand.user()

    async def unsubscribed() -> bool:
        return bool((await stand.stats())["webhook_unsubscribed"] == 1)
    await eventually(unsubscribed)
    # 0.3 s scaled give-up: attempts at 0, 0.06 and 0.21 s; the next (0.585 s) is too late.
    assert len(receiver.requests) == 3
    assert await stand.client.subscriptions() == []
    [update] = (await stand.client.get_updates(marker=None, timeout=0)).updates
    assert update.update_type == "bot_started"


async def test_when_the_retries_run_out_first_the_update_is_dropped(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    receiver = Receiver(500, 500, 500, 200)
    stand = await hooked(make_stand, receiver, webhook_max_retries=2)
    await stand.client.subscribe(HOOK, secret=None)
    await stand.user("Первый Пациент")
    await stand.user("Второй Пациент")
    await eventually(receiver.count(4))
    assert [b["user"]["name"] for b in receiver.bodies()] == ["Первый Пациент"] * 3 + [
        "Второй Пациент"]
    assert (await stand.stats())["webhook_dropped"] == 1


async def test_only_the_subscribed_update_types_are_sent(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    receiver = Receiver(200)
    stand = await hooked(make_stand, receiver)
    await stand.client.subscribe(HOOK, secret=None, update_types=["message_callback"])
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="?",
                                           keyboard=[[CallbackButton("Да", "yes")]])
    await stand.control("POST", f"/users/{user['user_id']}/press",
                        {"mid": sent.mid, "payload": "yes"})
    await eventually(receiver.count(1))
    assert [b["update_type"] for b in receiver.bodies()] == ["message_callback"]

    async def drained() -> bool:
        return bool((await stand.stats())["pending_updates"] == 0)
    await eventually(drained)
