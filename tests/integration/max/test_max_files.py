"""Files through the upload API: the real client against the emulator (in-process)."""

from __future__ import annotations

import httpx
import pytest

from medsign.integrations.max import MaxClient
from medsign.integrations.max.client import MaxRejected, MaxTransient
from medsign.integrations.max.emulator import EmulatorConfig, create_emulator
from tests.integration.max.conftest import TOKEN, Stand
from tests.integration.max.test_max_socket import served

pytestmark = pytest.mark.anyio
PDF = b"%PDF-1.7\n" + b"x" * 2000 + b"\n%%EOF\n"


async def test_an_uploaded_file_reaches_the_chat_and_can_be_downloaded(
        make_stand: object) -> None:
    stand: Stand = await make_stand(upload_not_ready_s=None)  # type: ignore[operator]
    user = await stand.user()
    token = await stand.client.upload_file(PDF, "Согласие на обработку.pdf")
    sent = await stand.client.send_file(user_id=user["user_id"], text="Ваша копия",
                                        token=token)
    message = await stand.client.get_message(sent.mid)
    [attachment] = message["body"]["attachments"]
    assert attachment["type"] == "file"
    assert attachment["filename"] == "Согласие на обработку.pdf"
    assert attachment["size"] == len(PDF)
    [item] = [i for i in await stand.chat(user["user_id"]) if i.get("text") == "Ваша копия"]
    assert item["files"] == [{"filename": "Согласие на обработку.pdf", "size": len(PDF),
                              "url": attachment["payload"]["url"]}]
    download = await stand.http.get(attachment["payload"]["url"])
    assert download.status_code == 200 and download.content == PDF
    stats = await stand.stats()
    assert (stats["upload_urls"], stats["files_uploaded"]) == (1, 1)


async def test_a_file_still_processed_is_sent_after_a_pause(make_stand: object) -> None:
    stand: Stand = await make_stand(upload_not_ready_s=0.3)  # type: ignore[operator]
    user = await stand.user()
    token = await stand.client.upload_file(PDF, "a.pdf")
    sent = await stand.client.send_file(user_id=user["user_id"], text="копия", token=token,
                                        ready_pauses=(0.2, 0.2, 0.2))
    assert sent.mid
    assert (await stand.stats())["attachments_not_ready"] >= 1


async def test_a_file_not_ready_for_long_is_a_transient_error(make_stand: object) -> None:
    stand: Stand = await make_stand(upload_not_ready_s=60)  # type: ignore[operator]
    user = await stand.user()
    token = await stand.client.upload_file(PDF, "a.pdf")
    with pytest.raises(MaxTransient, match="attachment.not.ready"):
        await stand.client.send_file(user_id=user["user_id"], text="копия", token=token,
                                     ready_pauses=(0.01,))
    assert (await stand.stats())["attachments_not_ready"] == 2
    assert (await stand.stats())["messages_sent"] == 0


async def test_a_too_big_file_is_refused_by_the_platform_and_by_the_client(
        make_stand: object) -> None:
    stand: Stand = await make_stand(upload_max_bytes=1000)  # type: ignore[operator]
    with pytest.raises(MaxRejected) as refused:
        await stand.client.upload_file(PDF, "big.pdf")
    assert refused.value.code == "proto.payload" and "limit of 1000" in refused.value.message
    assert (await stand.stats())["files_uploaded"] == 0
    calls = dict((await stand.stats())["requests"])
    with pytest.raises(MaxRejected) as local:
        await stand.client.upload_file(PDF, "big.pdf", max_bytes=100)
    assert local.value.code == "file.too.big"
    assert dict((await stand.stats())["requests"]) == calls  # refused before any call


async def test_an_unknown_token_is_refused(stand: Stand) -> None:
    user = await stand.user()
    with pytest.raises(MaxRejected) as refused:
        await stand.client.send_file(user_id=user["user_id"], text="копия", token="f_nope")
    assert refused.value.code == "proto.payload"
    assert "payload.token" in refused.value.message


