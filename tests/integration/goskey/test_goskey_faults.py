"""Injected faults and the rate limit, seen through the real client's error tree."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medsign.crypto import SignatureInvalid, TrustStore, verify_detached
from medsign.integrations.goskey import GoskeyRejected, GoskeyTransient
from tests.integration.goskey.helpers import PHONE, Stand, send_request

pytestmark = pytest.mark.anyio


async def fault(stand: Stand, **spec: Any) -> None:
    response = await stand.post("/faults", spec)
    assert response.status_code == 200, response.text


async def signed(stand: Stand) -> tuple[str, str]:
    transaction_id = await stand.client.send(send_request("ИДС"), idempotency_key="k")
    await stand.sign(transaction_id)
    zip_id = (await stand.client.status(transaction_id)).patient_signed_zip
    assert zip_id is not None
    return transaction_id, zip_id


async def test_5xx_is_transient_and_clearing_faults_heals(stand: Stand) -> None:
    await fault(stand, method="send", error_5xx_rate=1.0)
    with pytest.raises(GoskeyTransient) as caught:
        await stand.client.send(send_request(), idempotency_key="k")
    assert caught.value.status == 503
    assert (await stand.control.delete("/_emulator/faults")).json() == {"faults": {}}
    assert await stand.client.send(send_request(), idempotency_key="k")


async def test_a_fault_on_one_method_leaves_the_others_alone(stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await fault(stand, method="send", error_5xx_rate=1.0)
    assert (await stand.client.status(transaction_id)).status == "active"


async def test_429_carries_retry_after(stand: Stand) -> None:
    await fault(stand, method="*", rate_429=1.0, retry_after_s=7)
    with pytest.raises(GoskeyTransient) as caught:
        await stand.client.status("whatever")
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)


async def test_a_dropped_connection_is_transient(stand: Stand) -> None:
    await fault(stand, method="status", drop_rate=1.0)
    with pytest.raises(GoskeyTransient) as caught:
        await stand.client.status("whatever")
    assert "RemoteProtocolError" in caught.value.message or "Dropped" in caught.value.message


async def test_seeded_faults_repeat_exactly(make_stand: Callable[..., Any]) -> None:
    async def run() -> list[str]:
        stand: Stand = await make_stand()
        transaction_id = await stand.client.send(send_request(), idempotency_key="k")
        await fault(stand, method="status", error_5xx_rate=0.3, rate_429=0.2, drop_rate=0.1,
                    seed=11)
        outcomes = []
        for _ in range(30):
            try:
                await stand.client.status(transaction_id)
                outcomes.append("ok")
            except GoskeyTransient as exc:
                outcomes.append(str(exc.status))
        return outcomes

    first = await run()
    assert first == await run() and {"ok", "503", "429", "None"} <= set(first)


async def test_latency_delays_the_answer(stand: Stand) -> None:
    await fault(stand, method="status", latency_ms=150)
    started = time.perf_counter()
    with pytest.raises(GoskeyRejected):
        await stand.client.status("whatever")
    assert time.perf_counter() - started >= 0.15


async def test_calls_are_counted_even_when_faulted(stand: Stand) -> None:
    await fault(stand, method="status", error_5xx_rate=1.0)
    for _ in range(3):
        with pytest.raises(GoskeyTransient):
            await stand.client.status("x")
    listing = (await stand.control.get("/_emulator/transactions")).json()
    assert listing["calls"] == {"status": 3}


async def test_a_corrupted_archive_does_not_open(stand: Stand, tmp_path: Path) -> None:
    transaction_id, zip_id = await signed(stand)
    await fault(stand, method="download", corrupt_archive=True, seed=3)
    dest = tmp_path / "a.zip"
    await stand.client.download(transaction_id, zip_id, phone=PHONE, dest=dest,
                                max_bytes=10**6)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(dest)


async def test_a_bad_operator_signature_does_not_verify(stand: Stand, tmp_path: Path) -> None:
    transaction_id, zip_id = await signed(stand)
    await fault(stand, method="download", bad_operator_signature=True)
    dest = tmp_path / "a.zip"
    await stand.client.download(transaction_id, zip_id, phone=PHONE, dest=dest,
                                max_bytes=10**6)
    trust = TrustStore.from_pem((await stand.control.get("/_emulator/ca.pem")).content)
    with zipfile.ZipFile(dest) as archive:
        pdf, seal = archive.read("ИДС PDF.pdf"), archive.read("ИДС подпись к PDF.p7s")
    with pytest.raises(SignatureInvalid) as caught:
        verify_detached(pdf, seal, trust=trust)
    assert caught.value.code == "digest_mismatch"


async def test_an_archive_over_the_limit_is_refused(stand: Stand, tmp_path: Path) -> None:
    transaction_id, zip_id = await signed(stand)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with pytest.raises(GoskeyRejected) as caught:
        await stand.client.download(transaction_id, zip_id, phone=PHONE,
                                    dest=downloads / "a.zip", max_bytes=1000)
    assert caught.value.code == "archive_too_large" and not list(downloads.iterdir())


async def test_the_rate_limit_answers_429(make_stand: Callable[..., Any]) -> None:
    stand: Stand = await make_stand(rate_limit_per_s=2)
    outcomes = []
    for _ in range(4):
        try:
            await stand.client.status("x")
        except GoskeyTransient as exc:
            outcomes.append((exc.status, exc.retry_after))
        except GoskeyRejected as exc:
            outcomes.append((exc.status, None))
    assert outcomes[:2] == [(404, None), (404, None)] and (429, 1.0) in outcomes[2:]


@pytest.mark.parametrize("spec", [{"method": "nope"}, {"drop_rate": 0.7, "rate_429": 0.7},
                                  {"latency_ms": "slow"}])
async def test_a_bad_fault_spec_is_400(stand: Stand, spec: dict[str, Any]) -> None:
    response = await stand.post("/faults", spec)
    assert response.status_code == 400 and response.json()["code"] == "validation.failed"
