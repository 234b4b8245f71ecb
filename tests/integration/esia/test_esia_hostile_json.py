"""JSON nested 100 000 deep to the ESIA emulator's side door: a 400 in OAuth's error style,
not a 500, and no person added. The service's own reading of ESIA's tokens refuses a payload
nested that deep as a malformed answer."""

from __future__ import annotations

import pytest

from medsign.integrations.esia.schemas import MalformedAnswer, b64url_encode, jwt_claims
from tests.integration.esia.helpers import Stand

pytestmark = pytest.mark.anyio
DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_deep_json_to_the_side_door_is_a_400_and_adds_nobody(stand: Stand) -> None:
    before = (await stand.control("/persons"))["persons"]
    r = await stand.browser.post("/_emulator/persons", content=DEEP,
                                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert "deeper than 64" in r.json()["error_description"]
    assert (await stand.control("/persons"))["persons"] == before


async def test_a_token_with_a_deep_payload_is_a_malformed_answer() -> None:
    token = "e30." + b64url_encode(b'{"a":' * 50_000 + b"1" + b"}" * 50_000) + ".c2ln"
    with pytest.raises(MalformedAnswer):
        jwt_claims(token)
