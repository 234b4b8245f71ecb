"""``POST /max/webhook``: the secret, replays, malformed bodies — and delivery by the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from medsign.bot.updates import UPDATE_KIND
from medsign.db.models import MaxUpdateRow
from medsign.domain import bot
from tests.integration.bot.stand import SECRET, BotStand

HEADER = "X-Max-Bot-Api-Secret"


def started(stand: BotStand) -> tuple[int, dict[str, Any]]:
    """A patient starts the bot from the portal link; the update as the platform sends it,
    taken off the emulator's queue so that only the test delivers it."""
    stand.put_organization()
    stand.put_patient()
    token = stand.deep_link_token()
    stand.emulator.store.subscription = None  # the test is the platform now
    stand.emulator.webhooks.stop()
    user = stand.new_user(start=True, payload=token)
    stand.emulator.store.log.clear()
    update = {"update_type": "bot_started", "timestamp": stand.emulator.now_ms(),
              "chat_id": stand.emulator.store.users[user].chat_id,
              "user": stand.emulator.store.users[user].wire(), "user_id": user,
              "payload": token, "user_locale": "ru"}
    return user, update


def post(stand: BotStand, body: bytes | str, secret: str | None = SECRET) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    return stand.api.post("/max/webhook", content=body, headers=headers)


def test_a_correct_secret_stores_the_update_once_and_a_replay_changes_nothing(
        webhook_stand: BotStand) -> None:
    stand = webhook_stand
    user, update = started(stand)
    body = json.dumps(update, ensure_ascii=False)
    first = post(stand, body)
    assert first.status_code == 200 and first.json() == {"ok": True, "duplicate": False}
    assert stand.count(MaxUpdateRow) == 1
    [row] = stand.update_rows()
    assert (row.update_type, row.via, row.payload) == ("bot_started", "webhook", update)

    # The platform did not see our 200 and delivers the same body again; so does an attacker
    # who captured it. Both are answered 200 (or the platform would retry for hours) and
    # neither is processed twice.
    for _ in range(3):
        again = post(stand, body)
        assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    # Key order and whitespace differ, the update is the same.
    reordered = json.dumps(dict(reversed(list(update.items()))), indent=2)
    assert post(stand, reordered).json()["duplicate"] is True
    assert stand.count(MaxUpdateRow) == 1
    assert len(stand.items(UPDATE_KIND)) == 1

    stand.run_worker()
    assert stand.patient().max_user_id == user
    assert [m["text"] for m in stand.bot_messages(user)] == [bot.linked("Иванов Иван Иванович")]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789", SECRET + "x",
                                    SECRET[:-1], SECRET.upper()])
def test_a_forged_or_missing_secret_is_refused_and_changes_nothing(
        webhook_stand: BotStand, secret: str | None) -> None:
    stand = webhook_stand
    user, update = started(stand)
    r = post(stand, json.dumps(update), secret=secret)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "invalid_webhook_secret"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert stand.count(MaxUpdateRow) == 0 and stand.items(UPDATE_KIND) == []
    stand.run_worker()
    assert stand.patient().max_user_id is None
    assert stand.bot_messages(user) == []


@pytest.mark.parametrize("body", [
    b"", b"not json", b"{", b"[]", b"[{\"update_type\": \"bot_started\"}]", b"null", b"42",
    b"\"bot_started\"", b"{}", b"{\"update_type\": 5}", b"{\"update_type\": null}",
    b"\xff\xfe{}",
])
def test_a_malformed_body_is_a_400(webhook_stand: BotStand, body: bytes) -> None:
    r = post(webhook_stand, body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_update"
    assert webhook_stand.count(MaxUpdateRow) == 0


def test_a_body_over_the_size_limit_is_a_413_before_anything_else(
        webhook_stand: BotStand) -> None:
    body = b"{\"update_type\": \"bot_started\", \"x\": \"" + b"a" * (1024 * 1024) + b"\"}"
    for secret in (SECRET, "wrong-secret-0123456789"):
        r = post(webhook_stand, body, secret=secret)
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "payload_too_large"
    assert webhook_stand.count(MaxUpdateRow) == 0


def test_the_secret_is_checked_before_the_body(webhook_stand: BotStand) -> None:
    assert post(webhook_stand, b"not json", secret="nope-nope-nope").status_code == 401


def test_the_webhook_is_off_when_updates_come_by_polling(stand: BotStand) -> None:
    r = post(stand, json.dumps({"update_type": "bot_started"}))
    assert r.status_code == 404 and r.json()["code"] == "webhook_disabled"


def test_the_service_subscribes_itself_and_the_platform_delivers_every_update(
        webhook_stand: BotStand) -> None:
    stand = webhook_stand
    subscription = stand.max("GET", "/webhooks")["subscription"]
    assert subscription is not None and subscription["url"] == stand.container.webhook_url()
    assert stand.emulator.store.subscription.secret == SECRET  # type: ignore[union-attr]
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    assert stand.patient().max_user_id == user
    attempts = stand.max("GET", "/webhooks")["attempts"]
    assert [a.get("status") for a in attempts] == [200]
    assert stand.stats()["webhook_failures"] == 0
    [row] = stand.update_rows()
    assert row.via == "webhook"
