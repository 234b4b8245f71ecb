"""The patient in the app «К врачу» on a 375 px phone: logs in (the portal's password form),
sees the appointment on «Мои документы», presses «Подписать онлайн»; the page follows the
signing by itself until the documents are in Госключ and shows its link; the patient signs on
the Госключ emulator's page; the page turns «подписано» without a reload, and the signed PDF,
the signature sheet and the evidence package download from «Подписанные документы». The same
pages at desktop width, on the portal."""

from __future__ import annotations

import re
import zipfile
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from medsign.domain import bot
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import PASSWORD, Stand, patient_phone

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SIGNED_TIMEOUT_MS = 60_000  # the worker polls the platform every 1–2 s, pages refresh every 5 s


def log_in(ui: Ui, page: Page, then: str) -> None:
    ui.goto(page, "/portal/login?next=" + quote(then, safe=""))
    page.get_by_label("Логин или электронная почта").fill("patient")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_test_id("portal-login-submit").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()


def test_patient_signs_online_from_the_app_and_downloads_the_signed_documents(
        ui: Ui, stand: Stand) -> None:
    aid = stand.appointments["app"]
    phone = ui.person("patient", phone=True)
    log_in(ui, phone, "/app/home")
    expect(phone).to_have_url(re.compile(r"/app/home$"))
    expect(phone.get_by_role("heading", level=1)).to_have_text("Мои документы")
    card = phone.locator(f'[data-testid="portal-appointment"][data-appointment="{aid}"]')
    expect(card).to_contain_text("Консультация кардиолога")
    # documents by their plain names, no abbreviations
    expect(card).to_contain_text("Согласие на медицинское вмешательство")
    expect(card).not_to_contain_text("ИДС")
    ui.check(phone, "app-home")

    # «Подпишу в клинике» asks first; going back changes nothing
    card.get_by_test_id("sign-paper").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Подписать документы в клинике?")
    ui.check(phone, "app-paper-question")
    phone.get_by_role("link", name="Отмена").click()
    expect(phone).to_have_url(re.compile(r"/app/home$"))

    card.get_by_test_id("sign-online").click()
    expect(phone).to_have_url(re.compile(r"/app/home\?msg=patient_signing_started$"))
    expect(phone.get_by_test_id("message-success")).to_contain_text(
        "Готовим документы к подписанию")
    expect(card.get_by_test_id("sign-online")).to_have_count(0)
    phone.evaluate("window.medsignNotReloaded = true")
    state = card.get_by_test_id("patient-signing-state")
    request_id = state.get_attribute("data-request")
    assert request_id
    ui.check(phone, "app-signing-started")

    # the documents reach Госключ: the page says so by itself, with the link
    expect(card.get_by_test_id("goskey-link")).to_be_visible(timeout=SIGNED_TIMEOUT_MS)
    expect(card.get_by_test_id("goskey")).to_contain_text(bot.GOSKEY_INSTRUCTION)
    expect(card.get_by_test_id("goskey-link")).to_have_attribute(
        "href", re.compile(r"^https://max\.ru/"))
    ui.check(phone, "app-in-goskey")

    # the patient signs on the Госключ emulator's page
    transaction = stand.transaction_of(request_id)
    goskey = ui.person("goskey", phone=True)
    goskey.goto(f"{stand.goskey_url}/_emulator/?phone={quote(patient_phone('demo-p1'))}")
    found = goskey.locator("article", has_text=f"Транзакция {transaction}")
    expect(found).to_contain_text("Согласие на медицинское вмешательство")
    found.get_by_role("button", name=re.compile(r"^Подписать")).click()
    expect(goskey.locator(".notice")).to_have_text("Готово")

    expect(state.locator('.badge[data-state="completed"]')).to_have_text(
        "подписано", timeout=SIGNED_TIMEOUT_MS)
    assert phone.evaluate("window.medsignNotReloaded === true"), "the page was reloaded"
    ui.check(phone, "app-signed")

    # «Подписанные документы»: PDFs, signature sheet, evidence package
    ui.goto(phone, "/app/documents")
    signed = phone.locator(f'[data-testid="signed-request"][data-request="{request_id}"]')
    expect(signed).to_contain_text("Консультация кардиолога")
    ui.check(phone, "app-documents")
    with phone.expect_download() as download:
        signed.get_by_test_id("download-pdf").first.click()
    assert download.value.path().read_bytes()[:5] == b"%PDF-"
    with phone.expect_download() as download:
        signed.get_by_test_id("download-signature-sheet").click()
    assert download.value.path().read_bytes()[:5] == b"%PDF-"
    with phone.expect_download() as download:
        signed.get_by_test_id("download-evidence").click()
    assert download.value.suggested_filename == f"evidence-{request_id}.zip"
    with zipfile.ZipFile(download.value.path()) as zf:
        assert "verification.json" in zf.namelist() and zf.testzip() is None

    # MAX linking and support, in the app
    ui.goto(phone, "/app/max")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Привязка аккаунта MAX")
    phone.get_by_test_id("issue-link").first.click()
    expect(phone.get_by_test_id("deep-link")).to_have_attribute(
        "href", re.compile(r"^https://max\.ru/medsign_browser_bot\?start="))
    expect(phone.get_by_role("img", name="QR-код ссылки на бота MAX")).to_be_hidden()
    ui.check(phone, "app-max")
    ui.goto(phone, "/app/support")
    expect(phone.get_by_label("Как с вами связаться (необязательно)")).to_have_value(
        re.compile("Иванова"))
    ui.check(phone, "app-support")

    # the same pages at desktop width, on the portal
    desktop = ui.person("patient-desktop")
    log_in(ui, desktop, "/portal")
    expect(desktop).to_have_url(re.compile(r"/portal$"))
    desk_card = desktop.locator(f'[data-testid="portal-appointment"][data-appointment="{aid}"]')
    expect(desk_card.locator('.badge[data-state="completed"]')).to_have_text("подписано")
    ui.check(desktop, "portal-home")
    desktop.get_by_role("link", name="Подписанные документы").first.click()
    expect(desktop).to_have_url(re.compile(r"/portal/documents$"))
    desk_signed = desktop.locator(f'[data-testid="signed-request"][data-request="{request_id}"]')
    expect(desk_signed.get_by_test_id("download-evidence")).to_have_attribute(
        "href", f"/portal/requests/{request_id}/evidence")
    ui.check(desktop, "portal-documents-signed")
    with desktop.expect_download() as download:
        desk_signed.get_by_test_id("download-pdf").first.click()
    assert download.value.path().read_bytes()[:5] == b"%PDF-"
    ui.goto(desktop, "/portal/max")
    desktop.get_by_test_id("issue-link").first.click()
    expect(desktop.get_by_role("img", name="QR-код ссылки на бота MAX")).to_be_visible()
    ui.check(desktop, "portal-max-qr")
    ui.finish()
