"""Every platform error of spec §2.6 as the real client sees it, and idempotent send."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from medsign.integrations.goskey import GoskeyClient, GoskeyRejected
from tests.integration.goskey.helpers import BASE, PHONE, Stand, send_request

pytestmark = pytest.mark.anyio


async def expect(code: str, status: int, call: Awaitable[object]) -> GoskeyRejected:
    with pytest.raises(GoskeyRejected) as caught:
        await call
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


async def test_the_same_idempotency_key_gives_the_same_transaction(stand: Stand) -> None:
    first = await stand.client.send(send_request(), idempotency_key="row-42")
    again = await stand.client.send(send_request(), idempotency_key="row-42")
    other = await stand.client.send(send_request(), idempotency_key="row-43")
    assert first == again != other
    listing = (await stand.control.get("/_emulator/transactions")).json()
    assert len(listing["transactions"]) == 2
    assert listing["sends_per_key"] == {"row-42": 2, "row-43": 1}
    assert (await stand.view(first))["sends_for_key"] == 2


async def test_a_wrong_token_is_401_verify_token(stand: Stand) -> None:
    transport = httpx.ASGITransport(app=stand.app)
    async with GoskeyClient(f"{BASE}/gov/pep", "wrong", transport=transport) as client:
        await expect("verify.token", 401,
                     client.send(send_request(), idempotency_key="k"))
        await expect("verify.token", 401, client.status("anything"))


async def test_bearer_is_not_accepted(stand: Stand) -> None:
    response = await stand.control.get("/gov/pep/v1/sign/status/x",
                                       headers={"Authorization": "Bearer partner-token"})
    assert response.status_code == 401 and response.json()["code"] == "verify.token"


@pytest.mark.parametrize("phone", ["89990000000", "+7999000000", "+1 555 0100"])
async def test_a_bad_phone_is_400_validation_failed(stand: Stand, phone: str) -> None:
    error = await expect("validation.failed", 400,
                         stand.client.send(send_request(phone=phone), idempotency_key="k"))
    assert "phoneNumber" in error.message


async def test_no_documents_is_400_validation_failed(stand: Stand) -> None:
    request = replace(send_request(), documents=[])
    error = await expect("validation.failed", 400,
                         stand.client.send(request, idempotency_key="k"))
    assert "dealTemplates" in error.message


async def test_raw_bad_bodies_are_400_and_unknown_fields_are_fine(stand: Stand) -> None:
    headers = {"Authorization": "partner-token"}
    url = "/gov/pep/v1/sign/send"
    bad = await stand.control.post(url, content=b"{oops", headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "validation.failed"
    body = send_request().to_json()
    missing = await stand.control.post(url, json={k: v for k, v in body.items()
                                                  if k != "phoneNumber"}, headers=headers)
    assert missing.json() == {"code": "validation.failed", "message": "phoneNumber: required"}
    body["somethingNew"] = {"nested": [1]}
    assert (await stand.control.post(url, json=body, headers=headers)).status_code == 200


async def test_an_unknown_transaction_is_404(stand: Stand, tmp_path: Path) -> None:
    await expect("transaction.not.found", 404, stand.client.status("no-such"))
    await expect("transaction.not.found", 404,
                 stand.client.download("no-such", "f", phone=PHONE, dest=tmp_path / "x",
                                       max_bytes=10))
    await expect("transaction.not.found", 404,
                 stand.client.upload("no-such", b"x", filename="a", mime_type="b/c",
                                     idempotency_key="up-1"))
    await expect("transaction.not.found", 404,
                 stand.client.complete("no-such", phone=PHONE, template_id="t",
                                       idempotency_key="done-4"))


async def test_an_unknown_file_is_404_and_a_wrong_phone_400(stand: Stand,
                                                            tmp_path: Path) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await stand.sign(transaction_id)
    zip_id = (await stand.client.status(transaction_id)).patient_signed_zip
    assert zip_id is not None
    await expect("file.not.found", 404,
                 stand.client.download(transaction_id, "nope", phone=PHONE,
                                       dest=tmp_path / "x", max_bytes=10**6))
    await expect("validation.failed", 400,
                 stand.client.download(transaction_id, zip_id, phone="+79991111111",
                                       dest=tmp_path / "x", max_bytes=10**6))


async def test_upload_and_complete_before_the_patient_signed_are_409(stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await expect("invalid.state", 409,
                 stand.client.upload(transaction_id, b"x", filename="a", mime_type="b/c",
                                     idempotency_key="up-2"))
    await expect("invalid.state", 409,
                 stand.client.complete(transaction_id, phone=PHONE, template_id="t",
                                       idempotency_key="done-5"))


async def test_complete_before_upload_is_409(stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await stand.sign(transaction_id)
    error = await expect("invalid.state", 409,
                         stand.client.complete(transaction_id, phone=PHONE, template_id="t",
                                               idempotency_key="done-6"))
    assert "upload" in error.message


@pytest.mark.parametrize(("act", "status", "reason"), [("refuse", "cancelled", "refused"),
                                                       ("expire", "cancelled", "expired"),
                                                       ("error", "error", None)])
async def test_everything_after_a_final_status_is_409(
        stand: Stand, tmp_path: Path, act: str, status: str, reason: str | None) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    assert (await stand.post(f"/transactions/{transaction_id}/{act}")).status_code == 200
    final = await stand.client.status(transaction_id)
    assert (final.status, final.reason, final.is_final) == (status, reason, True)
    await expect("invalid.state", 409,
                 stand.client.upload(transaction_id, b"x", filename="a", mime_type="b/c",
                                     idempotency_key="up-3"))
    await expect("invalid.state", 409,
                 stand.client.complete(transaction_id, phone=PHONE, template_id="t",
                                       idempotency_key="done-7"))
    await expect("invalid.state", 409,
                 stand.client.download(transaction_id, "f", phone=PHONE, dest=tmp_path / "x",
                                       max_bytes=10))
    again = await stand.post(f"/transactions/{transaction_id}/sign")
    assert again.status_code == 409 and again.json()["code"] == "invalid.state"


async def test_upload_needs_a_file_part_and_a_mime_type(stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await stand.sign(transaction_id)
    url = f"/gov/pep/v1/sign/upload/{transaction_id}"
    headers = {"Authorization": "partner-token"}
    no_mime = await stand.control.post(url, files={"file": ("a.p7s", b"x")}, headers=headers)
    no_file = await stand.control.post(url, data={"mimeType": "a/b"}, files={"x": ("a", b"")},
                                       headers=headers)
    as_json = await stand.control.post(url, json={"file": "x"}, headers=headers)
    for response in (no_mime, no_file, as_json):
        assert response.status_code == 400 and response.json()["code"] == "validation.failed"
