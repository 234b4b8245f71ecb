"""``Idempotency-Key`` on every creating call (``send``, ``upload``, ``complete``): a repeat
with the same key and request gets the stored answer and leaves no second copy; the same key
with another request is ``422 idempotency.key.reused``; keys of one transaction never answer
for another; the counts at ``/_emulator`` tell what was really created, and all of it survives
a restart of the emulator on its state directory."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from medsign.crypto.keys import KeyPair
from medsign.crypto.signers import PureSigner
from medsign.integrations.goskey import GoskeyClient, GoskeyRejected, GoskeyTransient
from tests.integration.goskey.helpers import PHONE, TOKEN, Stand, send_request
from tests.integration.goskey.test_goskey_lifecycle import read_zip, signed_archive
from tests.integration.max.test_max_socket import served

pytestmark = pytest.mark.anyio
P7S = "application/pkcs7-signature"


async def mo_signature(stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> tuple[str, bytes]:
    """A signed transaction and a valid MO signature over its PDF."""
    transaction_id, dest = await signed_archive(stand, tmp_path)
    pdf = next(data for name, data in read_zip(dest).items() if name.endswith(".pdf"))
    return transaction_id, PureSigner(mo_keys).sign(pdf)


async def upload(stand: Stand, transaction_id: str, content: bytes, key: str) -> str:
    return await stand.client.upload(transaction_id, content, filename="mo.p7s", mime_type=P7S,
                                     idempotency_key=key)


async def complete(stand: Stand, transaction_id: str, key: str, template: str = "c") -> str | None:
    return await stand.client.complete(transaction_id, phone=PHONE, template_id=template,
                                       idempotency_key=key)


async def reused(call: Any) -> GoskeyRejected:
    with pytest.raises(GoskeyRejected) as caught:
        await call
    assert (caught.value.status, caught.value.code) == (422, "idempotency.key.reused")
    return caught.value


async def test_an_upload_repeated_with_its_key_gives_the_same_file_and_no_copy(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    first = await upload(stand, tid, signature, "up-1")
    assert await upload(stand, tid, signature, "up-1") == first
    view = await stand.view(tid)
    assert [u["file_id"] for u in view["uploads"]] == [first]
    digest = hashlib.sha256(signature).hexdigest()
    assert view["tally"]["uploads_accepted"] == {digest: 1}
    assert (view["tally"]["uploads_replayed"], view["duplicate_uploads"]) == (1, 0)


async def test_an_upload_key_reused_for_another_file_is_refused_and_changes_nothing(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    first = await upload(stand, tid, signature, "up-1")
    error = await reused(upload(stand, tid, PureSigner(mo_keys).sign(b"other"), "up-1"))
    assert "Idempotency-Key" in error.message
    view = await stand.view(tid)
    assert [u["file_id"] for u in view["uploads"]] == [first]
    assert view["tally"]["keys_reused"] == 1


async def test_without_a_key_the_same_signature_is_stored_twice_and_counted(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    """What the keys prevent, made visible: the duplicate count the chaos test checks."""
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    for _ in range(2):
        r = await stand.control.post(f"/gov/pep/v1/sign/upload/{tid}",
                                     headers={"Authorization": TOKEN},
                                     files={"file": ("mo.p7s", signature, P7S)},
                                     data={"mimeType": P7S})
        assert r.status_code == 200, r.text
    view = await stand.view(tid)
    assert len(view["uploads"]) == 2 and view["duplicate_uploads"] == 1


async def test_a_rejected_upload_repeated_with_its_key_is_rejected_from_the_record(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    tid, _ = await mo_signature(stand, tmp_path, mo_keys)
    for _ in range(2):
        with pytest.raises(GoskeyRejected) as caught:
            await upload(stand, tid, b"not a signature", "bad-1")
        assert (caught.value.status, caught.value.code) == (400, "signature.invalid")
    view = await stand.view(tid)
    assert len(view["uploads"]) == 1 and view["tally"]["uploads_rejected"] == 1


async def test_upload_keys_belong_to_their_transaction(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    one, first_signature = await mo_signature(stand, tmp_path, mo_keys)
    other = await stand.client.send(send_request(), idempotency_key="k-2")
    await stand.sign(other)
    zip_id = (await stand.client.status(other)).patient_signed_zip
    assert zip_id is not None
    dest = tmp_path / "other.zip"
    await stand.client.download(other, zip_id, phone=PHONE, dest=dest, max_bytes=5_000_000)
    pdf = next(data for name, data in read_zip(dest).items() if name.endswith(".pdf"))
    a = await upload(stand, one, first_signature, "same-key")
    b = await upload(stand, other, PureSigner(mo_keys).sign(pdf), "same-key")
    assert a != b
    for tid in (one, other):
        view = await stand.view(tid)
        assert len(view["uploads"]) == 1 and view["tally"].get("uploads_replayed", 0) == 0


async def test_complete_repeated_with_its_key_gives_the_same_file_once(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    await upload(stand, tid, signature, "up-1")
    final = await complete(stand, tid, "done-1")
    assert final and await complete(stand, tid, "done-1") == final
    await reused(complete(stand, tid, "done-1", template="another"))
    with pytest.raises(GoskeyRejected) as caught:  # a new key: a second completion, refused
        await complete(stand, tid, "done-2")
    assert (caught.value.status, caught.value.code) == (409, "invalid.state")
    tally = (await stand.view(tid))["tally"]
    assert (tally["completes_accepted"], tally["completes_replayed"]) == (1, 1)


async def test_a_send_key_reused_for_another_request_is_refused(stand: Stand) -> None:
    first = await stand.client.send(send_request(), idempotency_key="row-1")
    assert await stand.client.send(send_request(), idempotency_key="row-1") == first
    await reused(stand.client.send(send_request(phone="+79990000001"), idempotency_key="row-1"))
    await reused(stand.client.send(replace(send_request(), department_id="dep-2"),
                                   idempotency_key="row-1"))
    listing = (await stand.control.get("/_emulator/transactions")).json()
    assert [t["id"] for t in listing["transactions"]] == [first]
    tally = listing["transactions"][0]["tally"]
    assert (tally["sends_created"], tally["sends_replayed"], tally["keys_reused"]) == (1, 1, 2)


@pytest.mark.parametrize("method", ["upload", "complete"])
async def test_a_lost_answer_is_recovered_with_the_key(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair, method: str) -> None:
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    if method == "complete":
        await upload(stand, tid, signature, "up-1")

    async def call() -> str | None:
        if method == "upload":
            return await upload(stand, tid, signature, "key-1")
        return await complete(stand, tid, "key-1")

    assert (await stand.post("/faults", {"method": method,
                                         "drop_after_rate": 1.0})).status_code == 200
    with pytest.raises(GoskeyTransient):
        await call()
    assert (await stand.control.delete("/_emulator/faults")).status_code == 200
    answer = await call()
    view = await stand.view(tid)
    if method == "upload":
        assert [u["file_id"] for u in view["uploads"]] == [answer]
        assert view["duplicate_uploads"] == 0
    else:
        assert view["status"] == "finished" and view["final_file"] == answer
        assert view["tally"]["completes_accepted"] == 1
    assert view["tally"][f"{method}s_replayed"] == 1


async def test_a_retry_that_overtakes_a_held_upload_makes_one_copy(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    """The ``timeout`` fault holds the call before the platform acts; the client's retry gets
    there first, and the original, acting late, is answered from the key."""
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    r = await stand.post("/faults", {"method": "upload", "timeout_rate": 1.0, "timeout_s": 1})
    assert r.status_code == 200, r.text
    calls_before = (await stand.control.get("/_emulator/transactions")).json()["calls"]
    original = asyncio.create_task(upload(stand, tid, signature, "key-1"))
    await wait_until(stand, lambda calls: calls.get("upload", 0)
                     > calls_before.get("upload", 0))
    await stand.control.delete("/_emulator/faults")
    retried = await upload(stand, tid, signature, "key-1")
    assert await original == retried
    view = await stand.view(tid)
    assert [u["file_id"] for u in view["uploads"]] == [retried]
    assert view["tally"]["uploads_replayed"] == 1


async def test_a_timed_out_call_is_transient_and_still_acted_on(
        make_stand: Callable[..., Any]) -> None:
    """Over a real socket and a real client timeout: the client gives up, the platform acts
    after the hold, and the retry with the key finds that one transaction."""
    stand: Stand = await make_stand()
    store = stand.app.state.emulator.store
    r = await stand.post("/faults", {"method": "send", "timeout_rate": 1.0, "timeout_s": 1})
    assert r.status_code == 200
    with served(stand.app) as url:
        async with GoskeyClient(f"{url}/gov/pep", TOKEN, timeout=0.2) as client:
            with pytest.raises(GoskeyTransient):
                await client.send(send_request(), idempotency_key="t-1")
            await wait_until(stand, lambda _: store.for_key("t-1") is not None)
            assert (await stand.control.delete("/_emulator/faults")).status_code == 200
            tid = await client.send(send_request(), idempotency_key="t-1")
    assert [t.id for t in store.transactions.values()] == [tid]
    assert store.get(tid).tally.get("sends_replayed") == 1


async def test_transactions_files_and_keys_survive_a_restart(
        make_stand: Callable[..., Any], tmp_path: Path, mo_keys: KeyPair) -> None:
    stand: Stand = await make_stand()
    tid, signature = await mo_signature(stand, tmp_path, mo_keys)
    file_id = await upload(stand, tid, signature, "up-1")
    state_dir = stand.app.state.emulator.config.state_dir
    stand.app.state.emulator.store.close()

    again: Stand = await make_stand(state_dir=state_dir)
    assert await again.client.send(send_request(), idempotency_key="k-1") == tid
    assert await upload(again, tid, signature, "up-1") == file_id
    final = await complete(again, tid, "done-1")
    assert final and await complete(again, tid, "done-1") == final
    view = await again.view(tid)
    assert [u["file_id"] for u in view["uploads"]] == [file_id]
    assert view["tally"]["uploads_replayed"] == 1 and view["status"] == "finished"
    archive = tmp_path / "final.zip"
    await again.client.download(tid, final, phone=PHONE, dest=archive, max_bytes=5_000_000)
    assert any(name.startswith("МО ") for name in read_zip(archive))


async def wait_until(stand: Stand, ready: Callable[[dict[str, int]], bool],
                     timeout: float = 10.0) -> None:
    """Poll the emulator's call counts until ``ready`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        calls = (await stand.control.get("/_emulator/transactions")).json()["calls"]
        if ready(calls):
            return
        assert time.monotonic() < deadline, f"timed out; calls: {calls}"
        await asyncio.sleep(0.01)
