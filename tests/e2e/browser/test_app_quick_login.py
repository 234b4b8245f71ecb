"""Quick login in the app «К врачу» on a 375 px phone, at ``localhost`` (WebAuthn refuses IP
addresses): the PIN created with a mismatch (the seed's exact message) and then a match; the
app reopened without a session and unlocked by the PIN; too many wrong PINs unbind the device;
biometrics through Chromium's virtual authenticator (DevTools protocol) with user
verification, registered and then used to log in.

The app's start screen (``/app/home``) and full login (``/app/login``) are the shell's: the
tests check that the browser is sent there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import PASSWORD, Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]

MISMATCH = "Неверный пароль. Попробуйте еще раз"
SESSION_COOKIE = "medsign_session"
HOME = re.compile(r"/app/home$")


def log_in(ui: Ui, stand: Stand, page: Page) -> None:
    """The full login (the portal's form, at localhost), then the app's landing page."""
    page.goto(f"{stand.local_url}/portal/login")
    page.get_by_label("Логин или электронная почта").fill("patient")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_test_id("portal-login-submit").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()
    page.goto(f"{stand.local_url}/app/welcome")
    expect(page.get_by_role("heading", level=1, name="Создание PIN-кода")).to_be_visible()


def press(page: Page, pin: str) -> None:
    for digit in pin:
        page.get_by_role("button", name=digit, exact=True).click()


def create_pin(ui: Ui, page: Page, pin: str) -> None:
    press(page, pin)
    expect(page.get_by_test_id("pin-prompt")).to_have_text("Повторите PIN-код")
    page.keyboard.type(pin)  # the keyboard works as well as the on-screen keys


def close_the_app(page: Page) -> None:
    """The session is gone (the app closed, the session timed out); the device stays."""
    page.context.clear_cookies(name=SESSION_COOKIE)


def test_pin_created_with_a_mismatch_then_quick_login_by_pin(ui: Ui, stand: Stand) -> None:
    phone = ui.person("patient", phone=True)
    log_in(ui, stand, phone)
    ui.check(phone, "app-pin-create")

    press(phone, "1357")
    expect(phone.get_by_test_id("pin-prompt")).to_have_text("Повторите PIN-код")
    ui.check(phone, "app-pin-repeat")
    press(phone, "1358")
    expect(phone.get_by_test_id("pin-error")).to_have_text(MISMATCH)
    expect(phone.get_by_test_id("pin-prompt")).to_contain_text("Придумайте PIN-код")
    ui.check(phone, "app-pin-mismatch")

    press(phone, "135")
    phone.get_by_role("button", name="Стереть").click()
    expect(phone.get_by_test_id("pin-dots")).to_have_attribute("aria-label",
                                                               "Введено цифр: 2 из 4")
    press(phone, "5")
    press(phone, "7")
    expect(phone.get_by_test_id("pin-prompt")).to_have_text("Повторите PIN-код")
    phone.keyboard.type("1357")
    expect(phone).to_have_url(HOME)  # no platform authenticator here: straight to the app

    close_the_app(phone)
    phone.goto(f"{stand.local_url}/app/unlock")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Вход в приложение")
    expect(phone.get_by_test_id("password-login")).to_have_attribute("href", "/app/login")
    ui.check(phone, "app-unlock-pin")
    press(phone, "1357")
    expect(phone).to_have_url(HOME)
    phone.goto(f"{stand.local_url}/portal")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Мои документы")
    ui.finish()


def test_too_many_wrong_pins_unbind_the_device(ui: Ui, stand: Stand) -> None:
    phone = ui.person("patient", phone=True)
    log_in(ui, stand, phone)
    create_pin(ui, phone, "2468")
    expect(phone).to_have_url(HOME)
    close_the_app(phone)
    phone.goto(f"{stand.local_url}/app/unlock")
    for left in (4, 3, 2, 1):
        press(phone, "0000")
        expect(phone.get_by_test_id("pin-error")).to_have_text(
            f"Неверный PIN-код. Осталось попыток: {left}.")
    ui.check(phone, "app-unlock-wrong-pin")
    press(phone, "0000")
    expect(phone.get_by_test_id("pin-error")).to_contain_text(
        "Слишком много неверных попыток")
    expect(phone.get_by_role("button", name="1", exact=True)).to_be_hidden()
    ui.check(phone, "app-unlock-unbound")
    phone.goto(f"{stand.local_url}/app/unlock")  # the next open: the full login
    expect(phone).to_have_url(re.compile(r"/app/login$"))
    assert not [c for c in phone.context.cookies() if c["name"] == "medsign_app_device"]
    ui.finish()


@pytest.fixture
def authenticator(ui: Ui) -> Iterator[tuple[Page, CDPSession, str]]:
    """A phone with a fingerprint reader: Chromium's virtual platform authenticator that
    verifies its user."""
    phone = ui.person("patient", phone=True)
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("WebAuthn.enable")
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    yield phone, cdp, made["authenticatorId"]
    cdp.send("WebAuthn.disable")


def credentials(cdp: CDPSession, authenticator_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cdp.send("WebAuthn.getCredentials",
                                           {"authenticatorId": authenticator_id})["credentials"]
    return found


def test_biometrics_registered_then_used_to_log_in(
        ui: Ui, stand: Stand, authenticator: tuple[Page, CDPSession, str]) -> None:
    phone, cdp, authenticator_id = authenticator
    log_in(ui, stand, phone)
    create_pin(ui, phone, "9753")
    expect(phone.get_by_role("heading", level=1, name="Способ быстрого входа")).to_be_visible()
    expect(phone.get_by_test_id("choose-pin")).to_have_text("Вход по PIN-коду")
    ui.check(phone, "app-choose-method")
    phone.get_by_role("button", name="Вход по отпечатку пальца или Face ID").click()
    expect(phone).to_have_url(HOME)
    (credential,) = credentials(cdp, authenticator_id)
    assert credential["rpId"] == "localhost"
    registered_count = credential["signCount"]

    close_the_app(phone)
    phone.goto(f"{stand.local_url}/app/unlock")
    button = phone.get_by_test_id("unlock-biometrics")
    expect(button).to_have_text("Войти по отпечатку пальца или Face ID")
    ui.check(phone, "app-unlock-biometrics")
    button.click()
    expect(phone).to_have_url(HOME)
    assert credentials(cdp, authenticator_id)[0]["signCount"] > registered_count
    phone.goto(f"{stand.local_url}/portal")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Мои документы")

    # the PIN still works on this device, behind «Ввести PIN-код»
    close_the_app(phone)
    phone.goto(f"{stand.local_url}/app/unlock")
    phone.get_by_test_id("show-pin").click()
    press(phone, "9753")
    expect(phone).to_have_url(HOME)
    ui.finish()


def test_a_user_the_authenticator_cannot_verify_is_not_let_in(
        ui: Ui, stand: Stand, authenticator: tuple[Page, CDPSession, str]) -> None:
    phone, cdp, authenticator_id = authenticator
    log_in(ui, stand, phone)
    create_pin(ui, phone, "8642")
    phone.get_by_test_id("choose-biometrics").click()
    expect(phone).to_have_url(HOME)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator_id,
                                          "isUserVerified": False})
    close_the_app(phone)
    phone.goto(f"{stand.local_url}/app/unlock")
    phone.get_by_test_id("unlock-biometrics").click()
    expect(phone.get_by_test_id("pin-error")).to_contain_text("Не удалось подтвердить вход")
    expect(phone).to_have_url(re.compile(r"/app/unlock$"))
    ui.finish()