async def test_upload_types_and_urls_follow_the_platform(stand: Stand) -> None:
    for kind in ("photo", "pdf"):
        answer = await stand.raw("POST", f"/uploads?type={kind}")
        assert answer.status_code == 400 and answer.json()["code"] == "proto.payload"
    assert (await stand.raw("POST", "/uploads?type=file", token="wrong")).status_code == 401
    video = (await stand.raw("POST", "/uploads?type=video")).json()
    assert video["token"] and video["url"]
    url = (await stand.raw("POST", "/uploads?type=file")).json()["url"]
    first = await stand.http.post(url, files={"data": ("a.pdf", PDF)})
    assert first.status_code == 200 and first.json()["token"]
    again = await stand.http.post(url, files={"data": ("a.pdf", PDF)})
    assert again.status_code == 400 and "already used" in again.json()["message"]
    fresh = (await stand.raw("POST", "/uploads?type=file")).json()["url"]
    no_file = await stand.http.post(fresh, data={"other": "x"})
    assert no_file.status_code == 400 and no_file.json()["code"] == "proto.payload"
    empty = await stand.http.post(fresh, files={"data": ("a.pdf", b"")})
    assert empty.status_code == 400
    assert (await stand.http.get("/_emulator/files/f_nope")).status_code == 404


async def test_a_file_must_be_the_only_attachment(stand: Stand) -> None:
    user = await stand.user()
    token = await stand.client.upload_file(PDF, "a.pdf")
    answer = await stand.raw("POST", f"/messages?user_id={user['user_id']}", json={
        "text": "x", "attachments": [{"type": "file", "payload": {"token": token}},
                                     {"type": "file", "payload": {"token": token}}]})
    assert answer.status_code == 400 and "only one" in answer.json()["message"]


async def test_the_upload_knobs_change_at_run_time(stand: Stand) -> None:
    await stand.control("POST", "/config", {"upload_not_ready_s": None,
                                            "upload_max_bytes": 5000})
    config = await stand.control("GET", "/config")
    assert (config["upload_not_ready_s"], config["upload_max_bytes"]) == (None, 5000)
    for bad in ({"upload_max_bytes": None}, {"upload_max_bytes": 0},
                {"upload_not_ready_s": -1}):
        await stand.control("POST", "/config", bad, expect=400)
    user = await stand.user()
    token = await stand.client.upload_file(PDF, "a.pdf")  # ready at once now
    assert (await stand.client.send_file(user_id=user["user_id"], text="копия",
                                         token=token, ready_pauses=())).mid


async def test_the_upload_flow_over_a_real_socket() -> None:
    """Under uvicorn on 127.0.0.1: the upload URL the emulator hands out is a real address."""
    app = create_emulator(EmulatorConfig(token=TOKEN, upload_not_ready_s=0.2,
                                         upload_max_bytes=5000))
    with served(app) as base:
        client = MaxClient(base, TOKEN)
        async with httpx.AsyncClient(base_url=base) as http:
            user = (await http.post("/_emulator/users", json={"name": "Иван Петров"})).json()
            await http.post(f"/_emulator/users/{user['user_id']}/start", json={"payload": None})
            token = await client.upload_file(PDF, "Согласие.pdf")
            sent = await client.send_file(user_id=user["user_id"], text="копия", token=token,
                                          ready_pauses=(0.2, 0.2, 0.2))
            [file] = (await client.get_message(sent.mid))["body"]["attachments"]
            assert file["payload"]["url"].startswith(base)
            assert (await http.get(file["payload"]["url"])).content == PDF
            with pytest.raises(MaxRejected) as big:
                await client.upload_file(PDF * 3, "big.pdf")
            assert big.value.code == "proto.payload"
            stats = (await http.get("/_emulator/stats")).json()
            assert stats["files_uploaded"] == 1 and stats["attachments_not_ready"] >= 1
        await client.aclose()
