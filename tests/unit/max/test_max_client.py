"""The MAX client against ``httpx.MockTransport``: each method's wire shape and the error tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from medsign.integrations.max import (
    KEEP,
    BotStarted,
    CallbackButton,
    Keyboard,
    LinkButton,
    MaxClient,
    MaxRejected,
    MaxTransient,
    RequestContactButton,
    verify_webhook_secret,
)

BASE = "https://platform-api2.test"
TOKEN = "raw-bot-token"
Handler = Callable[[httpx.Request], httpx.Response]
pytestmark = pytest.mark.anyio
MESSAGE = {"message": {"sender": {"user_id": 1, "is_bot": True},
                       "recipient": {"chat_id": 555001, "chat_type": "dialog",
                                     "user_id": 700001},
                       "timestamp": 1775026671403,
                       "body": {"mid": "mid.000000000adf429c019d47d58f2b3d9e",
                                "seq": 116328147937082782, "text": "hello"}}}
KEYBOARD: Keyboard = [
    [CallbackButton("Подписать онлайн", "sign:1"), CallbackButton("В клинике", "paper:1")],
    [LinkButton("Госключ", "https://max.ru/gosbot")],
    [RequestContactButton("Поделиться номером")]]
KEYBOARD_JSON = {"type": "inline_keyboard", "payload": {"buttons": [
    [{"type": "callback", "text": "Подписать онлайн", "payload": "sign:1"},
     {"type": "callback", "text": "В клинике", "payload": "paper:1"}],
    [{"type": "link", "text": "Госключ", "url": "https://max.ru/gosbot"}],
    [{"type": "request_contact", "text": "Поделиться номером"}]]}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    def __init__(self, status: int = 200, body: Any = None, **headers: str) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.headers = status, body, headers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body, headers=self.headers)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


def make_client(handler: Handler, calls: list[tuple[str, str]] | None = None) -> MaxClient:
    def hook(method: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        if calls is not None:
            calls.append((method, outcome))
    return MaxClient(BASE + "/", TOKEN, transport=httpx.MockTransport(handler), on_call=hook)


async def test_the_token_goes_raw_into_authorization_and_never_into_the_query() -> None:
    recorder = Recorder(body={"user_id": 42, "first_name": "Бот", "username": "demo_bot",
                              "is_bot": True, "name": "Бот"})
    async with make_client(recorder) as client:
        bot = await client.me()
    assert recorder.last.headers["Authorization"] == TOKEN
    assert "access_token" not in str(recorder.last.url)
    assert str(recorder.last.url) == f"{BASE}/me"
    assert (bot.user_id, bot.username, bot.name) == (42, "demo_bot", "Бот")


async def test_send_message_to_a_user_posts_text_keyboard_and_notify() -> None:
    recorder = Recorder(body=MESSAGE)
    async with make_client(recorder) as client:
        sent = await client.send_message(user_id=700001, text="Завтра приём", keyboard=KEYBOARD,
                                         format="markdown", notify=False)
    request = recorder.last
    assert (request.method, request.url.path) == ("POST", "/messages")
    assert dict(request.url.params) == {"user_id": "700001"}
    assert recorder.last_json() == {"text": "Завтра приём", "notify": False,
                                    "attachments": [KEYBOARD_JSON], "format": "markdown"}
    assert sent.mid == "mid.000000000adf429c019d47d58f2b3d9e"
    assert (sent.chat_id, sent.user_id, sent.timestamp) == (555001, 700001, 1775026671403)


async def test_send_message_to_a_chat_without_keyboard_sends_empty_attachments() -> None:
    recorder = Recorder(body=MESSAGE)
    async with make_client(recorder) as client:
        await client.send_message(chat_id=555001, text="Готово")
    assert dict(recorder.last.url.params) == {"chat_id": "555001"}
    assert recorder.last_json() == {"text": "Готово", "notify": True, "attachments": []}


@pytest.mark.parametrize(("user_id", "chat_id"), [(None, None), (1, 2)])
async def test_send_message_needs_exactly_one_recipient(user_id: int | None,
                                                       chat_id: int | None) -> None:
    async with make_client(Recorder(body=MESSAGE)) as client:
        with pytest.raises(ValueError):
            await client.send_message(text="x", user_id=user_id, chat_id=chat_id)


async def test_a_send_answer_without_body_mid_is_malformed() -> None:
    recorder = Recorder(body={"message": {"body": {"seq": 1}}})
    async with make_client(recorder) as client:
        with pytest.raises(MaxRejected) as caught:
            await client.send_message(user_id=1, text="x")
    assert caught.value.code == "malformed_response"


@pytest.mark.parametrize(("keyboard", "expected"), [
    (KEEP, {"text": "Новый текст"}),
    (None, {"text": "Новый текст", "attachments": []}),
    (KEYBOARD, {"text": "Новый текст", "attachments": [KEYBOARD_JSON]}),
])
async def test_edit_message_keeps_clears_or_replaces_the_keyboard(
        keyboard: Any, expected: dict[str, Any]) -> None:
    recorder = Recorder(body={"success": True})
    async with make_client(recorder) as client:
        await client.edit_message("mid.abc", text="Новый текст", keyboard=keyboard)
    assert (recorder.last.method, recorder.last.url.path) == ("PUT", "/messages")
    assert dict(recorder.last.url.params) == {"message_id": "mid.abc"}
    assert recorder.last_json() == expected


async def test_edit_message_without_text_leaves_text_out() -> None:
    recorder = Recorder(body={"success": True})
    async with make_client(recorder) as client:
        await client.edit_message("mid.abc", text=None, keyboard=None)
    assert recorder.last_json() == {"attachments": []}


async def test_delete_and_get_message_address_the_mid() -> None:
    recorder = Recorder(body={"success": True})
    async with make_client(recorder) as client:
        await client.delete_message("mid.abc")
        assert (recorder.last.method, dict(recorder.last.url.params)) == (
            "DELETE", {"message_id": "mid.abc"})
        recorder.body = MESSAGE["message"]
        found = await client.get_message("mid.a/b")
    assert recorder.last.url.raw_path == b"/messages/mid.a%2Fb"
    assert found["body"]["mid"] == "mid.000000000adf429c019d47d58f2b3d9e"


async def test_answer_callback_with_a_toast_only() -> None:
    recorder = Recorder(body={"success": True})
    async with make_client(recorder) as client:
        await client.answer_callback("cb-1", notification="Принято")
    assert (recorder.last.method, recorder.last.url.path) == ("POST", "/answers")
    assert dict(recorder.last.url.params) == {"callback_id": "cb-1"}
    assert recorder.last_json() == {"notification": "Принято"}


async def test_answer_callback_replacing_the_message_and_clearing_its_keyboard() -> None:
    recorder = Recorder(body={"success": True})
    async with make_client(recorder) as client:
        await client.answer_callback("cb-1", text="Спасибо", keyboard=None)
        assert recorder.last_json() == {"message": {"text": "Спасибо", "attachments": []}}
        with pytest.raises(ValueError):
            await client.answer_callback("cb-1")


async def test_get_updates_query_and_a_read_timeout_longer_than_the_poll() -> None:
    recorder = Recorder(body={"updates": [
        {"update_type": "bot_started", "timestamp": 5, "chat_id": 9, "payload": "tok",
         "user": {"user_id": 7, "first_name": "Иван", "last_name": "П"}},
        {"update_type": "dialog_muted", "timestamp": 6}], "marker": 101})
    async with make_client(recorder) as client:
        batch = await client.get_updates(marker=100, timeout=45, limit=10,
                                         types=["bot_started", "message_callback"])
    params = dict(recorder.last.url.params)
    assert params == {"timeout": "45", "limit": "10", "marker": "100",
                      "types": "bot_started,message_callback"}
    assert recorder.last.extensions["timeout"]["read"] > 45
    assert batch.marker == 101
    assert batch.updates[0] == BotStarted(user_id=7, chat_id=9, payload="tok", user_name="Иван П",
                                          timestamp=5, raw={})
    assert batch.updates[1].update_type == "dialog_muted"


async def test_get_updates_without_marker_leaves_it_out_and_keeps_an_empty_batch_marker() -> None:
    recorder = Recorder(body={"updates": [], "marker": 77})
    async with make_client(recorder) as client:
        batch = await client.get_updates(marker=None, timeout=0)
    assert "marker" not in recorder.last.url.params
    assert (batch.updates, batch.marker) == ([], 77)


async def test_subscription_methods() -> None:
    recorder = Recorder(body={"subscriptions": [{"url": "https://bot.test/hook", "time": 1,
                                                 "update_types": None}]})
    async with make_client(recorder) as client:
        found = await client.subscriptions()
        assert found[0]["url"] == "https://bot.test/hook"
        recorder.body = {"success": True}
        await client.subscribe("https://bot.test/hook", secret="s3cret-value",
                               update_types=["message_callback"])
        assert (recorder.last.method, recorder.last.url.path) == ("POST", "/subscriptions")
        assert recorder.last_json() == {"url": "https://bot.test/hook", "secret": "s3cret-value",
                                        "update_types": ["message_callback"]}
        await client.subscribe("https://bot.test/hook", secret=None)
        assert recorder.last_json() == {"url": "https://bot.test/hook"}
        await client.unsubscribe("https://bot.test/hook")
    assert (recorder.last.method, dict(recorder.last.url.params)) == (
        "DELETE", {"url": "https://bot.test/hook"})


@pytest.mark.parametrize(("status", "code", "denied"), [
    (401, "verify.token", False), (403, "deprecated.token", False),
    (403, "chat.denied", True), (400, "proto.payload", False), (404, "not.found", False),
    (405, "method.not.allowed", False)])
async def test_client_errors_are_rejections_with_the_server_code(
        status: int, code: str, denied: bool) -> None:
    recorder = Recorder(status, {"code": code, "message": "Key: error.dialog.suspended"})
    calls: list[tuple[str, str]] = []
    async with make_client(recorder, calls) as client:
        with pytest.raises(MaxRejected) as caught:
            await client.send_message(user_id=1, text="x")
    error = caught.value
    assert (error.status, error.code, error.chat_denied) == (status, code, denied)
    assert error.message == "Key: error.dialog.suspended"
    assert calls == [("send_message", "rejected")]


async def test_429_is_transient_with_retry_after_seconds() -> None:
    recorder = Recorder(429, {"code": "too.many.requests", "message": "slow down"},
                        **{"Retry-After": "3"})
    calls: list[tuple[str, str]] = []
    async with make_client(recorder, calls) as client:
        with pytest.raises(MaxTransient) as caught:
            await client.me()
    assert (caught.value.status, caught.value.retry_after) == (429, 3.0)
    assert calls == [("me", "transient")]


async def test_429_retry_after_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    recorder = Recorder(429, None, **{"Retry-After": later})
    async with make_client(recorder) as client:
        with pytest.raises(MaxTransient) as caught:
            await client.me()
    assert caught.value.retry_after is not None and 20 < caught.value.retry_after <= 30


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient(status: int) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>bad gateway</html>")
    async with make_client(handler) as client:
        with pytest.raises(MaxTransient) as caught:
            await client.delete_message("mid.x")
    assert caught.value.status == status and caught.value.retry_after is None


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"),
                                     httpx.RemoteProtocolError("dropped")])
async def test_transport_failures_are_transient(failure: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure
    async with make_client(handler) as client:
        with pytest.raises(MaxTransient) as caught:
            await client.get_updates(marker=None)
    assert caught.value.status is None


async def test_success_false_in_a_200_is_a_rejection() -> None:
    recorder = Recorder(body={"success": False, "message": "not edited"})
    async with make_client(recorder) as client:
        with pytest.raises(MaxRejected) as caught:
            await client.edit_message("mid.x", text="y")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        200, "request.failed", "not edited")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
async def test_an_unreadable_200_is_malformed(body: bytes) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)
    async with make_client(handler) as client:
        with pytest.raises(MaxRejected) as caught:
            await client.me()
    assert caught.value.code == "malformed_response"


def test_webhook_secret_comparison() -> None:
    assert verify_webhook_secret("s3cret-value", "s3cret-value")
    assert not verify_webhook_secret("s3cret-value", "s3cret-valuX")
    assert not verify_webhook_secret("s3cret-value", None)
    assert not verify_webhook_secret("s3cret-value", "")
    assert not verify_webhook_secret("", "")
