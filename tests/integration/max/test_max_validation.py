"""Every documented limit answers ``400 proto.payload`` with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.max.conftest import Stand

pytestmark = pytest.mark.anyio


def callback(n: int = 0, **fields: Any) -> dict[str, Any]:
    return {"type": "callback", "text": f"Кнопка {n}", "payload": f"p{n}", **fields}


def link(**fields: Any) -> dict[str, Any]:
    return {"type": "link", "text": "Сайт", "url": "https://example.com", **fields}


def with_rows(*rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": "Выберите",
            "attachments": [{"type": "inline_keyboard", "payload": {"buttons": list(rows)}}]}


def grid(rows: int, per_row: int) -> dict[str, Any]:
    return with_rows(*[[callback(r * 10 + c) for c in range(per_row)] for r in range(rows)])


BUTTONS = "attachments[0].payload.buttons"
SEND_CASES = [
    ({"text": "я" * 4001}, "text:"),
    (grid(31, 1), f"{BUTTONS}: at most 30 rows"),
    (grid(1, 8), f"{BUTTONS}[0]: at most 7 buttons in a row"),
    (with_rows([link(), callback(1), callback(2), callback(3)]),
     f"{BUTTONS}[0]: at most 3 buttons in a row"),
    (with_rows([{"type": "request_contact", "text": "Номер"}, *[callback(n) for n in range(3)]]),
     f"{BUTTONS}[0]: at most 3 buttons in a row"),
    (with_rows([callback(text="")]), f"{BUTTONS}[0][0].text:"),
    (with_rows([callback(text="ы" * 129)]), f"{BUTTONS}[0][0].text:"),
    (with_rows([callback(payload="p" * 1025)]), f"{BUTTONS}[0][0].payload:"),
    (with_rows([link(url="https://example.com/" + "a" * 2030)]), f"{BUTTONS}[0][0].url:"),
    ({"attachments": [{"type": "contact", "payload": {"name": "Иван"}},
                      {"type": "inline_keyboard", "payload": {"buttons": [[callback()]]}}]},
     "attachments[0]: a contact attachment must be the only one"),
    ({"text": "x", "format": "bbcode"}, "format:"),
    ({"text": "x", "attachments": [{"type": "gif"}]}, "attachments[0].type:"),
]


@pytest.mark.parametrize(("body", "start"), SEND_CASES)
async def test_send_limits(stand: Stand, body: dict[str, Any], start: str) -> None:
    user = await stand.user()
    response = await stand.raw("POST", "/messages", params={"user_id": user["user_id"]},
                               json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "proto.payload" and error["message"].startswith(start), error


@pytest.mark.parametrize("body", [
    {"text": "я" * 4000}, grid(30, 7), with_rows([link(), callback(1), callback(2)]),
    with_rows([callback(text="ы" * 128, payload="p" * 1024)]),
    with_rows([link(url="https://example.com/" + "a" * 2028)])])
async def test_the_limits_themselves_are_allowed(stand: Stand, body: dict[str, Any]) -> None:
    user = await stand.user()
    response = await stand.raw("POST", "/messages", params={"user_id": user["user_id"]},
                               json=body)
    assert response.status_code == 200, response.text


async def test_the_same_checks_apply_to_edits_and_answers(stand: Stand) -> None:
    user = await stand.user()
    sent = await stand.client.send_message(user_id=user["user_id"], text="x")
    response = await stand.raw("PUT", "/messages", params={"message_id": sent.mid},
                               json=grid(1, 8))
    assert response.json()["message"].startswith(f"{BUTTONS}[0]: at most 7")
    response = await stand.raw("POST", "/answers", params={"callback_id": "x"},
                               json={"message": {"text": "я" * 4001}})
    assert response.json()["code"] == "proto.payload"


@pytest.mark.parametrize(("body", "start"), [
    ({"url": "https://bot.test/hook", "secret": "abcd"}, "secret:"),
    ({"url": "https://bot.test/hook", "secret": "a" * 257}, "secret:"),
    ({"url": "https://bot.test/hook", "secret": "with space"}, "secret:"),
    ({"url": "http://bot.test/hook"}, "url: must be an https:// URL"),
    ({"url": "https://bot.test:8443/hook"}, "url: only port 443"),
    ({"secret": "abcdef"}, "url: is required"),
])
async def test_subscription_limits(stand: Stand, body: dict[str, Any], start: str) -> None:
    response = await stand.raw("POST", "/subscriptions", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "proto.payload"
    assert response.json()["message"].startswith(start)


@pytest.mark.parametrize(("path", "params", "start"), [
    ("/updates", {"limit": "0"}, "limit:"), ("/updates", {"limit": "1001"}, "limit:"),
    ("/updates", {"timeout": "-1"}, "timeout:"), ("/updates", {"timeout": "91"}, "timeout:"),
    ("/updates", {"marker": "soon"}, "marker:"),
    ("/messages", {"chat_id": "1", "count": "0"}, "count:"),
    ("/messages", {"chat_id": "1", "count": "101"}, "count:"),
    ("/messages", {}, "chat_id:"),
])
async def test_query_ranges(stand: Stand, path: str, params: dict[str, str], start: str) -> None:
    response = await stand.raw("GET", path, params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "proto.payload"
    assert response.json()["message"].startswith(start)


async def test_a_body_that_is_not_json(stand: Stand) -> None:
    user = await stand.user()
    response = await stand.raw("POST", "/messages", params={"user_id": user["user_id"]},
                               content=b"{text:", headers={"Content-Type": "application/json"})
    assert response.json() == {"code": "proto.payload", "message": "body: not valid JSON"}


async def test_unknown_paths_and_methods(stand: Stand) -> None:
    assert (await stand.raw("GET", "/nowhere")).status_code == 404
    assert (await stand.raw("PATCH", "/messages")).status_code == 405
