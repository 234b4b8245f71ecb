"""The client's file calls against ``httpx.MockTransport``: the upload flow's wire shape, the
size limit, and the pauses while MAX still processes a file."""

from __future__ import annotations

import json

import httpx
import pytest

from medsign.integrations.max import MaxClient, MaxRejected, MaxTransient
from medsign.integrations.max.client import NOT_READY_RETRY_S

BASE = "https://platform-api2.test"
UPLOAD = "https://fu.upload.test/upload.do?id=42"
TOKEN = "raw-bot-token"
SENT = {"message": {"recipient": {"chat_id": 5, "user_id": 7}, "timestamp": 1,
                    "body": {"mid": "mid.1", "seq": 1, "text": "копия"}}}
NOT_READY = {"code": "attachment.not.ready",
             "message": "Key: errors.process.attachment.file.not.processed"}
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_upload_asks_for_a_url_then_posts_the_file_as_multipart() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/uploads":
            return httpx.Response(200, json={"url": UPLOAD})
        return httpx.Response(200, json={"token": "tok-1"})

    client = MaxClient(BASE, TOKEN, transport=httpx.MockTransport(answer))
    assert await client.upload_file(b"%PDF-1.7 body", "Согласие.pdf") == "tok-1"
    first, second = seen
    assert (first.method, str(first.url)) == ("POST", f"{BASE}/uploads?type=file")
    assert first.headers["Authorization"] == TOKEN
    assert str(second.url) == UPLOAD
    assert second.headers["Content-Type"].startswith("multipart/form-data")
    body = second.read()
    assert b'name="data"' in body and b"%PDF-1.7 body" in body


async def test_an_answer_without_a_url_or_token_is_malformed() -> None:
    client = MaxClient(BASE, TOKEN, transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={})))
    with pytest.raises(MaxRejected) as refused:
        await client.upload_file(b"x", "a.pdf")
    assert refused.value.code == "malformed_response"


async def test_too_big_or_empty_files_are_refused_before_any_call() -> None:
    calls: list[httpx.Request] = []
    client = MaxClient(BASE, TOKEN, transport=httpx.MockTransport(
        lambda r: calls.append(r) or httpx.Response(500)))
    with pytest.raises(MaxRejected) as big:
        await client.upload_file(b"x" * 11, "a.pdf", max_bytes=10)
    assert big.value.code == "file.too.big" and "a.pdf" in big.value.message
    with pytest.raises(MaxRejected) as empty:
        await client.upload_file(b"", "a.pdf")
    assert empty.value.code == "file.empty"
    assert calls == []


async def test_send_file_attaches_the_token_alone_and_waits_while_not_ready() -> None:
    bodies: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) < 3:
            return httpx.Response(400, json=NOT_READY)
        return httpx.Response(200, json=SENT)

    client = MaxClient(BASE, TOKEN, transport=httpx.MockTransport(answer))
    sent = await client.send_file(user_id=7, text="копия", token="tok-1",
                                  ready_pauses=(0.01, 0.01, 0.01))
    assert sent.mid == "mid.1" and len(bodies) == 3
    assert bodies[0]["attachments"] == [{"type": "file", "payload": {"token": "tok-1"}}]
    assert bodies[0]["text"] == "копия"


async def test_a_file_not_ready_after_the_pauses_is_transient_with_a_delay() -> None:
    client = MaxClient(BASE, TOKEN, transport=httpx.MockTransport(
        lambda r: httpx.Response(400, json=NOT_READY)))
    with pytest.raises(MaxTransient) as later:
        await client.send_file(user_id=7, text="копия", token="tok-1", ready_pauses=(0.01,))
    assert later.value.retry_after == NOT_READY_RETRY_S
    assert "attachment.not.ready" in later.value.message


async def test_other_refusals_of_a_file_are_not_retried() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"code": "proto.payload", "message": "bad token"})

    client = MaxClient(BASE, TOKEN, transport=httpx.MockTransport(answer))
    with pytest.raises(MaxRejected):
        await client.send_file(user_id=7, text="копия", token="tok-1", ready_pauses=(0.01,))
    assert len(calls) == 1
