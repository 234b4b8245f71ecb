"""An operator cancels a signing request from the console with a reason: the history and the
audit log keep the reason and name the operator; the patient's MAX chat says the clinic
cancelled the signing — and neither the operator's words nor who they are."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from medsign.demo import DEMO_ORG
from medsign.domain import bot
from medsign.domain.consents import ConsentKind
from medsign.domain.signing import PatientNotice
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand
from tests.e2e.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]
APPOINTMENT = "browser-cancel-1"
PATIENT = "demo-p2"
OPERATOR_LOGIN, OPERATOR_NAME = "operator", "Соколов Игорь Викторович"  # medsign.demo's
KINDS = [ConsentKind.medical_intervention]


def book(stand: Stand) -> None:
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(hour=15, minute=0, second=0,
                                                             microsecond=0)
    stand.api("PUT", f"/organizations/{DEMO_ORG}/appointments/{APPOINTMENT}", {
        "organization": DEMO_ORG, "patient": PATIENT, "starts_at": starts.isoformat(),
        "doctor": {"name": "Петрова Анна Сергеевна"}, "service_name": "Приём врача-терапевта",
        "consents": [{"kind": "medical_intervention", "signing_method": "electronic"}]})


def bot_texts(stand: Stand, user_id: int) -> list[str]:
    return [i["text"] or "" for i in stand.max_chat(user_id)
            if i["kind"] == "message" and i["from"] == "bot"]


def wait_told(stand: Stand, user_id: int, text: str) -> list[str]:
    def told() -> list[str] | None:
        texts = bot_texts(stand, user_id)
        return texts if text in texts else None
    found: list[str] = wait_for(told, timeout=60, what=f"«{text[:40]}…» in the MAX chat",
                                describe=lambda: f"{bot_texts(stand, user_id)}")
    return found


def everything_the_patient_sees(stand: Stand, user_id: int) -> str:
    items: list[dict[str, Any]] = stand.max_chat(user_id)
    return "\n".join(f"{i.get('text') or ''} {i.get('keyboard') or ''}" for i in items)


def test_the_patient_is_told_of_an_operators_cancel_without_the_reason_or_the_operator(
        ui: Ui, stand: Stand) -> None:
    book(stand)
    user_id = stand.link_max(PATIENT)
    started = stand.api(
        "POST", f"/organizations/{DEMO_ORG}/appointments/{APPOINTMENT}/signing-requests")
    request_id = started["id"]
    stand.transaction_of(request_id)
    # the documents are said to be in Госключ once the platform has them — not before
    wait_told(stand, user_id, bot.documents_sent(KINDS))

    marker = f"МАРКЕР-{uuid.uuid4().hex[:8]} пациентка звонила, документы неверные"
    operator = ui.person("operator")
    ui.login(operator, OPERATOR_LOGIN, name="staff-login")
    expect(operator).to_have_url(re.compile(r"/console$"))
    ui.goto(operator, f"/console/requests/{request_id}")
    operator.get_by_label("Причина отмены").fill(marker)
    operator.get_by_test_id("cancel").click()
    expect(operator).to_have_url(re.compile(rf"/console/requests/{request_id}\?msg=cancelled$"))
    expect(operator.get_by_test_id("request-state").locator(".badge")).to_have_attribute(
        "data-state", "cancelled")
    # staff keep the reason, and see who cancelled by name, in words
    history = operator.get_by_test_id("history")
    expect(history).to_contain_text("отменено оператором")
    expect(history).to_contain_text(OPERATOR_NAME)
    expect(history).to_contain_text(marker)
    expect(operator.get_by_test_id("last-error")).to_have_count(0)  # a cancel is no error
    ui.check(operator, "console-request-cancelled")

    ui.goto(operator, f"/console/audit?subject={request_id}&action=signing.cancelled")
    entry = operator.locator('[data-testid="audit-row"]'
                             '[data-action="signing.cancelled_by_operator"]')
    expect(entry).to_have_count(1)
    expect(entry.get_by_test_id("audit-actor")).to_contain_text(OPERATOR_NAME)
    expect(entry.get_by_test_id("audit-action")).to_contain_text("отменено оператором")
    expect(entry.get_by_test_id("audit-reason")).to_contain_text(marker)
    ui.check(operator, "console-audit-cancelled")

    # the patient: the clinic cancelled — nothing of what the operator typed, nor who they are
    cancelled = bot.outcome(PatientNotice.cancelled_by_clinic, kinds=KINDS)
    wait_told(stand, user_id, cancelled)
    seen = everything_the_patient_sees(stand, user_id)
    for secret in (marker.split()[0], "звонила", OPERATOR_LOGIN, OPERATOR_NAME, "Соколов",
                   "web:"):
        assert secret not in seen, (secret, seen)
    assert "ИДС" not in seen

    phone = ui.person("patient-phone", phone=True)
    phone.goto(f"{stand.max_url}/_emulator/?user={user_id}")
    chat = phone.locator("#chat")
    expect(chat).to_contain_text("Клиника отменила онлайн-подписание")
    expect(chat).to_contain_text("Документы отправлены в Госключ")
    expect(chat).not_to_contain_text(marker.split()[0])
    expect(chat).not_to_contain_text(OPERATOR_NAME)
    ui.finish()
