"""An administrator walks through every page of the console: overview, signing requests
(with filters) and one request, notifications (of a patient who linked MAX), the audit log
(filtered, also by a far-off date), support requests, users (with a refused form), patient
accounts of the portal (with a refused form)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_admin_walks_through_the_console(ui: Ui, stand: Stand) -> None:
    stand.link_max("demo-p3")  # so that the worker announces her visit in MAX
    request_id = stand.sign_now(stand.appointments["spare"])
    admin = ui.person("admin")
    ui.login(admin, "admin", name="staff-login")
    expect(admin).to_have_url(re.compile(r"/console$"))
    expect(admin.get_by_test_id("health-goskey")).to_be_visible()
    ui.check(admin, "console-overview")

    menu = admin.get_by_role("navigation", name="Основное меню")
    menu.get_by_role("link", name="Транзакции").click()
    expect(admin).to_have_url(re.compile(r"/console/requests$"))
    row = admin.locator(f'[data-testid="request-row"][data-request="{request_id}"]')
    expect(row.locator('.badge[data-state="completed"]')).to_have_text("подписано")
    ui.check(admin, "console-requests")

    admin.get_by_label("Состояние").select_option("completed")
    admin.locator("#filter-submit").click()
    expect(admin).to_have_url(re.compile(r"/console/requests\?.*state=completed"))
    expect(row).to_be_visible()
    ui.check(admin, "console-requests-filtered")

    row.get_by_role("link").first.click()
    expect(admin.get_by_test_id("request-id")).to_have_text(request_id)
    expect(admin.get_by_test_id("cancel-form")).to_have_count(0)  # completed: nothing to do
    ui.check(admin, "console-request")

    menu.get_by_role("link", name="Уведомления").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Уведомления пациентам")
    announced = admin.locator('[data-testid="notification-row"]',
                              has_text=stand.appointments["spare"])
    ui.reload_until(admin, announced)
    ui.check(admin, "console-notifications")

    menu.get_by_role("link", name="Аудит").click()
    expect(admin.get_by_test_id("audit-row").first).to_be_visible()
    ui.check(admin, "console-audit")
    admin.get_by_label("Объект").fill(request_id)
    admin.locator("#audit-filter-submit").click()
    rows = admin.get_by_test_id("audit-row")
    expect(rows.first).to_contain_text(request_id)
    ui.check(admin, "console-audit-filtered")

    # the date picker lets anyone pick 31.12.9999: the page must still answer, not fail
    admin.get_by_label("Объект").fill("")
    admin.get_by_label("Дата").fill("9999-12-31")
    with admin.expect_response(lambda r: "/console/audit?" in r.url) as answered:
        admin.locator("#audit-filter-submit").click()
    assert answered.value.status == 200, answered.value.status
    expect(admin.get_by_role("heading", level=1)).to_have_text("Журнал аудита")
    expect(admin.get_by_label("Дата")).to_have_value("9999-12-31")
    ui.check(admin, "console-audit-far-date")

    menu.get_by_role("link", name="Обращения").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Обращения в поддержку")
    ui.check(admin, "console-support")

    menu.get_by_role("link", name="Пользователи").click()
    users = admin.get_by_test_id("user-row")
    for login in ("admin", "doctor", "operator"):
        expect(admin.locator(f'[data-testid="user-row"][data-login="{login}"]')).to_be_visible()
    assert users.count() >= 3
    ui.check(admin, "console-users")

    form = admin.get_by_test_id("create-user-form")
    form.get_by_label("Логин").fill("nurse.browser")
    form.get_by_label("ФИО").fill("Сёмина Вера Павловна")
    form.get_by_label("Роль", exact=True).select_option("operator")
    form.get_by_label("Пароль", exact=True).fill("Long-enough-password-1")
    form.get_by_label("Пароль ещё раз").fill("Long-enough-password-2")
    form.get_by_test_id("create-user").click()
    expect(admin.get_by_test_id("message-error")).to_contain_text("Пароли не совпадают")
    expect(admin.get_by_label("ФИО")).to_have_value("Сёмина Вера Павловна")
    ui.check(admin, "console-users-refused")

    menu.get_by_role("link", name="Пациенты портала").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Пациенты портала")
    demo = admin.locator('[data-testid="patient-account-row"][data-account="patient"]')
    expect(demo).to_contain_text("patient@example.org")
    ui.check(admin, "console-patients")
    form = admin.get_by_test_id("create-patient-account-form")
    form.get_by_label("Логин").fill("kuznetsova")
    form.get_by_label("Фамилия").fill("Кузнецова")
    form.get_by_label("Имя", exact=True).fill("Ольга")
    form.get_by_label("Дата рождения").fill("25.07.1990")
    form.get_by_label("Подтверждённый мобильный телефон").fill("+79990000777")
    form.get_by_label("Пароль", exact=True).fill("Long-enough-password-1")
    form.get_by_label("Пароль ещё раз").fill("Long-enough-password-1")
    form.get_by_test_id("create-patient-account").click()
    expect(admin.get_by_test_id("message-error")).to_contain_text("Ни одна карта пациента")
    expect(form.get_by_label("Подтверждённый мобильный телефон")).to_have_value("+79990000777")
    ui.check(admin, "console-patients-refused")

    menu.get_by_role("link", name="События для МИС").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("События для МИС")
    expect(admin.get_by_test_id("no-webhooks")).to_be_visible()
    ui.check(admin, "console-webhooks")
    ui.finish()
