"""Long polling (marker semantics, types, holding) and rate limits through the real client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from medsign.integrations.max import (
    BotStarted,
    CallbackButton,
    MaxRejected,
    MaxTransient,
    MessageCallback,
)
from tests.integration.max.conftest import Stand, eventually

pytestmark = pytest.mark.anyio


async def test_an_empty_batch_still_carries_a_marker(stand: Stand) -> None:
    batch = await stand.client.get_updates(marker=None, timeout=0)
    assert batch.updates == [] and isinstance(batch.marker, int)
    again = await stand.client.get_updates(marker=batch.marker, timeout=0)
    assert again.marker == batch.marker


async def test_updates_are_redelivered_until_the_marker_is_passed(stand: Stand) -> None:
    first = await stand.user("Анна Смирнова")
    second = await stand.user("Пётр Иванов")
    batch = await stand.client.get_updates(marker=None, timeout=0)
    assert [u.raw["user"]["user_id"] for u in batch.updates] == [first["user_id"],
                                                                 second["user_id"]]
    assert all(isinstance(u, BotStarted) for u in batch.updates)
    again = await stand.client.get_updates(marker=None, timeout=0)
    assert [u.raw for u in again.updates] == [u.raw for u in batch.updates]
    assert again.marker == batch.marker
    committed = await stand.client.get_updates(marker=batch.marker, timeout=0)
    assert committed.updates == [] and committed.marker == batch.marker
    assert (await stand.client.get_updates(marker=None, timeout=0)).updates == []


async def test_limit_splits_the_backlog_and_the_marker_walks_it(stand: Stand) -> None:
    for n in range(3):
        await stand.user(f"Пациент {n}")
    names = []
    marker = None
    for _ in range(3):
        batch = await stand.client.get_updates(marker=marker, timeout=0, limit=1)
        [update] = batch.updates
        names.append(update.raw["user"]["name"])
        marker = batch.marker
    assert names == ["Пациент 0", "Пациент 1", "Пациент 2"]
    assert (await stand.client.get_updates(marker=marker, timeout=0)).updates == []


async def test_the_batch_is_at_most_100(stand: Stand) -> None:
    user = await stand.user()
    for _ in range(104):
        await stand.control("POST", f"/users/{user['user_id']}/messages", {"text": "Привет"})
    batch = await stand.client.get_updates(marker=None, timeout=0, limit=1000)
    assert len(batch.updates) == 100
    rest = await stand.client.get_updates(marker=batch.marker, timeout=0, limit=1000)
    assert len(rest.updates) == 5


async def test_the_types_filter(stand: Stand) -> None:
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="?",
                                           keyboard=[[CallbackButton("Да", "yes")]])
    await stand.control("POST", f"/users/{user['user_id']}/press",
                        {"mid": sent.mid, "payload": "yes"})
    batch = await stand.client.get_updates(marker=None, timeout=0, types=["message_callback"])
    assert [u.update_type for u in batch.updates] == ["message_callback"]
    both = await stand.client.get_updates(marker=None, timeout=0,
                                          types=["bot_started", "message_callback"])
    assert [u.update_type for u in both.updates] == ["bot_started", "message_callback"]


async def test_a_held_poll_wakes_when_an_update_arrives(stand: Stand) -> None:
    user = await stand.user(start=False)
    marker = await stand.drain()
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.ensure_future(stand.client.get_updates(marker=marker, timeout=30))

    async def waiting() -> bool:
        return bool((await stand.stats())["requests"].get("GET /updates", 0) >= 3)
    await eventually(waiting)
    assert not poll.done()
    await stand.control("POST", f"/users/{user['user_id']}/start", {"payload": "link-42"})
    batch = await asyncio.wait_for(poll, 10)
    assert [u.update_type for u in batch.updates] == ["bot_started"]
    assert loop.time() - started < 10


async def test_a_held_poll_returns_empty_with_its_marker_after_the_timeout(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    stand = await make_stand()
    loop = asyncio.get_running_loop()
    started = loop.time()
    batch = await stand.client.get_updates(marker=None, timeout=1)
    assert batch.updates == [] and batch.marker is not None
    assert loop.time() - started >= 0.9


async def test_polling_is_refused_while_a_webhook_subscription_exists(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    stand = await make_stand(insecure_webhooks=True, webhook_time_scale=1000.0)
    await stand.client.subscribe("http://127.0.0.1:9/hook", secret="s3cret-value")
    assert [s["url"] for s in await stand.client.subscriptions()] == ["http://127.0.0.1:9/hook"]
    with pytest.raises(MaxRejected) as caught:
        await stand.client.get_updates(marker=None, timeout=0)
    assert caught.value.status == 405
    await stand.client.unsubscribe("http://127.0.0.1:9/hook")
    assert await stand.client.subscriptions() == []
    await stand.client.get_updates(marker=None, timeout=0)


async def test_the_global_rate_limit_answers_429_and_is_counted(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    stand = await make_stand(rate_limit_rps=3)
    for _ in range(3):
        await stand.client.me()
    with pytest.raises(MaxTransient) as caught:
        await stand.client.me()
    assert caught.value.status == 429 and caught.value.retry_after == 1.0
    raw = await stand.raw("GET", "/me")
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "1"
    assert raw.json()["code"] == "too.many.requests"
    stats = await stand.stats()
    assert stats["too_many_requests"] == 2
    assert stats["too_many_requests_by_limit"] == {"global": 2}
    await stand.control("POST", "/config", {"rate_limit_rps": None})
    for _ in range(10):
        await stand.client.me()


async def test_per_chat_limits_for_messages_and_answers(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    stand = await make_stand(rate_limit_rps=None)
    first, second = await stand.user("Анна А"), await stand.user("Борис Б")
    keyboard = [[CallbackButton("Да", "yes")]]
    sent = [await stand.client.send_message(user_id=first["user_id"], text=str(n),
                                            keyboard=keyboard) for n in range(2)]
    with pytest.raises(MaxTransient):
        await stand.client.send_message(user_id=first["user_id"], text="третье")
    await stand.client.send_message(user_id=second["user_id"], text="другой чат")
    for message in sent * 2:
        await stand.control("POST", f"/users/{first['user_id']}/press",
                            {"mid": message.mid, "payload": "yes"})
    batch = await stand.client.get_updates(marker=None, timeout=0, types=["message_callback"])
    ids = [u.callback_id for u in batch.updates if isinstance(u, MessageCallback)]
    for callback_id in ids[:2]:
        await stand.client.answer_callback(callback_id, notification="ok")
    with pytest.raises(MaxTransient):
        await stand.client.answer_callback(ids[2], notification="ok")
    stats = await stand.stats()
    assert stats["too_many_requests_by_limit"] == {"chat_messages": 1, "chat_answers": 1}


async def test_the_polling_limit_can_be_switched_on(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    stand = await make_stand()
    await stand.control("POST", "/config", {"rate_limit_poll_rps": 1})
    await stand.client.get_updates(marker=None, timeout=0)
    with pytest.raises(MaxTransient):
        await stand.client.get_updates(marker=None, timeout=0)
    assert (await stand.stats())["too_many_requests_by_limit"] == {"polling": 1}
