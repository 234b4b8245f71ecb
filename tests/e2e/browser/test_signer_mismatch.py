"""The signer is not the patient, end to end through real processes: the signing platform
answers the patient's phone with another person's Госуслуги profile (a relative's phone); the
service makes no MO signature and uploads nothing; the operator sees both identities on the
console and cancels; the request ends cancelled and the consents are pending again."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, func, select

from medsign.db.models import DocumentRow
from medsign.demo import DEMO_ORG
from medsign.demo_people import DEMO_PEOPLE
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PATIENT = next(p for p in DEMO_PEOPLE if p.patient_id == "demo-p3")  # Кузнецова Ольга
RELATIVE = {"phone": "+79990000077", "last_name": "Кузнецов", "first_name": "Сергей",
            "middle_name": "Петрович", "birth_date": "1961-02-03", "gender": "M"}
MISMATCH_TIMEOUT_S = 90


@pytest.fixture
def relatives_phone(stand: Stand) -> Iterator[None]:
    """The platform answers the patient's phone with her father's profile (until cleared)."""
    stand.goskey("POST", "/answer-as", {"phone": PATIENT.phone, "person": RELATIVE})
    try:
        yield
    finally:
        stand.goskey("DELETE", "/answer-as")


def mo_signatures(stand: Stand, request_id: str) -> int:
    engine = create_engine(f"sqlite:///{stand.database}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(DocumentRow).where(
                DocumentRow.signing_request_id == request_id,
                DocumentRow.kind == "mo_signature")).scalar_one())
    finally:
        engine.dispose()


def electronic_consents(stand: Stand, appointment_id: str) -> set[str]:
    found = stand.api("GET", f"/organizations/{DEMO_ORG}/appointments/{appointment_id}")["consents"]
    return {c["state"] for c in found if c["signing_method"] == "electronic"}


def test_operator_sees_both_identities_and_cancels_a_mismatched_signer(
        ui: Ui, stand: Stand, relatives_phone: None) -> None:
    aid = stand.appointments["mismatch"]
    request_id = stand.api(
        "POST", f"/organizations/{DEMO_ORG}/appointments/{aid}/signing-requests")["id"]
    transaction = stand.transaction_of(request_id)
    stand.goskey("POST", f"/transactions/{transaction}/sign")  # the father signs in Goskey
    stopped = stand.wait_state(request_id, "signer_mismatch", timeout=MISMATCH_TIMEOUT_S)
    assert stopped["signer_mismatch"]["in_documents"]["last_name"] == "Кузнецов"
    assert stopped["signer_mismatch"]["in_patient_record"] == {
        "last_name": "Кузнецова", "first_name": "Ольга", "middle_name": None,
        "birth_date": "1990-07-25"}
    # no MO signature was made, nothing reached the platform
    assert mo_signatures(stand, request_id) == 0
    platform = stand.goskey("GET", f"/transactions/{transaction}")
    assert platform["uploads"] == [] and platform["calls"].get("upload", 0) == 0
    assert platform["status_answer"]["steps"][0]["status"] == "wip_partner"
    assert electronic_consents(stand, aid) == {"in_signing"}

    operator = ui.person("operator")
    ui.login(operator, "operator", name="staff-login")
    expect(operator).to_have_url(re.compile(r"/console$"))
    ui.goto(operator, "/console/requests")
    operator.get_by_label("Состояние").select_option("signer_mismatch")
    operator.locator("#filter-submit").click()
    expect(operator).to_have_url(re.compile(r"/console/requests\?.*state=signer_mismatch"))
    row = operator.locator(f'[data-testid="request-row"][data-request="{request_id}"]')
    expect(row.locator('.badge[data-state="signer_mismatch"]')).to_have_text(
        "подписант не совпадает с пациентом")
    ui.check(operator, "console-requests-signer-mismatch")

    row.get_by_role("link").first.click()
    expect(operator).to_have_url(re.compile(rf"/console/requests/{request_id}$"))
    box = operator.get_by_test_id("signer-mismatch")
    expect(box).to_contain_text("В документах платформы")
    expect(box).to_contain_text("В карте пациента")
    expect(operator.get_by_test_id("mismatch-document")).to_have_text(
        "Кузнецов Сергей Петрович, 03.02.1961")
    expect(operator.get_by_test_id("mismatch-patient")).to_have_text("Кузнецова Ольга, 25.07.1990")
    expect(operator.get_by_test_id("retry-form")).to_have_count(0)  # nothing to retry
    ui.check(operator, "console-request-signer-mismatch")

    operator.get_by_label("Причина отмены").fill("телефон отца; пациентка подпишет в клинике")
    operator.get_by_test_id("cancel").click()
    expect(operator).to_have_url(re.compile(rf"/console/requests/{request_id}\?msg=cancelled$"))
    expect(operator.get_by_test_id("request-state").locator(".badge")).to_have_attribute(
        "data-state", "cancelled")
    expect(operator.get_by_test_id("mismatch-document")).to_have_text(  # why, still shown
        "Кузнецов Сергей Петрович, 03.02.1961")
    ui.check(operator, "console-request-signer-mismatch-cancelled")

    ended = stand.request_state(request_id)
    assert ended["state"] == "cancelled"
    assert [h["to_state"] for h in ended["history"]][-2:] == ["signer_mismatch", "cancelled"]
    assert electronic_consents(stand, aid) == {"pending"}
    assert mo_signatures(stand, request_id) == 0
    assert stand.goskey("GET", f"/transactions/{transaction}")["uploads"] == []
