"""Sending, reading, editing, deleting and answering through the real client."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

import pytest

from medsign.integrations.max import (
    KEEP,
    CallbackButton,
    LinkButton,
    MaxRejected,
    MessageCallback,
    MessageCreated,
    RequestContactButton,
)
from tests.integration.max.conftest import TOKEN, Stand

pytestmark = pytest.mark.anyio
KEYBOARD = [[CallbackButton("Подписать онлайн", "sign:1"),
             CallbackButton("Подпишу в клинике", "paper:1")]]


async def test_me_names_the_configured_bot(make_stand: Callable[..., Awaitable[Stand]]) -> None:
    stand = await make_stand(bot_username="clinic_bot")
    bot = await stand.client.me()
    assert bot.username == "clinic_bot" and bot.user_id > 0 and bot.name


@pytest.mark.parametrize("token", [None, "wrong", f"Bearer {TOKEN}"])
async def test_a_missing_or_wrong_token_is_401_verify_token(stand: Stand,
                                                             token: str | None) -> None:
    response = await stand.raw("GET", "/me", token=token)
    assert response.status_code == 401
    assert response.json() == {"code": "verify.token", "message": "Invalid access_token"}


async def test_a_token_in_the_query_is_403_deprecated_token(stand: Stand) -> None:
    response = await stand.raw("GET", "/me", token=None, params={"access_token": TOKEN})
    assert response.status_code == 403 and response.json()["code"] == "deprecated.token"


async def test_a_user_who_never_started_the_bot_is_chat_denied(stand: Stand) -> None:
    user = await stand.user(start=False)
    for target in ({"user_id": user["user_id"]}, {"chat_id": user["chat_id"]}):
        with pytest.raises(MaxRejected) as caught:
            await stand.client.send_message(text="Здравствуйте", **target)
        assert caught.value.chat_denied and caught.value.status == 403
        assert "error.dialog.notfound" in caught.value.message


async def test_after_stop_sends_are_chat_denied_suspended_and_a_restart_reopens(
        stand: Stand) -> None:
    user = await stand.user()
    await stand.control("POST", f"/users/{user['user_id']}/stop")
    with pytest.raises(MaxRejected) as caught:
        await stand.client.send_message(user_id=user["user_id"], text="Напоминание")
    assert caught.value.chat_denied and "error.dialog.suspended" in caught.value.message
    await stand.control("POST", f"/users/{user['user_id']}/start", {})
    await stand.client.send_message(user_id=user["user_id"], text="Снова здесь")


async def test_sent_messages_carry_real_looking_ids(stand: Stand) -> None:
    user = await stand.user()
    before_ms = time.time() * 1000
    sent = await stand.client.send_message(user_id=user["user_id"], text="Приём завтра",
                                           keyboard=KEYBOARD)
    assert re.fullmatch(r"mid\.[0-9a-f]{32}", sent.mid)
    assert sent.chat_id == user["chat_id"] and sent.chat_id != user["user_id"]
    assert sent.chat_id is not None and sent.chat_id > 0 and sent.user_id == user["user_id"]
    assert before_ms - 5000 < sent.timestamp < before_ms + 5000
    message = await stand.client.get_message(sent.mid)
    assert message["body"]["mid"] == sent.mid
    assert 0 < message["body"]["seq"] < 2**63
    assert message["recipient"] == {"chat_id": user["chat_id"], "chat_type": "dialog",
                                    "user_id": user["user_id"]}
    assert message["sender"]["is_bot"] is True
    also_by_chat = await stand.client.send_message(chat_id=user["chat_id"], text="Ещё")
    assert also_by_chat.user_id == user["user_id"]


async def test_get_message_of_an_unknown_mid_is_404(stand: Stand) -> None:
    with pytest.raises(MaxRejected) as caught:
        await stand.client.get_message("mid.0000000000000000000000000000dead")
    assert (caught.value.status, caught.value.code) == (404, "not.found")


async def test_edit_keeps_clears_or_replaces_the_keyboard(stand: Stand) -> None:
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="Вопрос",
                                           keyboard=KEYBOARD)
    await stand.client.edit_message(sent.mid, text="Вопрос (уточнён)", keyboard=KEEP)
    [item] = await stand.chat(user["user_id"])
    assert item["text"] == "Вопрос (уточнён)" and item["edited"]
    assert [b["payload"] for b in item["keyboard"][0]] == ["sign:1", "paper:1"]
    link = [[LinkButton("Открыть Госключ", "https://max.ru/gosbot")]]
    await stand.client.edit_message(sent.mid, text=None, keyboard=link)
    [item] = await stand.chat(user["user_id"])
    assert item["text"] == "Вопрос (уточнён)"
    assert item["keyboard"] == [[{"type": "link", "text": "Открыть Госключ",
                                  "url": "https://max.ru/gosbot"}]]
    await stand.client.edit_message(sent.mid, text="Готово", keyboard=None)
    [item] = await stand.chat(user["user_id"])
    assert (item["text"], item["keyboard"]) == ("Готово", None)
    assert (await stand.stats())["messages_edited"] == 3


async def test_edit_and_delete_only_the_bots_own_existing_messages(stand: Stand) -> None:
    user = await stand.user()
    shared = await stand.control("POST", f"/users/{user['user_id']}/share-contact")
    users_mid = shared["update"]["message"]["body"]["mid"]
    for call in (stand.client.edit_message(users_mid, text="x"),
                 stand.client.delete_message(users_mid)):
        with pytest.raises(MaxRejected) as caught:
            await call
        assert (caught.value.status, caught.value.code) == (403, "access.denied")
    with pytest.raises(MaxRejected) as caught:
        await stand.client.edit_message("mid.00000000000000000000000000000bad", text="x")
    assert caught.value.code == "proto.payload"
    assert caught.value.message == "Invalid message_id: 00000000000000000000000000000bad"


async def test_delete_removes_the_message_from_the_chat(stand: Stand) -> None:
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="Ошибка")
    await stand.client.delete_message(sent.mid)
    assert await stand.chat(user["user_id"]) == []
    with pytest.raises(MaxRejected):
        await stand.client.get_message(sent.mid)


async def test_an_old_message_without_keyboard_cannot_be_edited(
        make_stand: Callable[..., Awaitable[Stand]]) -> None:
    now = [1_780_000_000.0]
    stand = await make_stand(clock=lambda: now[0])
    user = await stand.user()
    plain = await stand.client.send_message(user_id=user["user_id"], text="Без кнопок")
    with_keyboard = await stand.client.send_message(user_id=user["user_id"], text="С кнопками",
                                                    keyboard=KEYBOARD)
    now[0] += 8 * 24 * 3600
    with pytest.raises(MaxRejected) as caught:
        await stand.client.edit_message(plain.mid, text="Поздно")
    assert caught.value.code == "proto.payload"
    await stand.client.edit_message(with_keyboard.mid, text="Можно", keyboard=KEEP)


async def press(stand: Stand, user_id: int, mid: str, payload: str) -> MessageCallback:
    await stand.control("POST", f"/users/{user_id}/press", {"mid": mid, "payload": payload})
    batch = await stand.client.get_updates(marker=None, timeout=0, types=["message_callback"])
    update = batch.updates[-1]
    assert isinstance(update, MessageCallback)
    return update


async def test_a_press_and_its_answer_replace_the_message_and_show_a_toast(
        stand: Stand) -> None:
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="Подписать?",
                                           keyboard=KEYBOARD)
    update = await press(stand, user["user_id"], sent.mid, "sign:1")
    assert (update.payload, update.user_id, update.message_mid, update.chat_id) == (
        "sign:1", user["user_id"], sent.mid, user["chat_id"])
    link = [[LinkButton("Госключ", "https://max.ru/gosbot")]]
    await stand.client.answer_callback(update.callback_id, notification="Принято",
                                       text="Откройте Госключ", keyboard=link)
    message, toast = await stand.chat(user["user_id"])
    assert (message["text"], message["keyboard"][0][0]["type"]) == ("Откройте Госключ", "link")
    assert toast == {"kind": "notification", "text": "Принято",
                     "timestamp": toast["timestamp"]}
    await stand.client.answer_callback(update.callback_id, notification="Ещё раз")
    message, *_ = await stand.chat(user["user_id"])
    assert message["text"] == "Откройте Госключ" and message["keyboard"] is not None


async def test_answers_with_a_bad_callback_id_or_an_empty_body_are_proto_payload(
        stand: Stand) -> None:
    with pytest.raises(MaxRejected) as caught:
        await stand.client.answer_callback("no-such-callback", notification="x")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400, "proto.payload", "callback_id: Callback identifier is invalid")
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="?", keyboard=KEYBOARD)
    update = await press(stand, user["user_id"], sent.mid, "paper:1")
    response = await stand.raw("POST", "/answers", params={"callback_id": update.callback_id},
                               json={})
    assert response.status_code == 400 and response.json()["code"] == "proto.payload"
    missing = await stand.raw("POST", "/answers", json={"notification": "x"})
    assert missing.json()["message"].startswith("callback_id:")


async def test_the_shared_contact_reaches_the_bot_with_the_phone(stand: Stand) -> None:
    user = await stand.user(phone="+79990001122")
    await stand.drain()
    sent = await stand.client.send_message(
        user_id=user["user_id"], text="Поделитесь номером",
        keyboard=[[RequestContactButton("Поделиться")]])
    assert sent.mid
    await stand.control("POST", f"/users/{user['user_id']}/share-contact")
    [update] = (await stand.client.get_updates(marker=None, timeout=0)).updates
    assert isinstance(update, MessageCreated)
    assert update.raw["message"]["body"]["attachments"][0]["payload"]["hash"]
    assert (update.contact_phone, update.contact_user_id) == (
        "+79990001122", user["user_id"])


async def test_list_messages_by_chat_and_by_ids(stand: Stand) -> None:
    user = await stand.user()
    first = await stand.client.send_message(user_id=user["user_id"], text="1")
    second = await stand.client.send_message(user_id=user["user_id"], text="2")
    by_chat = await stand.raw("GET", "/messages", params={"chat_id": user["chat_id"]})
    assert [m["body"]["mid"] for m in by_chat.json()["messages"]] == [second.mid, first.mid]
    by_ids = await stand.raw("GET", "/messages", params={"message_ids": f"{first.mid}",
                                                         "count": 1})
    assert [m["body"]["text"] for m in by_ids.json()["messages"]] == ["1"]


async def test_repeated_idempotency_keys_are_counted_but_still_sent(stand: Stand) -> None:
    user = await stand.user()
    for _ in range(2):
        response = await stand.raw("POST", "/messages", params={"user_id": user["user_id"]},
                                   json={"text": "Один раз?"},
                                   headers={"Idempotency-Key": "k1"})
        assert response.status_code == 200
    stats = await stand.stats()
    assert (stats["messages_sent"], stats["repeated_idempotency_keys"]) == (2, 1)
