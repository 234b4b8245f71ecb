"""Emulator parts on their own: the schema walker, the update queue, the token bucket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from medsign.integrations.max.emulator.config import EmulatorConfig
from medsign.integrations.max.emulator.limits import Bucket
from medsign.integrations.max.emulator.model import Ids
from medsign.integrations.max.emulator.updates import UpdateLog, poll
from medsign.integrations.max.emulator.validation import (
    ProtoPayload,
    check_new_message,
    check_schema,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def button(kind: str = "callback", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "text": "Да"}
    if kind in ("callback", "clipboard"):
        base["payload"] = "yes"
    if kind == "link":
        base["url"] = "https://example.com"
    return {**base, **fields}


def keyboard(*rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"attachments": [{"type": "inline_keyboard", "payload": {"buttons": list(rows)}}]}


def rejected(body: Any) -> str:
    with pytest.raises(ProtoPayload) as caught:
        check_new_message(body, require_content=True)
    return caught.value.message


def test_a_plain_message_and_a_full_keyboard_pass() -> None:
    check_new_message({"text": "x" * 4000}, require_content=True)
    check_new_message(keyboard(*[[button(payload=f"p{r}{c}") for c in range(7)]
                                 for r in range(30)]), require_content=True)
    check_new_message(keyboard([button("link"), button(), button("request_contact")]),
                      require_content=True)


@pytest.mark.parametrize(("body", "start"), [
    ({"text": "x" * 4001}, "text: length must be between 0 and 4000"),
    ({"text": 5}, "text: must be a string"),
    ({"text": "x", "format": "rtf"}, "format: must be one of markdown, html"),
    ({"text": "x", "notify": "yes"}, "notify: must be a boolean"),
    ({"text": None, "attachments": []}, "text: a message needs text or attachments"),
    ("hello", "body: must be an object"),
    (None, "body: must not be null"),
    (keyboard([button(text="")]), "attachments[0].payload.buttons[0][0].text: length"),
    (keyboard([button(text="x" * 129)]), "attachments[0].payload.buttons[0][0].text: length"),
    (keyboard([button(payload="p" * 1025)]), "attachments[0].payload.buttons[0][0].payload:"),
    (keyboard([button("link", url="https://e.ru/" + "a" * 2040)]),
     "attachments[0].payload.buttons[0][0].url: length"),
    (keyboard([button("teleport")]), "attachments[0].payload.buttons[0][0].type: unknown"),
    (keyboard([{"type": "callback", "text": "x"}]),
     "attachments[0].payload.buttons[0][0].payload: is required"),
    (keyboard(), "attachments[0].payload.buttons: number of items must be at least 1"),
    (keyboard([]), "attachments[0].payload.buttons[0]: a row needs at least one button"),
    (keyboard(*[[button()] for _ in range(31)]), "attachments[0].payload.buttons: at most 30"),
    (keyboard([button() for _ in range(8)]),
     "attachments[0].payload.buttons[0]: at most 7 buttons in a row"),
    (keyboard([button("link"), button(), button(), button()]),
     "attachments[0].payload.buttons[0]: at most 3 buttons in a row with link"),
    ({"attachments": [{"type": "sticker", "payload": {"code": "x"}},
                      {"type": "inline_keyboard", "payload": {"buttons": [[button()]]}}]},
     "attachments[0]: a sticker attachment must be the only one"),
    ({"attachments": [{"type": "hologram"}]}, "attachments[0].type: unknown value 'hologram'"),
    ({"attachments": [{"type": "contact", "payload": {}}]},
     "attachments[0].payload.name: is required"),
    ({"attachments": [{"type": "location", "latitude": "north", "longitude": 1}]},
     "attachments[0].latitude: must be a number"),
])
def test_schema_and_documented_limits_name_the_field(body: Any, start: str) -> None:
    assert rejected(body).startswith(start)


@pytest.mark.parametrize("secret", ["abcd", "x" * 257, "bad secret", "кириллица"])
def test_webhook_secret_pattern(secret: str) -> None:
    with pytest.raises(ProtoPayload) as caught:
        check_schema({"url": "https://bot.test/hook", "secret": secret},
                     "SubscriptionRequestBody")
    assert caught.value.message.startswith("secret:")
    check_schema({"url": "https://bot.test/hook", "secret": "ok_secret-1"},
                 "SubscriptionRequestBody")


def test_callback_answer_shape() -> None:
    check_schema({"notification": "ok", "message": None}, "CallbackAnswer")
    with pytest.raises(ProtoPayload, match=r"^message\.text: length"):
        check_schema({"message": {"text": "x" * 4001}}, "CallbackAnswer")


def test_ids_look_real() -> None:
    seq = Ids().seq(1775026671403)
    assert seq >> 16 == 1775026671403
    mid = Ids.mid(182403740, seq)
    assert mid.startswith("mid.000000000adf429c") and len(mid) == 36


def make_log(start: int = 1000) -> UpdateLog:
    return UpdateLog(start, lambda: 0, ttl_ms=10**9)


def add(log: UpdateLog, kind: str) -> int:
    return log.append({"update_type": kind}).number


async def test_marker_commits_and_an_omitted_marker_reads_from_the_last_commit() -> None:
    log = make_log()
    first, second = add(log, "a"), add(log, "b")
    picked, marker = await poll(log, marker=None, limit=100, types=None, timeout=0)
    assert [q.number for q in picked] == [first, second] and marker == second + 1
    again, _ = await poll(log, marker=None, limit=100, types=None, timeout=0)
    assert [q.number for q in again] == [first, second]
    empty, empty_marker = await poll(log, marker=marker, limit=100, types=None, timeout=0)
    assert (empty, empty_marker) == ([], marker)
    after, _ = await poll(log, marker=None, limit=100, types=None, timeout=0)
    assert after == []


async def test_limit_and_types_filter() -> None:
    log = make_log()
    numbers = [add(log, kind) for kind in ("a", "b", "a", "b")]
    picked, marker = await poll(log, marker=None, limit=1, types=["b"], timeout=0)
    assert [q.number for q in picked] == [numbers[1]] and marker == numbers[1] + 1
    picked, marker = await poll(log, marker=marker, limit=100, types=["b"], timeout=0)
    assert [q.number for q in picked] == [numbers[3]] and marker == numbers[3] + 1
    everything, _ = await poll(log, marker=None, limit=100, types=None, timeout=0)
    assert [q.number for q in everything] == numbers[2:]


async def test_a_stale_marker_from_the_future_does_not_lose_new_updates() -> None:
    log = make_log()
    number = add(log, "a")
    picked, _ = await poll(log, marker=number + 500, limit=100, types=None, timeout=0)
    assert picked == [] and log.pending == []


async def test_a_held_poll_ends_when_its_client_hangs_up() -> None:
    """A bot that stops (Ctrl+C on the demo) closes its long poll: the server stops holding it
    instead of keeping the connection until the poll's timeout."""
    log = make_log()
    asked: list[float] = []
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def gone() -> bool:
        asked.append(loop.time() - started)
        return len(asked) >= 3  # hung up after about a second

    picked, marker = await asyncio.wait_for(
        poll(log, marker=None, limit=10, types=None, timeout=60, gone=gone), 10)
    assert (picked, marker) == ([], 1000) and len(asked) == 3


