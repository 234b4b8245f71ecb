"""The emulator's side door: patient page, autopilot, expiry, reset, restart with state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from medsign.integrations.goskey.emulator import EmulatorConfig, FontNotFound, create_emulator
from medsign.integrations.goskey.emulator.profile import profile_for
from tests.integration.goskey.helpers import PHONE, TOKEN, Stand, send_request

pytestmark = pytest.mark.anyio


async def test_the_patient_page_lists_pending_documents_and_signs_from_a_form(
        stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request("ИДС", "Договор"),
                                             idempotency_key="k")
    page = await stand.control.get("/_emulator/", params={"phone": PHONE})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'name="viewport"' in html and '<label for="phone">' in html
    assert "Ожидают подписи (1)" in html and "Подписать" in html and "Отказаться" in html
    assert profile_for(PHONE).full_name in html and "Договор" in html
    assert f"/_emulator/transactions/{transaction_id}/documents/2.pdf" in html
    signed = await stand.control.post(
        f"/_emulator/transactions/{transaction_id}/sign?phone=%2B79990000000",
        data={}, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert signed.status_code == 303 and signed.headers["location"].startswith("/_emulator/?")
    after = (await stand.control.get(signed.headers["location"])).text
    assert "Ожидают подписи (0)" in after and "ожидает подписи медицинской организации" in after


async def test_a_form_post_on_a_finished_transaction_redirects_with_a_notice(
        stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await stand.post(f"/transactions/{transaction_id}/refuse")
    again = await stand.control.post(
        f"/_emulator/transactions/{transaction_id}/sign",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 303 and "notice=" in again.headers["location"]
    page = (await stand.control.get("/_emulator/")).text
    assert "Вы отказались от подписания" in page


async def test_a_pending_document_can_be_read_as_pdf(stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    pdf = await stand.control.get(f"/_emulator/transactions/{transaction_id}/documents/1.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 1024
    missing = await stand.control.get(
        f"/_emulator/transactions/{transaction_id}/documents/2.pdf")
    assert missing.status_code == 404


async def test_the_listing_filters_by_phone(stand: Stand) -> None:
    await stand.client.send(send_request(), idempotency_key="a")
    await stand.client.send(send_request(phone="+79991112233"), idempotency_key="b")
    mine = (await stand.control.get("/_emulator/transactions",
                                    params={"phone": "+79991112233"})).json()
    assert [t["phone"] for t in mine["transactions"]] == ["+79991112233"]


async def test_autopilot_decides_once_after_n_polls(stand: Stand) -> None:
    response = await stand.post("/autopilot", {"sign": 1, "refuse": 0, "ignore": 0,
                                               "after_polls": 2, "seed": 1})
    assert response.json()["autopilot"]["after_polls"] == 2
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    assert (await stand.client.status(transaction_id)).steps[0].status == "wip_client"
    assert (await stand.client.status(transaction_id)).patient_signed_zip
    assert (await stand.view(transaction_id))["decision"] == "sign"


async def test_autopilot_mixes_decisions_deterministically(
        make_stand: Callable[..., Any]) -> None:
    async def run() -> list[tuple[str, str]]:
        stand: Stand = await make_stand()
        await stand.post("/autopilot", {"sign": 0, "refuse": 1, "ignore": 1,
                                        "after_polls": 1, "seed": 5})
        results = []
        for n in range(8):
            transaction_id = await stand.client.send(send_request(), idempotency_key=f"k{n}")
            status = await stand.client.status(transaction_id)
            results.append(((await stand.view(transaction_id))["decision"], status.status))
        return results

    first = await run()
    assert first == await run()
    assert {d for d, _ in first} == {"refuse", "ignore"}
    assert all(s == ("cancelled" if d == "refuse" else "active") for d, s in first)


async def test_an_ignored_transaction_expires_after_the_configured_time(
        make_stand: Callable[..., Any]) -> None:
    now = [datetime(2026, 3, 1, 10, 0, tzinfo=UTC)]
    stand: Stand = await make_stand(expire_after_s=3600, clock=lambda: now[0])
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    now[0] += timedelta(minutes=59)
    assert (await stand.client.status(transaction_id)).status == "active"
    now[0] += timedelta(minutes=2)
    status = await stand.client.status(transaction_id)
    assert (status.status, status.reason) == ("cancelled", "expired")


async def test_reset_forgets_everything(stand: Stand) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k")
    await stand.post("/faults", {"method": "send", "error_5xx_rate": 1})
    assert (await stand.post("/reset")).status_code == 200
    assert (await stand.control.get(f"/_emulator/transactions/{transaction_id}")).status_code \
        == 404
    assert (await stand.control.get("/_emulator/faults")).json() == {"faults": {}}


async def test_a_restart_with_state_dir_keeps_transactions_files_and_keys(
        make_stand: Callable[..., Any], tmp_path: Path) -> None:
    state = tmp_path / "state"
    first: Stand = await make_stand(state_dir=state)
    transaction_id = await first.client.send(send_request(), idempotency_key="k")
    await first.sign(transaction_id)
    ca = (state / "operator-ca.pem").read_bytes()
    assert ca == (await first.control.get("/_emulator/ca.pem")).content
    first.app.state.emulator.store.close()

    second: Stand = await make_stand(state_dir=state)
    status = await second.client.status(transaction_id)
    assert status.patient_signed_zip is not None
    size = await second.client.download(transaction_id, status.patient_signed_zip, phone=PHONE,
                                        dest=tmp_path / "a.zip", max_bytes=10**6)
    assert size > 1000 and (state / "operator-ca.pem").read_bytes() == ca
    assert await second.client.send(send_request(), idempotency_key="k") == transaction_id
    assert (await second.view(transaction_id))["sends_for_key"] == 2


async def test_an_in_memory_emulator_makes_its_own_keys(make_stand: Callable[..., Any]) -> None:
    stand: Stand = await make_stand(state_dir=None)
    assert (await stand.control.get("/_emulator/ca.pem")).content.startswith(b"-----BEGIN")


def test_a_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FontNotFound, match="font"):
        create_emulator(EmulatorConfig(token=TOKEN, font_path=tmp_path / "none.ttf"))
