"""JSON nested 100 000 deep to the emulated Bot API and to its side door: a 400 in MAX's own
error style (``proto.payload`` / ``bad.request``), not a 500, and nothing sent or created."""

from __future__ import annotations

import pytest

from tests.integration.max.conftest import Stand

pytestmark = pytest.mark.anyio
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}


async def test_deep_json_to_the_bot_api_is_a_400_and_sends_nothing(stand: Stand) -> None:
    user = await stand.user()
    before = len(await stand.chat(user["user_id"]))
    for path, params in (("/messages", {"user_id": user["user_id"]}), ("/subscriptions", {})):
        r = await stand.raw("POST", path, params=params, content=DEEP, headers=JSON)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "proto.payload"
        assert "deeper than 64" in r.json()["message"]
    assert len(await stand.chat(user["user_id"])) == before
    assert stand.emulator.store.subscription is None


async def test_deep_json_to_the_side_door_is_a_400_and_creates_no_user(stand: Stand) -> None:
    before = len(stand.emulator.store.users)
    for path in ("/_emulator/users", "/_emulator/config"):
        r = await stand.http.post(path, content=DEEP, headers=JSON)
        assert r.status_code == 400, r.text
        assert r.json() == {"code": "bad.request",
                            "message": "body: JSON nested deeper than 64 levels"}
    assert len(stand.emulator.store.users) == before