async def test_a_held_poll_wakes_on_a_new_update() -> None:
    log = make_log()
    task = asyncio.ensure_future(poll(log, marker=None, limit=100, types=None, timeout=30))
    await asyncio.sleep(0)
    assert not task.done()
    add(log, "a")
    picked, _ = await asyncio.wait_for(task, 5)
    assert len(picked) == 1


def test_updates_older_than_the_ttl_are_dropped() -> None:
    now = [0]
    log = UpdateLog(1, lambda: now[0], ttl_ms=1000)
    log.append({"update_type": "a"})
    now[0] = 2000
    assert log.head() is None


def test_bucket_allows_a_second_of_calls_then_says_how_long_to_wait() -> None:
    now = [100.0]
    bucket = Bucket(2.0, clock=lambda: now[0])
    assert bucket.take() is None and bucket.take() is None
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() is None


def test_retry_schedule_and_runtime_knobs() -> None:
    config = EmulatorConfig(token="t", webhook_time_scale=0.001)
    delays = config.retry_delays()
    assert len(delays) == 10
    assert delays[:3] == pytest.approx([0.06, 0.15, 0.375])
    changed = config.with_runtime_changes({"rate_limit_rps": None, "webhook_time_scale": 1})
    assert changed.rate_limit_rps is None and changed.webhook_time_scale == 1
    for bad in ({"token": "x"}, {"rate_limit_rps": -1}, {"insecure_webhooks": "yes"},
                {"webhook_time_scale": None}):
        with pytest.raises(ValueError):
            config.with_runtime_changes(bad)
