"""The side door: users' acts, the chat view, counters, config, reset, the page, restarts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from medsign.integrations.max import (
    BotStarted,
    BotStopped,
    CallbackButton,
    MessageCallback,
    MessageCreated,
)
from tests.integration.max.conftest import Stand

pytestmark = pytest.mark.anyio


async def test_a_deep_link_start_reaches_the_bot_with_its_payload(stand: Stand) -> None:
    user = await stand.user(start=False)
    await stand.control("POST", f"/users/{user['user_id']}/start", {"payload": "link-Ab_9"})
    [update] = (await stand.client.get_updates(marker=None, timeout=0)).updates
    assert update == BotStarted(user_id=user["user_id"], chat_id=user["chat_id"],
                                payload="link-Ab_9", user_name="Иван Петров",
                                timestamp=update.timestamp, raw={})
    assert update.raw["user_locale"] == "ru" and update.raw["user_id"] == user["user_id"]


async def test_a_payload_over_128_characters_reaches_the_bot_as_null(stand: Stand) -> None:
    user = await stand.user(start=False)
    await stand.control("POST", f"/users/{user['user_id']}/start", {"payload": "x" * 129})
    [update] = (await stand.client.get_updates(marker=None, timeout=0)).updates
    assert isinstance(update, BotStarted) and update.payload is None


async def test_stop_sends_bot_stopped_and_blocks_the_users_acts(stand: Stand) -> None:
    user = await stand.user()
    await stand.drain()
    await stand.control("POST", f"/users/{user['user_id']}/stop")
    [update] = (await stand.client.get_updates(marker=None, timeout=0)).updates
    assert update == BotStopped(user_id=user["user_id"], chat_id=user["chat_id"],
                                timestamp=update.timestamp, raw={})
    await stand.control("POST", f"/users/{user['user_id']}/share-contact", expect=409)
    await stand.control("POST", f"/users/{user['user_id']}/stop", expect=409)


async def test_press_needs_a_callback_button_with_that_payload(stand: Stand) -> None:
    user = await stand.user()
    other = await stand.user("Ольга Орлова")
    sent = await stand.client.send_message(user_id=user["user_id"], text="?",
                                           keyboard=[[CallbackButton("Да", "yes")]])
    path = f"/users/{user['user_id']}/press"
    await stand.control("POST", path, {"mid": sent.mid, "payload": "no"}, expect=400)
    await stand.control("POST", f"/users/{other['user_id']}/press",
                        {"mid": sent.mid, "payload": "yes"}, expect=400)
    await stand.client.edit_message(sent.mid, text="Кнопок больше нет", keyboard=None)
    await stand.control("POST", path, {"mid": sent.mid, "payload": "yes"}, expect=400)
    await stand.client.delete_message(sent.mid)
    await stand.control("POST", path, {"mid": sent.mid, "payload": "yes"}, expect=400)


async def test_user_creation_is_checked(stand: Stand) -> None:
    await stand.control("POST", "/users", {"name": ""}, expect=400)
    await stand.control("POST", "/users", {"name": "Иван", "phone": "не телефон"}, expect=400)
    user = await stand.user("Иван", phone=None, start=False)
    assert user["last_name"] is None and user["state"] == "new"
    await stand.control("POST", f"/users/{user['user_id']}/start", {})
    await stand.control("POST", f"/users/{user['user_id']}/share-contact", expect=400)
    await stand.control("POST", "/users/12345/start", {}, expect=404)
    await stand.control("POST", "/users/abc/start", {}, expect=404)


async def test_a_users_text_message_reaches_the_bot(stand: Stand) -> None:
    user = await stand.user()
    await stand.drain()
    await stand.control("POST", f"/users/{user['user_id']}/messages", {"text": "/start"})
    [update] = (await stand.client.get_updates(marker=None, timeout=0)).updates
    assert isinstance(update, MessageCreated)
    assert (update.text, update.user_id, update.chat_id) == ("/start", user["user_id"],
                                                             user["chat_id"])
    assert update.raw["message"]["recipient"]["user_id"] == (await stand.client.me()).user_id


async def test_stats_count_requests_sends_and_edits(stand: Stand) -> None:
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="1")
    await stand.client.edit_message(sent.mid, text="2")
    await stand.client.delete_message(sent.mid)
    stats = await stand.stats()
    assert stats["requests"] == {"POST /messages": 1, "PUT /messages": 1,
                                 "DELETE /messages": 1}
    assert (stats["messages_sent"], stats["messages_edited"], stats["messages_deleted"]) == (
        1, 1, 1)
    assert stats["updates_created"] == 1 and stats["pending_updates"] == 1


async def test_reset_forgets_everything_but_the_config(stand: Stand) -> None:
    await stand.control("POST", "/config", {"rate_limit_rps": 1000})
    user = await stand.user()
    await stand.client.send_message(user_id=user["user_id"], text="1")
    await stand.control("POST", "/reset")
    assert (await stand.control("GET", "/users"))["users"] == []
    stats = await stand.stats()
    assert stats["messages_sent"] == 0 and stats["pending_updates"] == 0
    assert (await stand.control("GET", "/config"))["rate_limit_rps"] == 1000


async def test_config_rejects_unknown_or_bad_knobs(stand: Stand) -> None:
    await stand.control("POST", "/config", {"token": "x"}, expect=400)
    await stand.control("POST", "/config", {"rate_limit_rps": "fast"}, expect=400)
    config = await stand.control("GET", "/config")
    assert config["rate_limit_chat_messages_per_s"] == 2.0 and "token" not in config


async def test_the_phone_page_is_russian_narrow_and_labelled(stand: Stand) -> None:
    response = await stand.http.get("/_emulator/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="ru">' in html and 'name="viewport"' in html
    for label in ('for="user-select"', 'for="deep-link"', 'aria-live="polite"',
                  "Поделиться контактом", "Остановить бота"):
        assert label in html
    # the style sheet is a file now (the page runs under the service's CSP)
    assert "max-width: 420px" in (await stand.http.get("/_emulator/static/phone.css")).text


async def test_a_restarted_emulator_keeps_its_state(
        make_stand: Callable[..., Awaitable[Stand]], tmp_path: Path) -> None:
    first = await make_stand(state_dir=tmp_path, insecure_webhooks=True)
    user = await first.user()
    sent = await first.client.send_message(user_id=user["user_id"], text="Сохранится?",
                                           keyboard=[[CallbackButton("Да", "yes")]])
    await first.control("POST", f"/users/{user['user_id']}/press",
                        {"mid": sent.mid, "payload": "yes"})
    batch = await first.client.get_updates(marker=None, timeout=0)
    await first.emulator.aclose()

    second = await make_stand(state_dir=tmp_path, insecure_webhooks=True)
    again = await second.client.get_updates(marker=None, timeout=0)
    assert [u.raw for u in again.updates] == [u.raw for u in batch.updates]
    assert again.marker == batch.marker
    pressed = again.updates[-1]
    assert isinstance(pressed, MessageCallback)
    callback_id = pressed.callback_id
    await second.client.answer_callback(callback_id, text="Да, сохранилось", keyboard=None)
    [item] = await second.chat(user["user_id"])
    assert item["mid"] == sent.mid and item["text"] == "Да, сохранилось"
    await second.drain()
    await second.client.subscribe("http://127.0.0.1:9/hook", secret=None)

    third = await make_stand(state_dir=tmp_path, insecure_webhooks=True)
    assert [s["url"] for s in await third.client.subscriptions()] == ["http://127.0.0.1:9/hook"]
