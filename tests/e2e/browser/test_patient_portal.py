"""A patient signs in to the portal through the ESIA emulator (picking the test person who is
the demo patient) and finds the signed documents on «Мои документы»; then links MAX and
signs out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand, patient_name

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_patient_logs_in_through_esia_and_sees_the_document(ui: Ui, stand: Stand) -> None:
    aid = stand.appointments["portal"]
    request_id = stand.sign_now(aid)  # the МИС sent it, the patient signed in Goskey
    name = patient_name("demo-p1")

    patient = ui.person("patient")
    ui.goto(patient, "/")
    expect(patient.get_by_role("heading", level=1)).to_have_text(
        "Подписание медицинских документов")
    ui.check(patient, "home")
    patient.get_by_test_id("home-portal").click()
    expect(patient).to_have_url(re.compile(r"/portal/login$"))
    ui.check(patient, "portal-login")

    patient.get_by_test_id("esia-login").click()
    expect(patient).to_have_url(re.compile(rf"^{re.escape(stand.esia_url)}/"))
    expect(patient.get_by_role("heading", level=1)).to_have_text("Вход через Госуслуги")
    # two test people share the birth date; the demo patient is Мария Петровна
    patient.get_by_label(re.compile(name)).check()
    ui.check(patient, "esia-login")
    patient.get_by_role("button", name="Войти", exact=True).click()

    expect(patient).to_have_url(re.compile(rf"^{re.escape(stand.url)}/portal$"))
    expect(patient.get_by_role("heading", level=1)).to_have_text("Мои документы")
    expect(patient.get_by_test_id("current-user")).to_contain_text("Иванова")
    card = patient.locator(f'[data-testid="portal-appointment"][data-appointment="{aid}"]')
    expect(card).to_contain_text("Ультразвуковое исследование")
    expect(card.locator('.badge[data-state="completed"]')).to_have_text("подписано")
    links = card.get_by_test_id("portal-download-pdf")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute(
        "href", re.compile(rf"^/portal/requests/{request_id}/documents/1$"))
    ui.check(patient, "portal-documents")
    with patient.expect_download() as download:
        links.first.click()
    assert download.value.path().read_bytes()[:5] == b"%PDF-"

    patient.get_by_role("link", name="Привязка MAX").click()
    expect(patient).to_have_url(re.compile(r"/portal/max$"))
    ui.check(patient, "portal-max")
    patient.get_by_test_id("issue-link").first.click()
    expect(patient.get_by_test_id("deep-link")).to_have_attribute(
        "href", re.compile(r"^https://max\.ru/medsign_browser_bot\?start="))
    expect(patient.get_by_role("img", name="QR-код ссылки на бота MAX")).to_be_visible()
    ui.check(patient, "portal-max-link")

    patient.get_by_test_id("logout").click()
    expect(patient).to_have_url(re.compile(r"/portal/login\?msg=logged_out$"))
    expect(patient.get_by_test_id("message-success")).to_have_text(
        re.compile("Вы вышли из системы"))
    ui.check(patient, "portal-logged-out")
    ui.goto(patient, "/portal")
    expect(patient).to_have_url(re.compile(r"/portal/login\?next=%2Fportal$"))
    ui.finish()
