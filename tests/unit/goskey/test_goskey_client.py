"""The Goskey client against ``httpx.MockTransport``: wire shapes and the error tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from medsign.integrations.goskey import (
    ArchiveTooLarge,
    DocumentSpec,
    Executor,
    GoskeyClient,
    GoskeyRejected,
    GoskeyTransient,
    SendRequest,
)

BASE = "https://platform.test/gov/pep"
Handler = Callable[[httpx.Request], httpx.Response]
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_client(handler: Handler, calls: list[tuple[str, str]] | None = None) -> GoskeyClient:
    def hook(method: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        if calls is not None:
            calls.append((method, outcome))
    return GoskeyClient(BASE, "raw-token", transport=httpx.MockTransport(handler), on_call=hook)


def send_request(documents: int = 1) -> SendRequest:
    docs = [DocumentSpec(template_id=f"tpl-{n}", title=f"Документ {n}") for n in range(documents)]
    return SendRequest(phone="+79990000000", department_id="dep-1", deal_type_ids=["deal-1"],
                       documents=docs, service_names=["Приём врача-терапевта", "ЭКГ"],
                       executor=Executor(name="ГБУЗ Поликлиника", address="Москва, ул. Мира, 1",
                                         ogrn="1027700132195", inn="7707083893",
                                         kpp="773601001"))


def answer(status: int, body: Any = None, **headers: str) -> Handler:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)
    return handler


async def test_send_posts_the_spec_body_with_raw_token_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"transactionId": "tx-1", "extra": 1})

    async with make_client(handler) as client:
        assert await client.send(send_request(2), idempotency_key="key-1") == "tx-1"
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/v1/sign/send")
    assert request.headers["Authorization"] == "raw-token"
    assert request.headers["Idempotency-Key"] == "key-1"
    body = json.loads(request.content)
    assert body["phoneNumber"] == "+79990000000" and body["dealTypes"] == ["deal-1"]
    assert [t["templateId"] for t in body["dealTemplates"]] == ["tpl-0", "tpl-1"]


def test_send_body_has_one_deal_template_per_document_with_variables() -> None:
    entry = send_request().to_json()["dealTemplates"][0]
    assert entry == {"templateId": "tpl-0", "data": {
        "type": "med_permission",
        "templates": [{"templateId": "tpl-0", "title": "Документ 0"}],
        "medicalData": {"serviceInfo": [{"nameService": "Приём врача-терапевта"},
                                        {"nameService": "ЭКГ"}]},
        "businessData": {"nameExecutor": "ГБУЗ Поликлиника",
                         "regAdrExecutor": "Москва, ул. Мира, 1", "ogrnExecutor": "1027700132195",
                         "innExecutor": "7707083893", "kppExecutor": "773601001"},
        "variables": ["signerLastName", "signerFirstName", "signerMiddleName",
                      "signerBirthDate", "signerPLV"]}}


async def test_status_reads_steps_and_tolerates_unknown_values() -> None:
    body = {"status": "active", "novel": True, "steps": [
        {"type": "med_permission", "status": "something_new"},
        {"type": "med_permission", "status": "wip_partner",
         "data": {"idZip": "zip-1", "idSig": "sig-1", "more": "x"}}, "junk"]}
    async with make_client(answer(200, body)) as client:
        status = await client.status("tx-1")
    assert status.status == "active" and not status.is_final
    assert status.steps[0].status == "something_new" and status.steps[0].id_zip is None
    assert status.steps[1].data["more"] == "x"
    assert status.patient_signed_zip == "zip-1"
    assert status.steps[2].status == "" and status.raw == body


@pytest.mark.parametrize("final", ["finished", "cancelled", "error"])
async def test_final_statuses(final: str) -> None:
    async with make_client(answer(200, {"status": final, "reason": "refused"})) as client:
        status = await client.status("tx-1")
    assert status.is_final and status.reason == "refused" and status.steps == []


async def test_ids_are_one_path_segment() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"status": "active"})

    async with make_client(handler) as client:
        await client.status("../x y")
    assert seen == ["/gov/pep/v1/sign/status/..%2Fx%20y"]


@pytest.mark.parametrize(("status", "body", "code"), [
    (400, {"code": "validation.failed", "message": "bad phone"}, "validation.failed"),
    (401, {"code": "verify.token", "message": "bad token"}, "verify.token"),
    (404, {"code": "transaction.not.found", "message": "no such"}, "transaction.not.found"),
    (409, {"code": "invalid.state", "message": "too early"}, "invalid.state"),
    (418, None, "http_418"),
    (403, ["not", "an", "object"], "http_403"),
])
async def test_client_errors_are_rejections_with_the_server_code(
        status: int, body: Any, code: str) -> None:
    calls: list[tuple[str, str]] = []
    async with make_client(answer(status, body), calls) as client:
        with pytest.raises(GoskeyRejected) as caught:
            await client.status("tx-1")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert not isinstance(caught.value, GoskeyTransient)
    assert calls == [("status", "rejected")]


async def test_a_rejection_keeps_the_server_message() -> None:
    body = {"code": "invalid.state", "message": "upload before the patient signed"}
    async with make_client(answer(409, body)) as client:
        with pytest.raises(GoskeyRejected) as caught:
            await client.upload("tx-1", b"sig", filename="a.p7s", mime_type="application/pkcs7",
                                idempotency_key="up-1")
    assert caught.value.message == "upload before the patient signed"


async def test_plain_text_error_body_becomes_http_code() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="nope")
    async with make_client(handler) as client:
        with pytest.raises(GoskeyRejected) as caught:
            await client.status("tx-1")
    assert (caught.value.code, caught.value.message) == ("http_400", "nope")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_transient(status: int) -> None:
    calls: list[tuple[str, str]] = []
    async with make_client(answer(status, {"code": "internal", "message": "x"}), calls) as c:
        with pytest.raises(GoskeyTransient) as caught:
            await c.send(send_request(), idempotency_key="k")
    assert caught.value.status == status and caught.value.retry_after is None
    assert calls == [("send", "transient")]


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0.5", 0.5), ("", None),
                                                  ("garbage", None)])
async def test_429_is_transient_with_retry_after(header: str, expected: float | None) -> None:
    handler = answer(429, {"code": "too.many.requests", "message": "slow down"},
                     **({"Retry-After": header} if header else {}))
    async with make_client(handler) as client:
        with pytest.raises(GoskeyTransient) as caught:
            await client.status("tx-1")
    assert caught.value.status == 429 and caught.value.retry_after == expected


async def test_429_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    async with make_client(answer(429, None, **{"Retry-After": when})) as client:
        with pytest.raises(GoskeyTransient) as caught:
            await client.status("tx-1")
    assert caught.value.retry_after is not None and 50 < caught.value.retry_after <= 60


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                   httpx.RemoteProtocolError("dropped")])
async def test_transport_failures_are_transient(error: httpx.TransportError) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        raise error
    async with make_client(handler) as client:
        with pytest.raises(GoskeyTransient):
            await client.complete("tx-1", phone="+79990000000", template_id="t",
                                  idempotency_key="done-3")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"transactionId": 5}', b"{}"])
async def test_malformed_2xx_is_a_rejection(content: bytes) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content)
    async with make_client(handler) as client:
        with pytest.raises(GoskeyRejected) as caught:
            await client.send(send_request(), idempotency_key="k")
    assert (caught.value.status, caught.value.code) == (200, "malformed_response")


async def test_status_without_a_status_string_is_malformed() -> None:
    async with make_client(answer(200, {"steps": []})) as client:
        with pytest.raises(GoskeyRejected) as caught:
            await client.status("tx-1")
    assert caught.value.code == "malformed_response"


async def test_upload_is_multipart_with_file_and_mime_type() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"fileId": "f-9"})

    async with make_client(handler) as client:
        file_id = await client.upload("tx-1", b"\x30\x82DER", filename="mo.p7s",
                                      mime_type="application/pkcs7-signature",
                                      idempotency_key="up-2")
    assert file_id == "f-9"
    request = seen[0]
    assert request.url.path == "/gov/pep/v1/sign/upload/tx-1"
    assert request.headers["Idempotency-Key"] == "up-2"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    content = request.content
    assert b'name="file"; filename="mo.p7s"' in content and b"\x30\x82DER" in content
    assert b'name="mimeType"\r\n\r\napplication/pkcs7-signature' in content


async def test_complete_sends_phone_template_and_key_and_returns_file_id() -> None:
    seen: list[tuple[dict[str, Any], str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((json.loads(request.content), request.headers.get("Idempotency-Key")))
        return httpx.Response(200, json={"fileId": "final"})

    async with make_client(handler) as client:
        assert await client.complete("tx-1", phone="+79990000000", template_id="c",
                                     idempotency_key="done-4") == "final"
    assert seen == [({"phoneNumber": "+79990000000", "templateId": "c"}, "done-4")]


async def test_complete_without_a_file_id_returns_none() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200)
    async with make_client(handler) as client:
        assert await client.complete("tx-1", phone="+79990000000", template_id="c",
                                     idempotency_key="done-5") is None


async def test_download_streams_to_dest(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"PK" + b"x" * 5000)

    dest = tmp_path / "archive.zip"
    async with make_client(handler) as client:
        size = await client.download("tx-1", "zip-1", phone="+79990000000", dest=dest,
                                     max_bytes=10_000)
    assert size == 5002 and dest.read_bytes().startswith(b"PKxx")
    assert seen[0].url.path == "/gov/pep/v1/sign/download/tx-1/zip-1"
    assert json.loads(seen[0].content) == {"phoneNumber": "+79990000000", "notify": True}
    assert [p.name for p in tmp_path.iterdir()] == ["archive.zip"]


async def test_download_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"y" * 1000

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())  # no Content-Length: checked while reading

    async with make_client(handler) as client:
        with pytest.raises(ArchiveTooLarge) as caught:
            await client.download("tx-1", "zip-1", phone="+7", dest=tmp_path / "a.zip",
                                  max_bytes=2500)
    assert caught.value.code == "archive_too_large" and isinstance(caught.value, GoskeyRejected)
    assert list(tmp_path.iterdir()) == []


async def test_download_refused_by_declared_length(tmp_path: Path) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"z" * 3000)
    async with make_client(handler) as client:
        with pytest.raises(ArchiveTooLarge):
            await client.download("tx-1", "f", phone="+7", dest=tmp_path / "a", max_bytes=100)
    assert list(tmp_path.iterdir()) == []


async def test_download_errors_map_like_the_others(tmp_path: Path) -> None:
    body = {"code": "invalid.state", "message": "cancelled"}
    async with make_client(answer(409, body)) as client:
        with pytest.raises(GoskeyRejected) as caught:
            await client.download("tx-1", "f", phone="+7", dest=tmp_path / "a", max_bytes=100)
    assert caught.value.code == "invalid.state"
    async with make_client(answer(503, None)) as client:
        with pytest.raises(GoskeyTransient):
            await client.download("tx-1", "f", phone="+7", dest=tmp_path / "a", max_bytes=100)
    assert list(tmp_path.iterdir()) == []


async def test_a_connection_dropped_mid_download_is_transient(tmp_path: Path) -> None:
    async def chunks() -> Any:
        yield b"partial"
        raise httpx.ReadError("connection reset")

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    async with make_client(handler) as client:
        with pytest.raises(GoskeyTransient):
            await client.download("tx-1", "f", phone="+7", dest=tmp_path / "a", max_bytes=100)
    assert list(tmp_path.iterdir()) == []


def test_ca_bundle_is_loaded(tmp_path: Path) -> None:
    missing = tmp_path / "none.pem"
    with pytest.raises(FileNotFoundError):
        GoskeyClient(BASE, "t", ca_bundle=missing)
