"""The operators' console finds people, keeps itself current and answers in the form: an
operator finds a request by the patient's name and by a phone number typed any way, a
refused cancel comes back beside the field with what was typed, and the list shows the
request's new state without a reload. An administrator disables an employee (whose open
session ends), lets them in again and changes their role."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from medsign.demo import DEMO_ORG
from tests.e2e.browser.pages import PASSWORD, Ui
from tests.e2e.browser.stand import Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]
APPOINTMENT = "browser-search-1"
PATIENT = "demo-p3"  # Кузнецова Ольга, +79990000003 (medsign.demo_people)
LIVE_WAIT = 30_000  # ms: a few of the list's refresh periods


def book(stand: Stand) -> None:
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(hour=11, minute=0, second=0,
                                                             microsecond=0)
    stand.api("PUT", f"/organizations/{DEMO_ORG}/appointments/{APPOINTMENT}", {
        "organization": DEMO_ORG, "patient": PATIENT, "starts_at": starts.isoformat(),
        "doctor": {"name": "Петрова Анна Сергеевна"}, "service_name": "Приём врача-терапевта",
        "consents": [{"kind": "medical_intervention", "signing_method": "electronic"}]})


def test_an_operator_finds_a_request_answers_in_the_form_and_sees_it_change(
        ui: Ui, stand: Stand) -> None:
    book(stand)
    started = stand.api(
        "POST", f"/organizations/{DEMO_ORG}/appointments/{APPOINTMENT}/signing-requests")
    request_id = started["id"]
    stand.transaction_of(request_id)

    operator = ui.person("operator")
    ui.login(operator, "operator", name="staff-login")
    ui.goto(operator, "/console/requests")
    row = operator.locator(f'[data-testid="request-row"][data-request="{request_id}"]')

    operator.get_by_label("Поиск").fill("кузнецова ольга")
    operator.locator("#filter-submit").click()
    expect(operator).to_have_url(re.compile(r"/console/requests\?q=.*"))
    expect(row).to_be_visible()
    expect(row.get_by_test_id("request-patient")).to_have_text("Кузнецова Ольга")
    expect(row).to_contain_text("на медицинское вмешательство")  # the Russian title
    for other in operator.get_by_test_id("request-patient").all():
        expect(other).to_contain_text("Кузнецова")
    ui.check(operator, "console-search-by-name")

    operator.get_by_label("Поиск").fill("8 (999) 000-00-03")
    operator.locator("#filter-submit").click()
    expect(row).to_be_visible()
    expect(operator.get_by_test_id("search-kinds")).to_contain_text("телефон")
    ui.check(operator, "console-search-by-phone")

    # a reason of spaces only: refused beside the field, what was typed stays, focus on it
    row.get_by_role("link").first.click()
    expect(operator.get_by_test_id("request-id")).to_have_text(request_id)
    reason = operator.get_by_label("Причина отмены")
    reason.fill("    ")
    operator.get_by_test_id("cancel").click()
    expect(operator.get_by_test_id("cancel-error")).to_contain_text("не заполнено")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_be_focused()
    expect(reason).to_have_value("    ")
    ui.check(operator, "console-cancel-refused")
    reason.fill("ок")
    operator.get_by_test_id("cancel").click()
    expect(operator.get_by_test_id("cancel-error")).to_contain_text("слишком короткая")
    expect(operator.get_by_label("Причина отмены")).to_have_value("ок")
    assert stand.request_state(request_id)["state"] not in ("cancelled",)

    # the list, searched, follows the request's state by itself
    ui.goto(operator, "/console/requests?q=%2B79990000003")
    expect(row).to_be_visible()
    state_before = row.get_attribute("data-state")
    assert state_before != "cancelled"
    stand.api("POST", f"/signing-requests/{request_id}/cancel",
              {"reason": "МИС отменила приём"})
    expect(row).to_have_attribute("data-state", "cancelled", timeout=LIVE_WAIT)
    expect(operator.get_by_label("Поиск")).to_have_value("+79990000003")
    ui.check(operator, "console-list-live")
    ui.finish()


def test_an_admin_disables_re_enables_and_changes_the_role_of_an_employee(
        ui: Ui, stand: Stand) -> None:
    admin = ui.person("admin")
    ui.login(admin, "admin", name="staff-login")
    ui.goto(admin, "/console/users")
    create = admin.get_by_test_id("create-user-form")
    create.get_by_label("Логин", exact=True).fill("browser-doc")
    create.get_by_label("ФИО").fill("Волкова Елена Андреевна")
    create.get_by_label("Роль", exact=True).select_option("doctor")
    create.get_by_label("МО (только для врача)").select_option(DEMO_ORG)
    create.get_by_label("Пароль", exact=True).fill(PASSWORD)
    create.get_by_label("Пароль ещё раз").fill(PASSWORD)
    create.get_by_test_id("create-user").click()
    row = admin.locator('[data-testid="user-row"][data-login="browser-doc"]')
    expect(row).to_have_attribute("data-active", "yes")

    doctor = ui.person("doctor")
    ui.login(doctor, "browser-doc", name="staff-login-doctor")
    expect(doctor).to_have_url(re.compile(r"/doctor"))

    row.get_by_test_id("disable-user").click()
    expect(admin.get_by_test_id("message-success")).to_contain_text("отключён")
    expect(row).to_have_attribute("data-active", "no")
    expect(row.get_by_test_id("user-disabled")).to_be_visible()
    ui.check(admin, "console-user-disabled")
    ui.goto(doctor, "/doctor")  # the open session ended at once
    expect(doctor).to_have_url(re.compile(r"/login"))

    row.get_by_test_id("enable-user").click()
    expect(row).to_have_attribute("data-active", "yes")
    role = admin.get_by_test_id("role-form")
    role.get_by_label("Пользователь", exact=True).select_option("browser-doc")
    role.get_by_label("Роль", exact=True).select_option("operator")
    role.get_by_label("МО (только для врача)").select_option(DEMO_ORG)
    role.get_by_test_id("change-role").click()
    expect(admin.get_by_test_id("message-error")).to_contain_text("МО указывается только")
    ui.check(admin, "console-user-role-refused")
    role = admin.get_by_test_id("role-form")
    role.get_by_label("МО (только для врача)").select_option("")
    role.get_by_test_id("change-role").click()
    expect(admin.get_by_test_id("message-success")).to_contain_text("Роль и МО")
    expect(row.get_by_test_id("user-role")).to_have_text("оператор")
    ui.check(admin, "console-user-role-changed")

    ui.login(doctor, "browser-doc", name="staff-login-operator")
    expect(doctor).to_have_url(re.compile(r"/console$"))
    ui.finish()
