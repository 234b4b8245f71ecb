"""JSON nested 100 000 deep to the emulated signing platform and to its side door: a 400
``validation.failed`` in the platform's style, not a 500, and no transaction or person made."""

from __future__ import annotations

import pytest

from tests.integration.goskey.helpers import TOKEN, Stand

pytestmark = pytest.mark.anyio
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}


async def test_deep_json_to_the_platform_is_a_400_and_starts_nothing(stand: Stand) -> None:
    r = await stand.control.post("/gov/pep/v1/sign/send", content=DEEP,
                                 headers={**JSON, "Authorization": TOKEN})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "validation.failed"
    assert "deeper than 64" in r.json()["message"]
    assert stand.app.state.emulator.store.transactions == {}


async def test_deep_json_to_the_side_door_is_a_400_and_registers_nobody(stand: Stand) -> None:
    before = (await stand.control.get("/_emulator/people")).json()
    for path in ("/_emulator/people", "/_emulator/answer-as", "/_emulator/faults"):
        r = await stand.control.post(path, content=DEEP, headers=JSON)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "validation.failed"
    assert (await stand.control.get("/_emulator/people")).json() == before
