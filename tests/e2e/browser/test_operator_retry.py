"""An operator finds a signing request that failed because the platform served an archive
with a bad operator signature (a fault injected into the Goskey emulator), retries it from
the console once the fault is gone, and it completes; the history and the audit log name
the operator and say «повтор», with the operator's reason."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from medsign.demo import DEMO_ORG
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]
FAILED_TIMEOUT_MS = 60_000
OPERATOR_NAME = "Соколов Игорь Викторович"  # medsign.demo's operator


def test_operator_retries_a_request_failed_by_an_injected_fault(ui: Ui, stand: Stand) -> None:
    aid = stand.appointments["operator"]
    stand.goskey("POST", "/faults", {"method": "download", "bad_operator_signature": True})
    try:
        started = stand.api(
            "POST", f"/organizations/{DEMO_ORG}/appointments/{aid}/signing-requests")
        request_id = started["id"]
        transaction = stand.transaction_of(request_id)
        stand.goskey("POST", f"/transactions/{transaction}/sign")  # the patient signs

        operator = ui.person("operator")
        ui.login(operator, "operator", name="staff-login")
        expect(operator).to_have_url(re.compile(r"/console$"))
        # the overview is live: the failure shows up without reloading
        expect(operator.get_by_test_id("count-failed")).to_have_text(
            re.compile(r"^[1-9]\d*$"), timeout=FAILED_TIMEOUT_MS)
        ui.check(operator, "console-overview")

        operator.get_by_role("link", name="С ошибкой").click()
        expect(operator).to_have_url(re.compile(r"/console/requests\?view=failed$"))
        row = operator.locator(f'[data-testid="request-row"][data-request="{request_id}"]')
        expect(row.locator('.badge[data-state="failed"]')).to_have_text("ошибка")
        ui.check(operator, "console-failed-requests")

        row.get_by_role("link").first.click()
        expect(operator).to_have_url(re.compile(rf"/console/requests/{request_id}$"))
        expect(operator.get_by_test_id("request-state").locator(".badge")).to_have_attribute(
            "data-state", "failed")
        expect(operator.get_by_test_id("last-error")).not_to_be_empty()
        ui.check(operator, "console-request-failed")
    finally:
        stand.goskey("DELETE", "/faults")

    operator.get_by_label("Причина повтора").fill("платформа снова доступна")
    operator.get_by_test_id("retry").click()
    expect(operator).to_have_url(re.compile(rf"/console/requests/{request_id}\?msg=retried$"))
    expect(operator.get_by_test_id("message-success")).to_contain_text("поставлена на повтор")
    ui.check(operator, "console-request-retried")

    stand.wait_state(request_id, "completed")
    operator.reload()
    expect(operator.get_by_test_id("request-state").locator(".badge")).to_have_attribute(
        "data-state", "completed")
    expect(operator.get_by_test_id("retry")).to_have_count(0)
    history = operator.get_by_test_id("history")
    expect(history).to_contain_text("ошибка")
    expect(history).to_contain_text("подписано")
    expect(history).to_contain_text("повтор")
    expect(history).to_contain_text(OPERATOR_NAME)
    ui.check(operator, "console-request-completed")

    # the audit log: the retry is the operator's, by name, as «повтор», with the reason —
    # not the patient signing again (the request failed from patient_signed)
    ui.goto(operator, f"/console/audit?subject={request_id}&action=signing.")
    entry = operator.locator('[data-testid="audit-row"][data-action="signing.retried"]')
    expect(entry).to_have_count(1)
    expect(entry.get_by_test_id("audit-actor")).to_contain_text(OPERATOR_NAME)
    expect(entry.get_by_test_id("audit-action")).to_contain_text("повтор")
    expect(entry.get_by_test_id("audit-reason")).to_contain_text("платформа снова доступна")
    patient_signed = operator.locator('[data-testid="audit-row"]'
                                      '[data-action="signing.patient_signed"]')
    expect(patient_signed).to_have_count(1)  # once, when the patient did sign
    ui.check(operator, "console-audit-retried")

    # operators are not administrators: the users page is refused, in Russian
    response = ui.goto(operator, "/console/users")
    assert response is not None and response.status == 403
    expect(operator.get_by_role("heading", level=1)).to_have_text("Доступ запрещён")
    ui.check(operator, "access-denied")
    ui.finish()
