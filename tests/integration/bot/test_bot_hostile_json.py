"""``POST /max/webhook`` with JSON nested 100 000 deep: a 400 (it used to be a 500 and a
traceback: ``json.loads`` ran out of recursion), with or without a JSON ``Content-Type``, and
no update stored; a genuine update still goes through afterwards."""

from __future__ import annotations

import json

import pytest

from medsign.bot.updates import UPDATE_KIND
from medsign.db.models import MaxUpdateRow
from tests.integration.bot.stand import SECRET, BotStand
from tests.integration.bot.test_bot_webhook import HEADER, started

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_UPDATE = b'{"update_type": "bot_started", "x": ' + DEEP + b"}"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
@pytest.mark.parametrize("body", [DEEP, DEEP_UPDATE], ids=["array", "update"])
def test_deep_json_to_the_webhook_is_a_400_and_stores_nothing(
        webhook_stand: BotStand, body: bytes, content_type: str | None) -> None:
    stand = webhook_stand
    headers = {HEADER: SECRET, **({"Content-Type": content_type} if content_type else {})}
    r = stand.api.post("/max/webhook", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_json"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert stand.count(MaxUpdateRow) == 0 and stand.items(UPDATE_KIND) == []

    _, update = started(stand)  # the endpoint is still fine
    ok = stand.api.post("/max/webhook", content=json.dumps(update),
                        headers={HEADER: SECRET, "Content-Type": "application/json"})
    assert ok.status_code == 200 and ok.json()["duplicate"] is False
    assert stand.count(MaxUpdateRow) == 1


def test_the_secret_is_still_checked_first(webhook_stand: BotStand) -> None:
    r = webhook_stand.api.post("/max/webhook", content=DEEP,
                               headers={HEADER: "wrong-secret-0123456789"})
    assert r.status_code == 401
