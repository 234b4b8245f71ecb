"""The doctor's own patients on a chosen day (issue 15): the МИС names the doctor of each
appointment, the administrator gives the doctor his id; the board shows «Мои пациенты» by
default and the whole МО on request. After the patient refuses in Госключ (the emulator's
control API), the doctor's open appointment page offers «Отправить ещё раз» by itself, and
a confirmed re-send starts a new request; the history tells the story."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from medsign.demo import DEMO_DOCTOR_ID, DEMO_ORG
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand, patient_name

pytestmark = [pytest.mark.slow, pytest.mark.browser]
TIMEOUT_MS = 60_000  # the worker polls the platform every 1–2 s, pages refresh every 5 s
MINE, OTHER = "browser-mine-1", "browser-other-1"


def _appointment(stand: Stand, aid: str, patient: str, doctor: dict[str, str],
                 starts: datetime) -> None:
    stand.api("PUT", f"/organizations/{DEMO_ORG}/appointments/{aid}", {
        "patient": patient, "starts_at": starts.isoformat(), "doctor": doctor,
        "service_name": "Приём врача-терапевта",
        "consents": [{"kind": "medical_intervention", "signing_method": "electronic"},
                     {"kind": "personal_data", "signing_method": "electronic"}]})


def test_my_patients_on_a_chosen_day_and_resend_after_a_refusal(ui: Ui, stand: Stand) -> None:
    starts = (datetime.now(UTC) + timedelta(days=4)).replace(hour=8, minute=0, second=0,
                                                             microsecond=0)
    day = starts.astimezone(ZoneInfo("Europe/Moscow")).date()
    _appointment(stand, MINE, "demo-p2", {"name": "Петрова Анна Сергеевна", "id": "d-petrova"},
                 starts)
    _appointment(stand, OTHER, "demo-p3", {"name": "Сидоров Сергей Сергеевич", "id": "d-2"},
                 starts + timedelta(hours=1))
    stand.cli("user", "doctor-id", "--login", "doctor", "--doctor-id", "d-petrova")

    doctor = ui.person("doctor")
    ui.login(doctor, "doctor", name="staff-login-mine")
    expect(doctor.get_by_test_id("who-select")).to_have_value("mine")
    doctor.get_by_test_id("date-input").fill(day.isoformat())
    doctor.get_by_role("button", name="Показать").click()
    expect(doctor).to_have_url(re.compile(rf"/doctor\?date={day.isoformat()}&who=mine"))
    expect(doctor.get_by_test_id("day-heading")).to_contain_text("мои пациенты")
    mine = doctor.locator(f'[data-testid="appointment"][data-appointment="{MINE}"]')
    expect(mine).to_contain_text(patient_name("demo-p2"))
    expect(doctor.locator(f'[data-appointment="{OTHER}"]')).to_have_count(0)
    ui.check(doctor, "doctor-my-patients")

    doctor.get_by_test_id("who-select").select_option("all")
    doctor.get_by_role("button", name="Показать").click()
    expect(doctor.locator(f'[data-appointment="{OTHER}"]')).to_have_count(1)
    expect(doctor.get_by_test_id("day-heading")).not_to_contain_text("мои пациенты")
    doctor.get_by_test_id("previous-day").click()
    expect(doctor).to_have_url(re.compile(
        rf"date={(day - timedelta(days=1)).isoformat()}&who=all"))
    expect(doctor.locator(f'[data-appointment="{MINE}"]')).to_have_count(0)
    doctor.get_by_test_id("next-day").click()
    ui.check(doctor, "doctor-all-patients")

    # start signing; the patient refuses in Госключ
    doctor.locator(f'[data-appointment="{MINE}"] [data-testid="start-signing"]').click()
    doctor.get_by_test_id("confirm-signing").click()
    request = doctor.get_by_test_id("signing-request")
    expect(request).to_have_count(1)
    first = request.get_attribute("data-request")
    assert first
    stand.goskey("POST", f"/transactions/{stand.transaction_of(first)}/refuse")
    doctor.evaluate("window.medsignNotReloaded = true")
    resend = doctor.get_by_test_id("resend")
    expect(resend).to_be_visible(timeout=TIMEOUT_MS)  # the live fragment, no reload
    assert doctor.evaluate("window.medsignNotReloaded === true"), "the page was reloaded"
    expect(doctor.get_by_test_id("to-paper")).to_be_visible()
    expect(doctor.get_by_test_id("timeline")).to_contain_text("пациент отказался")
    ui.check(doctor, "doctor-after-refusal")

    resend.click()
    expect(doctor.get_by_role("heading", level=1)).to_have_text(
        "Отправить документы на подписание ещё раз?")
    ui.check(doctor, "doctor-resend-confirm")
    doctor.get_by_test_id("confirm-follow-up").click()
    expect(doctor).to_have_url(re.compile(r"\?msg=signing_started$"))
    expect(doctor.get_by_test_id("signing-request")).to_have_count(2)
    expect(doctor.get_by_test_id("timeline")).to_contain_text(
        "врач отправил документы на подписание ещё раз")
    second = [r for r in (doctor.get_by_test_id("signing-request").nth(i)
                          .get_attribute("data-request") for i in range(2)) if r != first]
    assert len(second) == 1 and second[0]
    stand.wait_state(second[0], "sent")
    ui.check(doctor, "doctor-resent")
    stand.cli("user", "doctor-id", "--login", "doctor", "--doctor-id", DEMO_DOCTOR_ID)  # as was
    ui.finish()
