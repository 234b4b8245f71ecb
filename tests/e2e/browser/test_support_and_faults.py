"""When something breaks: a page that does not exist, and a real fault — the database stays
locked by another writer longer than the web service waits (``database.busy_timeout``), which
the service reports as briefly unavailable (503) — whose page gives a reference number and
leads to the support form; the report reaches the console, where an operator closes it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import Stand

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@contextmanager
def database_locked(stand: Stand) -> Iterator[None]:
    """Hold SQLite's write lock, as a stuck writer would (readers still read: WAL)."""
    conn = sqlite3.connect(stand.database, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.rollback()
        conn.close()


def test_a_fault_page_leads_to_the_support_form_and_the_console(ui: Ui, stand: Stand) -> None:
    visitor = ui.person("visitor")
    missing = ui.goto(visitor, "/portal/no-such-page")
    assert missing is not None and missing.status == 404
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Страница не найдена")
    ui.check(visitor, "not-found")

    ui.goto(visitor, "/support")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Служба поддержки")
    ui.check(visitor, "support-form")
    visitor.get_by_label("Описание проблемы").fill("Не открывается страница с документами.")
    with database_locked(stand):
        with visitor.expect_response(lambda r: r.request.method == "POST") as posted:
            visitor.get_by_test_id("support-submit").click()
        assert posted.value.status == 503
        assert posted.value.header_value("retry-after") is not None
        expect(visitor.get_by_role("heading", level=1)).to_have_text("Сервис временно недоступен")
    fault = visitor.get_by_test_id("message-fault")
    expect(fault).to_contain_text("Повторите действие через минуту")
    expect(fault).not_to_contain_text("locked")  # no internals on the page
    reference = visitor.get_by_test_id("fault-reference").inner_text()
    assert reference == posted.value.header_value("x-request-id")
    ui.check(visitor, "fault-page")

    visitor.get_by_test_id("fault-support-link").click()
    expect(visitor).to_have_url(re.compile(rf"/support\?ref={reference}&page=%2Fsupport$"))
    expect(visitor.get_by_test_id("support-form")).to_contain_text(reference)
    ui.check(visitor, "support-form-with-reference")
    visitor.get_by_label("Описание проблемы").fill(
        "После отправки формы появилась страница «Сервис временно недоступен».")
    visitor.get_by_label("Как с вами связаться (необязательно)").fill("+7 999 000-00-00")
    visitor.get_by_test_id("support-submit").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Обращение принято")
    ticket = visitor.get_by_test_id("support-reference").inner_text()
    assert re.fullmatch(r"SR-\S+", ticket), ticket
    ui.check(visitor, "support-done")

    operator = ui.person("operator")
    ui.login(operator, "operator", name="staff-login")
    ui.goto(operator, "/console/support")
    card = operator.locator(f'[data-testid="support-request"][data-reference="{ticket}"]')
    expect(card).to_contain_text(reference)
    expect(card).to_contain_text("+7 999 000-00-00")
    ui.check(operator, "console-support-open")
    card.get_by_label("Решение (обязательно)").fill("База данных была заблокирована; "
                                                   "повторите отправку.")
    card.get_by_test_id("close-support").click()
    expect(operator.get_by_test_id("message-success")).to_have_text(re.compile("закрыто"))
    expect(card).to_have_count(0)
    ui.check(operator, "console-support-closed")
    ui.finish()
