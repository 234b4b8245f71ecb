"""Transient faults the end-to-end run relies on being harmless, pinned down in-process.

The in-process stand (worker, API and emulator in one process, fake clock) with faults injected
at chosen calls:

- answers lost after the platform acted (the emulator's ``drop_after_rate``): a dropped
  connection *before* the platform sees a call proves nothing about idempotency; one after it
  acted does — the service must repeat the call with the same key, and the platform must end up
  with one transaction and one completion;
- a failure in the middle of the uploads repeats only the upload that failed;
- sporadic failures spread over a long poll never add up to "failed for good";
- under load the emulator's autopilot may get to seal a "sign" only after the platform's
  expiry time: the patient's decision came first, so the transaction is signed, not expired.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from medsign.integrations.goskey.emulator import EmulatorConfig, create_emulator
from medsign.integrations.goskey.schemas import DocumentSpec, Executor, SendRequest
from tests.integration.signing.stand import SigningStand, build_stand


@pytest.fixture
def stand(engine: Engine, tmp_path: Path) -> SigningStand:
    return build_stand(engine, tmp_path)


def platform(stand: SigningStand) -> dict[str, Any]:
    listing: dict[str, Any] = stand.control("GET", "/transactions").json()
    return listing


def lose_answers(stand: SigningStand, method: str) -> None:
    r = stand.control("POST", "/faults", {"method": method, "drop_after_rate": 1.0})
    assert r.status_code == 200, r.text


def heal_and_resume(stand: SigningStand) -> None:
    assert stand.control("DELETE", "/faults").status_code == 200
    stand.advance(timedelta(seconds=3))  # past the stand's retry backoff (1–2 s)
    stand.run_worker()


def test_a_lost_send_answer_is_repeated_with_its_key_and_makes_one_transaction(
        stand: SigningStand) -> None:
    lose_answers(stand, "send")
    rid = stand.start_signing()
    stand.run_worker()
    assert stand.request(rid)["state"] == "new"
    assert len(platform(stand)["transactions"]) == 1, "the platform acted on the first call"

    heal_and_resume(stand)
    detail, seen = stand.request(rid), platform(stand)
    assert detail["state"] == "sent"
    assert [t["id"] for t in seen["transactions"]] == [detail["transaction_id"]]
    assert list(seen["sends_per_key"].values()) == [2], seen["sends_per_key"]


def test_a_lost_complete_answer_is_recognised_from_the_status(stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    stand.control("POST", f"/transactions/{tx}/sign")
    lose_answers(stand, "complete")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    assert stand.request(rid)["state"] == "uploaded"
    assert platform(stand)["transactions"][0]["status"] == "finished"

    heal_and_resume(stand)
    assert stand.request(rid)["state"] == "completed"
    view = platform(stand)["transactions"][0]
    assert view["calls"]["complete"] == 1, "finished is read from the status, not re-completed"


def test_a_failed_second_upload_does_not_upload_the_first_again(stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    stand.control("POST", f"/transactions/{tx}/sign")
    # seed 0 draws 0.844, 0.758: the first upload passes, the second gets a 503
    r = stand.control("POST", "/faults", {"method": "upload", "error_5xx_rate": 0.8, "seed": 0})
    assert r.status_code == 200
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    assert stand.request(rid)["state"] == "countersigned"
    assert len(platform(stand)["transactions"][0]["uploads"]) == 1

    heal_and_resume(stand)
    assert stand.request(rid)["state"] == "completed"
    uploads = platform(stand)["transactions"][0]["uploads"]
    assert len(uploads) == 2, [u["filename"] for u in uploads]
    assert len({u["filename"] for u in uploads}) == 2 and all(u["accepted"] for u in uploads)


def test_sporadic_poll_failures_do_not_add_up_to_a_failure(stand: SigningStand) -> None:
    """The stand allows 3 attempts. Seven polls, every other one a 503: never 3 in a row."""
    rid = stand.start_signing()
    stand.run_worker()
    for _ in range(7):
        stand.control("POST", "/faults", {"method": "status", "error_5xx_rate": 1.0})
        stand.advance(timedelta(minutes=2))
        stand.run_worker()  # one failed poll, retried later
        assert stand.request(rid)["state"] == "sent"
        stand.control("DELETE", "/faults")
        stand.advance(timedelta(minutes=2))
        stand.run_worker()  # one poll that works
        assert stand.request(rid)["state"] == "sent", stand.request(rid)
    tx = stand.request(rid)["transaction_id"]
    stand.control("POST", f"/transactions/{tx}/sign")
    stand.advance(timedelta(minutes=2))
    stand.run_worker()
    assert stand.request(rid)["state"] == "completed"


def test_an_autopilot_signature_queued_past_the_expiry_time_is_still_a_signature() -> None:
    now = [datetime(2026, 3, 1, 10, 0, tzinfo=UTC)]
    app = create_emulator(EmulatorConfig(token="t", expire_after_s=60, clock=lambda: now[0],
                                         unknown_phones="invent"))
    core = app.state.emulator
    body = SendRequest(phone="+79161234567", department_id="d", deal_type_ids=[],
                       documents=[DocumentSpec(template_id="tpl", title="ИДС")],
                       service_names=["Приём"],
                       executor=Executor(name="ГБУЗ", address="Москва", ogrn="1027700132195",
                                         inn="7707083893", kpp="770701001")).to_json()

    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                     base_url="http://goskey.test") as http:
            r = await http.post("/_emulator/autopilot", json={
                "sign": 1, "refuse": 0, "ignore": 0, "after_polls": 1, "seed": 1})
            assert r.status_code == 200
            r = await http.post("/gov/pep/v1/sign/send", json=body,
                                headers={"Authorization": "t", "Idempotency-Key": "k"})
            tid = r.json()["transactionId"]
            now[0] += timedelta(seconds=50)
            await core._signing.acquire()  # other patients' archives are being sealed
            poll = asyncio.create_task(http.get(f"/gov/pep/v1/sign/status/{tid}",
                                                headers={"Authorization": "t"}))
            while core.store.get(tid).decision is None:  # decided at 50 s, before the deadline
                await asyncio.sleep(0.01)
            now[0] += timedelta(seconds=20)  # the queue moves on only after the deadline
            core._signing.release()
            answer: dict[str, Any] = (await poll).json()
            return answer

    answer = asyncio.run(scenario())
    assert (answer["status"], answer["steps"][0]["status"]) == ("active", "wip_partner"), answer
    assert answer["steps"][0]["data"]["idZip"]
