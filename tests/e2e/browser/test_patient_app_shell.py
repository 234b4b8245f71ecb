"""The app «К врачу» on a phone (375 px): the start page's install block; Chromium finding
the app installable (the DevTools protocol); the offline start; the region choice; login by
e-mail and through the ESIA emulator into the app; the fault message of a failed start check;
a new release offered («Доступна новая версия») and taken when the patient agrees.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import PASSWORD, ROOT, Stand, patient_name
from tests.e2e.processes import (
    Proc,
    check_alive,
    describe,
    free_port,
    stop_all,
    wait_answering,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def controlled(page: Page) -> None:
    """Wait until the service worker has installed (precached the shell) and controls the
    page, as it does on a phone after the first visit."""
    page.evaluate("() => navigator.serviceWorker.ready")  # installed and active
    deadline = time.monotonic() + 20
    while not page.evaluate("() => navigator.serviceWorker.controller !== null"):
        assert time.monotonic() < deadline, "the service worker did not take the page over"
        page.wait_for_timeout(100)  # clients.claim() follows activation by a moment


def choose_region(ui: Ui, page: Page) -> None:
    ui.goto(page, "/app/")
    expect(page).to_have_url(re.compile(r"/app/region$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Выберите регион")
    region = page.get_by_test_id("app-region")
    expect(region).to_have_count(1)  # the stand lists no regions: this installation alone
    expect(region).to_contain_text("Подписание документов онлайн")
    expect(region).to_contain_text("Уведомления в MAX")
    expect(region).to_contain_text("Вход через Госуслуги")
    ui.check(page, "app-regions")
    region.get_by_role("button", name="Выбрать").click()
    expect(page).to_have_url(re.compile(r"/app/login$"))


def test_the_start_page_offers_the_app_and_chromium_can_install_it(
        ui: Ui, stand: Stand, tmp_path: Path) -> None:
    patient = ui.installing_person("patient", tmp_path / "profile")
    ui.goto(patient, "/")
    expect(patient.get_by_test_id("home-login")).to_have_text("Вход")
    expect(patient.get_by_test_id("home-login")).to_have_attribute("href", "/portal/login")
    block = patient.get_by_test_id("home-install")
    expect(block).to_contain_text("«Поделиться»")
    expect(block).to_contain_text("На экран \"Домой\"")
    expect(patient.get_by_test_id("home-open-app")).to_have_attribute("href", "/app/")
    # Chromium offered its install prompt (beforeinstallprompt): the button shows
    expect(patient.get_by_test_id("app-install")).to_be_visible()
    ui.check(patient, "home-install")

    patient.get_by_test_id("home-open-app").click()
    expect(patient).to_have_url(re.compile(r"/app/region$"))
    controlled(patient)
    cdp = patient.context.new_cdp_session(patient)
    manifest: dict[str, Any] = cdp.send("Page.getAppManifest")
    assert manifest["url"] == f"{stand.url}/app/manifest.webmanifest"
    assert manifest["errors"] == [], manifest["errors"]
    parsed = json.loads(manifest["data"])
    assert (parsed["name"], parsed["start_url"], parsed["display"]) == (
        "К врачу", "/app/", "standalone")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [], errors
    ui.finish()


def test_the_app_opens_without_a_network_and_says_so(ui: Ui, stand: Stand) -> None:
    patient = ui.person("patient", phone=True)
    ui.goto(patient, "/")  # off the record, Chromium offers no install: no button
    expect(patient.get_by_test_id("home-install")).to_contain_text("На экран")
    expect(patient.get_by_test_id("app-install")).to_be_hidden()
    choose_region(ui, patient)
    controlled(patient)
    ui.check(patient, "app-login")

    patient.context.set_offline(True)
    patient.reload()
    expect(patient.get_by_role("heading", level=1)).to_have_text("Нет соединения с интернетом")
    expect(patient.get_by_test_id("app-offline")).to_be_visible()
    expect(patient.get_by_test_id("app-offline")).to_contain_text("Нет соединения с интернетом")
    expect(patient.get_by_test_id("app-retry")).to_be_visible()
    expect(patient).to_have_url(re.compile(r"/app/login$"))  # the page asked for, not another
    ui.check(patient, "app-offline")

    patient.get_by_test_id("app-retry").click()  # still offline: the same shell again
    expect(patient.get_by_role("heading", level=1)).to_have_text("Нет соединения с интернетом")
    patient.context.set_offline(False)
    patient.get_by_test_id("app-retry").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text("Вход")
    expect(patient.get_by_test_id("app-offline")).to_be_hidden()
    ui.finish()


def test_the_region_is_chosen_once_and_can_be_changed(ui: Ui, stand: Stand) -> None:
    patient = ui.person("patient", phone=True)
    choose_region(ui, patient)
    expect(patient.get_by_text(re.compile("^Регион: 127.0.0.1"))).to_be_visible()
    ui.goto(patient, "/app/")  # the next start: straight to the login
    expect(patient).to_have_url(re.compile(r"/app/login$"))
    patient.get_by_test_id("app-change-region").click()
    expect(patient).to_have_url(re.compile(r"/app/region$"))
    expect(patient.get_by_test_id("app-region")).to_contain_text("Выбран сейчас")
    ui.check(patient, "app-region-change")
    ui.finish()


def past_the_pin_offer(patient: Page) -> None:
    """A login lands on the offer to create a PIN (seed 3.4.2: «Создание PIN-кода»); the
    shell's tests go on to the start screen through the app's navigation (the PIN itself is
    test_app_quick_login's)."""
    expect(patient).to_have_url(re.compile(r"/app/welcome$"))
    expect(patient.get_by_role("heading", name="Создание PIN-кода")).to_be_visible()
    patient.get_by_role("navigation", name="Разделы приложения").get_by_role(
        "link", name="Главная").click()
    expect(patient).to_have_url(re.compile(r"/app/home$"))


def test_a_patient_logs_in_by_e_mail(ui: Ui, stand: Stand) -> None:
    patient = ui.person("patient", phone=True)
    choose_region(ui, patient)
    patient.get_by_label("E-mail").fill("patient@example.org")
    patient.get_by_label("Пароль").fill("not-the-password")
    patient.get_by_test_id("app-login-submit").click()
    expect(patient.get_by_test_id("message-error")).to_contain_text("Неверный логин или пароль.")
    ui.check(patient, "app-login-error")

    patient.get_by_label("Пароль").fill(PASSWORD)
    patient.get_by_test_id("app-login-submit").click()
    past_the_pin_offer(patient)
    expect(patient.get_by_test_id("current-user")).to_contain_text("Иванова")
    nav = patient.get_by_role("navigation", name="Разделы приложения")
    for name in ("Главная", "Документы", "MAX", "Поддержка"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.get_by_role("link", name="Главная")).to_have_attribute("aria-current", "page")
    ui.check(patient, "app-home")

    patient.get_by_test_id("logout").click()
    expect(patient).to_have_url(re.compile(r"/app/login\?msg=logged_out$"))
    expect(patient.get_by_test_id("message-success")).to_contain_text("Вы вышли из системы")
    ui.finish()


def test_a_patient_logs_in_through_esia_into_the_app(ui: Ui, stand: Stand) -> None:
    patient = ui.person("patient", phone=True)
    choose_region(ui, patient)
    patient.get_by_role("button", name="Войти через портал Госуслуг").click()
    expect(patient).to_have_url(re.compile(rf"^{re.escape(stand.esia_url)}/"))
    patient.get_by_label(re.compile(patient_name("demo-p1"))).check()
    ui.check(patient, "esia-login")
    patient.get_by_role("button", name="Войти", exact=True).click()
    expect(patient).to_have_url(re.compile(rf"^{re.escape(stand.url)}/app/welcome$"))
    past_the_pin_offer(patient)
    expect(patient.get_by_test_id("current-user")).to_contain_text("Иванова")
    ui.check(patient, "app-home-esia")
    ui.finish()


def test_a_failed_start_check_shows_the_fault_and_the_way_to_support(
        ui: Ui, stand: Stand) -> None:
    patient = ui.person("patient", phone=True)
    choose_region(ui, patient)

    def server_error(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json",
                      body='{"status": "fault", "services": {"database": "fault"}}')
    patient.route("**/app/api/health", server_error)
    patient.reload()
    fault = patient.get_by_test_id("app-fault")
    expect(fault).to_be_visible()
    expect(fault).to_contain_text("Сервис сейчас не отвечает")
    expect(fault.get_by_test_id("fault-support-link")).to_have_attribute("href", "/support")
    ui.check(patient, "app-fault")
    fault.get_by_test_id("fault-support-link").click()
    expect(patient).to_have_url(re.compile(r"/support$"))
    patient.go_back()
    patient.unroute("**/app/api/health", server_error)

    def unreachable(route: Route) -> None:
        route.abort("internetdisconnected")
    patient.route("**/app/api/health", unreachable)  # online, yet the server is not reached
    patient.reload()
    expect(patient.get_by_test_id("app-fault")).to_be_visible()
    patient.unroute("**/app/api/health", unreachable)

    def esia_down(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json",
                      body='{"status": "ok", "services": {"database": "ok", "esia": "fault"}}')
    patient.route("**/app/api/health", esia_down)
    patient.reload()
    expect(patient.get_by_test_id("app-fault")).to_contain_text(
        "Вход через Госуслуги сейчас недоступен")
    patient.unroute("**/app/api/health", esia_down)

    patient.reload()  # the real check: all well
    expect(patient.get_by_role("heading", level=1)).to_have_text("Вход")
    patient.wait_for_load_state("networkidle")
    expect(patient.get_by_test_id("app-fault")).to_be_hidden()
    ui.finish()


def test_the_app_at_desktop_width(ui: Ui, stand: Stand) -> None:
    """The same app in a desktop browser: the navigation sits under the title bar."""
    patient = ui.person("patient")
    choose_region(ui, patient)
    patient.get_by_label("E-mail").fill("patient@example.org")
    patient.get_by_label("Пароль").fill(PASSWORD)
    patient.get_by_test_id("app-login-submit").click()
    past_the_pin_offer(patient)
    nav = patient.get_by_role("navigation", name="Разделы приложения")
    bar = patient.get_by_test_id("app-title").bounding_box()
    box = nav.bounding_box()
    assert bar is not None and box is not None and box["y"] < bar["y"] + 200, (bar, box)
    ui.check(patient, "app-home-desktop")
    ui.finish()


def test_a_new_release_is_offered_and_taken_when_the_patient_agrees(
        ui: Ui, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))

    def release(name: str) -> Proc:
        made = Proc(f"release-{name}", [sys.executable, "-m", "tests.e2e.browser.app_release",
                                        "--port", str(port), "--database",
                                        str(tmp_path / "medsign.db"), "--release", name],
                    tmp_path, env, tmp_path)
        made.start()
        wait_answering(f"{url}/app/api/health", name=made.name,
                       alive=lambda: check_alive({made.name: made}),
                       describe=lambda: describe({made.name: made}))
        return made

    running = [release("one")]
    try:
        patient = ui.person("patient", phone=True)
        patient.goto(f"{url}/app/login")
        controlled(patient)
        assert patient.evaluate("() => caches.keys()") == ["k-vrachu-one"]
        expect(patient.get_by_test_id("app-update")).to_be_hidden()
        stop_all(running, 5)
        running.append(release("two"))

        patient.reload()  # the browser checks /app/sw.js: another release is there
        notice = patient.get_by_test_id("app-update")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("Доступна новая версия")
        ui.check(patient, "app-update")
        assert patient.evaluate("() => caches.keys()") == ["k-vrachu-one", "k-vrachu-two"]
        with patient.expect_navigation():
            patient.get_by_test_id("app-update-button").click()
        expect(patient.get_by_role("heading", level=1)).to_have_text("Вход")
        expect(patient.get_by_test_id("app-update")).to_be_hidden()
        assert patient.evaluate("() => caches.keys()") == ["k-vrachu-two"]
    finally:
        stop_all(running, 5)
    ui.finish()
