"""A patient whose account the administrator created (``medsign patient-account create
--send-link``) forgets the password: «Забыли пароль?» on the login page, the e-mail arrives at
the stand's SMTP server, the link sets a new password, and the patient logs in with it — on a
phone (375 px) and on a desktop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]
EMAIL = "a.smirnov@example.org"
NEW_PASSWORD = "Смирнов-Новый-Пароль-2026"


def test_a_password_is_reset_by_the_link_in_the_email(ui: Ui, stand: Stand) -> None:
    stand.cli("patient-account", "create", "--login", "smirnov", "--email", EMAIL,
              "--last-name", "Смирнов", "--first-name", "Алексей", "--middle-name",
              "Игоревич", "--birth-date", "02.11.1972", "--phone", "+79990000002",
              "--send-link")
    stand.inbox.wait_for(1, timeout=60)
    first_link = stand.inbox.link(stand.inbox.to(EMAIL)[0])

    patient = ui.person("patient", phone=True)
    ui.goto(patient, "/portal/login")
    patient.get_by_test_id("forgot-link").click()
    expect(patient).to_have_url(re.compile(r"/portal/password/forgot$"))
    expect(patient.get_by_role("heading", level=1)).to_have_text("Восстановление пароля")
    ui.check(patient, "forgot")
    patient.get_by_label("Логин или электронная почта").fill(EMAIL.upper())
    patient.get_by_test_id("forgot-submit").click()
    expect(patient.get_by_test_id("message-success")).to_contain_text("мы отправили на неё")
    ui.check(patient, "forgot-sent")

    stand.inbox.wait_for(2, timeout=60)
    mail = stand.inbox.to(EMAIL)[1]
    assert mail["Subject"] == "Пароль для портала пациента"
    link = stand.inbox.link(mail)
    assert link.startswith(stand.url + "/portal/password/reset/") and link != first_link

    patient.goto(link)
    expect(patient.get_by_test_id("reset-login")).to_have_text("smirnov")
    ui.check(patient, "reset")
    patient.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
    patient.get_by_label("Новый пароль ещё раз").fill(NEW_PASSWORD + "!")
    patient.get_by_test_id("reset-submit").click()
    expect(patient.get_by_test_id("message-error")).to_contain_text("Пароли не совпадают")
    ui.check(patient, "reset-mismatch")
    patient.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
    patient.get_by_label("Новый пароль ещё раз").fill(NEW_PASSWORD)
    patient.get_by_test_id("reset-submit").click()
    expect(patient).to_have_url(re.compile(r"/portal/login\?msg=password_changed$"))
    expect(patient.get_by_test_id("message-success")).to_contain_text("Новый пароль сохранён")
    ui.check(patient, "reset-done")

    patient.get_by_label("Логин или электронная почта").fill("smirnov")
    patient.get_by_label("Пароль").fill(NEW_PASSWORD)
    patient.get_by_test_id("portal-login-submit").click()
    expect(patient).to_have_url(re.compile(r"/portal$"))
    expect(patient.get_by_test_id("current-user")).to_contain_text("Смирнов")
    ui.check(patient, "portal-after-reset")

    # both links are spent now: the first by the newer one, the second by its use
    desktop = ui.person("desktop")
    for used in (first_link, link):
        desktop.goto(used)
        expect(desktop.get_by_test_id("message-error")).to_be_visible()
        expect(desktop.get_by_test_id("forgot-again")).to_be_visible()
    ui.check(desktop, "reset-link-spent")
    ui.finish()
