"""A doctor sends an appointment's documents for signing from the АРМ; the patient signs on
the Goskey page on their phone; the doctor's open pages turn «подписано» by themselves (live
fragments, no reload), and the evidence package downloads as a ZIP with its report."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from medsign.demo import DEMO_ORG
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand, patient_name, patient_phone

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SIGNED_TIMEOUT_MS = 60_000  # the worker polls the platform every 1–2 s, pages refresh every 5 s


def day_path(stand: Stand, aid: str) -> str:
    """The board of the appointment's day in the МО's time zone, every doctor's."""
    found = stand.api("GET", f"/organizations/{DEMO_ORG}/appointments/{aid}")
    day = datetime.fromisoformat(found["starts_at"]).astimezone(ZoneInfo(found["timezone"]))
    return f"/doctor?date={day.date().isoformat()}&who=all"


def test_doctor_starts_signing_patient_signs_and_doctor_sees_it_live(ui: Ui,
                                                                      stand: Stand) -> None:
    aid, patient = stand.appointments["doctor"], "demo-p1"
    doctor = ui.person("doctor")
    ui.login(doctor, "doctor", name="staff-login")
    expect(doctor).to_have_url(re.compile(r"/doctor$"))
    expect(doctor.get_by_role("heading", level=1)).to_have_text("АРМ врача")
    board_path = day_path(stand, aid)  # the board shows one day: the appointment's
    ui.goto(doctor, board_path)
    row = doctor.locator(f'[data-testid="appointment"][data-appointment="{aid}"]')
    expect(row).to_contain_text(patient_name(patient))
    expect(row.get_by_test_id("signing-state")).to_contain_text("не отправлялось")
    ui.check(doctor, "doctor-board")

    # the confirmation step
    row.get_by_test_id("start-signing").click()
    expect(doctor).to_have_url(re.compile(rf"/doctor/organizations/{DEMO_ORG}/appointments/{aid}/sign$"))
    expect(doctor.get_by_role("heading", level=1)).to_have_text(
        "Отправить документы на подписание?")
    expect(doctor.get_by_test_id("message-warning")).to_contain_text(patient_phone(patient))
    ui.check(doctor, "confirmation")
    doctor.get_by_test_id("confirm-signing").click()

    expect(doctor).to_have_url(re.compile(rf"/doctor/organizations/{DEMO_ORG}/appointments/{aid}\?msg=signing_started$"))
    expect(doctor.get_by_test_id("message-success")).to_contain_text("отправлены на подписание")
    request = doctor.get_by_test_id("signing-request")
    expect(request).to_have_count(1)
    request_id = request.get_attribute("data-request")
    assert request_id
    ui.check(doctor, "appointment-started")

    # the board in a second tab; neither tab is reloaded from here on
    board = doctor.context.new_page()
    ui.goto(board, board_path)
    board_state = board.locator(f'[data-appointment="{aid}"] [data-testid="signing-state"]')
    expect(board_state.locator(".badge")).not_to_have_attribute("data-state", "completed")
    for tab in (doctor, board):
        tab.evaluate("window.medsignNotReloaded = true")

    # the patient, on the phone, signs on the Goskey emulator's page
    transaction = stand.transaction_of(request_id)
    phone = ui.person("patient", phone=True)
    phone.goto(f"{stand.goskey_url}/_emulator/?phone={quote(patient_phone(patient))}")
    card = phone.locator("article", has_text=f"Транзакция {transaction}")
    # the documents reach Госключ under their names for patients, without abbreviations
    expect(card).to_contain_text("Согласие на медицинское вмешательство")
    ui.check(phone, "goskey-documents")
    card.get_by_role("button", name=re.compile(r"^Подписать")).click()
    expect(phone.locator(".notice")).to_have_text("Готово")
    ui.check(phone, "goskey-signed")

    # the doctor's open pages change by themselves
    signed = request.locator('.badge[data-state="completed"]')
    expect(signed).to_have_text("подписано", timeout=SIGNED_TIMEOUT_MS)
    expect(board_state.locator('.badge[data-state="completed"]')).to_have_text(
        "подписано", timeout=SIGNED_TIMEOUT_MS)
    for tab in (doctor, board):
        assert tab.evaluate("window.medsignNotReloaded === true"), "the page was reloaded"
    ui.check(doctor, "appointment-signed")
    ui.check(board, "doctor-board-signed")

    # downloads: the evidence package and a signed PDF
    with doctor.expect_download() as download:
        doctor.get_by_test_id("download-evidence").click()
    package = download.value
    assert package.suggested_filename == f"evidence-{request_id}.zip"
    with zipfile.ZipFile(package.path()) as zf:
        names = zf.namelist()
        assert "verification.json" in names, names
        assert zf.testzip() is None
        assert b'"' in zf.read("verification.json")
    with doctor.expect_download() as download:
        doctor.get_by_test_id("download-pdf").first.click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert download.value.path().read_bytes()[:5] == b"%PDF-"
    ui.finish()
