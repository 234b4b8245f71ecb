"""The shell of the app «К врачу»: the manifest and icons, the service worker and what it
caches, the region choice and the start routing of ``/app/``, the app's login (e-mail and
password; ESIA returning into the app), and the health check the shell runs at start."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign import bootstrap
from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.config import load_settings
from medsign.crypto import KeyPair
from medsign.crypto.signers import PureSigner
from medsign.db.models import WebSessionRow
from medsign.domain.app_regions import Region, Service
from medsign.health import HealthRecorder
from medsign.integrations.esia import EsiaClient
from medsign.integrations.esia.emulator import EmulatorConfig, create_emulator
from medsign.web.app import shell
from medsign.web.config import AppShell, WebSettings
from tests.integration.web import stand
from tests.integration.web.test_web_esia import (  # noqa: F401  (a fixture)
    ESIA,
    MARIA,
    PERSONS,
    REDIRECT,
    Round,
    system_keys,
)

HERE = "http://testserver"
OTHER = "https://medsign.tula.example"
REGIONS = (Region("Московская область", HERE, (Service.signing, Service.esia)),
           Region("Тульская область", OTHER, (Service.signing, Service.max)))


@pytest.fixture
def web_settings() -> WebSettings:
    return WebSettings(cookie_secure=False, app=AppShell(public_url=HERE, regions=REGIONS))


def png_size(content: bytes) -> tuple[int, int]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n" and content[12:16] == b"IHDR"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


def chosen(client: TestClient, url: str = HERE) -> TestClient:
    page = client.get("/app/region")
    r = client.post("/app/region", data={"url": url, "csrf_token": stand.csrf(page)})
    assert r.status_code == 303 and r.headers["location"] == "/app/", r.text
    return client


# -- manifest, icons, service worker ----------------------------------------------------------

def test_the_manifest_names_the_app_in_russian_and_its_icons_exist(client: TestClient) -> None:
    r = client.get("/app/manifest.webmanifest")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/manifest+json"
    m = r.json()
    assert (m["name"], m["lang"], m["start_url"], m["scope"], m["id"], m["display"]) == (
        "К врачу", "ru", "/app/", "/app/", "/app/", "standalone")
    sizes = {(i["sizes"], i["purpose"]) for i in m["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in m["icons"]:
        got = client.get(icon["src"])
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert "x".join(map(str, png_size(got.content))) == icon["sizes"], icon


def test_the_app_name_comes_from_the_configuration(app: FastAPI, client: TestClient) -> None:
    app.state.web = replace(app.state.web, app=replace(app.state.web.app, name="Запись к врачу",
                                                       short_name="Запись"))
    m = client.get("/app/manifest.webmanifest").json()
    assert (m["name"], m["short_name"]) == ("Запись к врачу", "Запись")
    assert "<title>Вход — Запись к врачу</title>" in client.get("/app/login").text


def test_the_service_worker_is_never_cached_and_precaches_only_the_shell(
        client: TestClient) -> None:
    r = client.get("/app/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert "service-worker-allowed" not in r.headers  # served from /app/: its scope is /app/
    assert f'var CACHE = "k-vrachu-{shell.version()}";' in r.text
    listed = json.loads(re.search(r"var PRECACHE = (\[.*?\]);", r.text).group(1))  # type: ignore[union-attr]
    assert listed == shell.precache() and listed[0] == "/app/offline"
    assert all(u == "/app/offline" or u.startswith("/static/") for u in listed)
    for url in listed:
        assert client.get(url).status_code == 200, url


def test_the_offline_shell_holds_nothing_personal(client: TestClient,
                                                  seeded: stand.Seeded) -> None:
    stand.logged_in(client, "pat1", path="/portal/login")
    page = client.get("/app/offline")
    assert page.status_code == 200 and "Нет соединения с интернетом" in page.text
    assert 'data-testid="app-retry"' in page.text
    assert "csrf" not in page.text and "Выйти" not in page.text
    assert "data-health-url" not in page.text  # offline, the start check would only fail
    assert "Иванова" not in page.text


def test_the_version_follows_the_content_of_the_cached_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = shell.version()
    copy = tmp_path / "static"
    for name in shell.STATIC_FILES:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((shell.STATIC / name).read_bytes())
    monkeypatch.setattr(shell, "STATIC", copy)
    shell.version.cache_clear()
    try:
        assert shell.version() == first
        (copy / "app/app.css").write_bytes(b"/* the next release */")
        shell.version.cache_clear()
        assert shell.version() != first
    finally:
        shell.version.cache_clear()


# -- region choice and the start routing -----------------------------------------------------

def test_the_first_start_asks_for_the_region(client: TestClient) -> None:
    r = client.get("/app/")
    assert r.status_code == 303 and r.headers["location"] == "/app/region"
    page = client.get("/app/region").text
    assert "Московская область" in page and "Тульская область" in page
    assert "Подписание документов онлайн" in page and "Уведомления в MAX" in page
    assert "Вход через Госуслуги" in page


def test_the_choice_is_remembered_and_leads_to_the_login(client: TestClient) -> None:
    chosen(client)
    cookie = next(c for c in client.cookies.jar if c.name == "medsign_region")
    assert cookie.value == "http%3A%2F%2Ftestserver" and cookie.expires is not None
    assert cookie.expires - datetime.now().timestamp() > 300 * 86400
    assert client.get("/app/").headers["location"] == "/app/login"
    login = client.get("/app/login").text
    assert "Регион: Московская область" in login and 'href="/app/region"' in login


def test_another_region_opens_its_own_installation(client: TestClient) -> None:
    chosen(client, OTHER)
    r = client.get("/app/")
    assert r.headers["location"] == f"{OTHER}/app/?region=https%3A%2F%2Fmedsign.tula.example"


def test_the_installation_that_was_chosen_elsewhere_remembers_itself(
        client: TestClient) -> None:
    r = client.get("/app/", params={"region": HERE})
    assert r.headers["location"] == "/app/login"
    assert client.get("/app/").headers["location"] == "/app/login"


def test_a_region_named_in_the_address_cannot_send_the_patient_elsewhere(
        client: TestClient) -> None:
    r = client.get("/app/", params={"region": OTHER})
    assert r.headers["location"] == "/app/region" and "medsign_region" not in client.cookies


def test_a_region_not_in_the_list_is_refused_and_changes_nothing(client: TestClient) -> None:
    page = client.get("/app/region")
    r = client.post("/app/region", data={"url": "https://evil.example",
                                         "csrf_token": stand.csrf(page)})
    assert r.status_code == 400 and "Такого региона нет в списке" in r.text
    assert "medsign_region" not in client.cookies
    forged = client.post("/app/region", data={"url": HERE})
    assert forged.status_code == 403 and "medsign_region" not in client.cookies


def test_a_bound_device_goes_to_the_quick_login(client: TestClient) -> None:
    chosen(client)
    client.cookies.set("medsign_app_device", "some-device-id")
    assert client.get("/app/").headers["location"] == "/app/unlock"


def test_a_staff_login_device_is_no_bound_app_device(client: TestClient) -> None:
    """The login-device token of a browser that once logged in is not quick login."""
    chosen(client)
    client.cookies.set("medsign_device", "some-device-token")
    assert client.get("/app/").headers["location"] == "/app/login"


def test_a_signed_in_patient_goes_home(client: TestClient, seeded: stand.Seeded) -> None:
    chosen(client)
    stand.logged_in(client, "pat1", path="/portal/login")
    assert client.get("/app/").headers["location"] == "/app/home"
    assert client.get("/app/login").headers["location"] == "/app/home"


# -- the app's login ---------------------------------------------------------------------------

def app_login(client: TestClient, email: str, password: str = stand.PASSWORD) -> httpx.Response:
    page = client.get("/app/login")
    answer: httpx.Response = client.post("/app/login", data={
        "email": email, "password": password, "csrf_token": stand.csrf(page)})
    return answer


def test_login_by_e_mail_leads_to_the_welcome(client: TestClient, seeded: stand.Seeded) -> None:
    r = app_login(client, "PAT1@example.org")
    assert r.status_code == 303 and r.headers["location"] == "/app/welcome"
    welcome = client.get("/app/welcome")  # a device not bound yet: the PIN is offered
    assert welcome.status_code == 200 and "Создание PIN-кода" in welcome.text
    home = client.get("/app/home")
    assert home.status_code == 200 and 'aria-label="Разделы приложения"' in home.text
    out = client.post("/app/logout", data={"csrf_token": stand.csrf(home)})
    assert out.headers["location"] == "/app/login?msg=logged_out"
    assert client.get("/app/home").headers["location"] == "/app/login?next=%2Fapp%2Fhome"


def test_a_wrong_password_says_what_the_portal_says(client: TestClient,
                                                    seeded: stand.Seeded) -> None:
    r = app_login(client, "pat1@example.org", "wrong")
    assert r.status_code == 401 and "Неверный логин или пароль." in r.text
    assert 'data-testid="message-error"' in r.text and 'value="pat1@example.org"' in r.text
    assert client.get("/app/home").status_code == 303


def test_the_login_screen_offers_esia_and_the_forgotten_password(client: TestClient) -> None:
    page = client.get("/app/login").text
    assert 'href="/portal/password/forgot"' in page and "Забыли пароль?" in page
    assert 'data-testid="esia-login"' not in page  # ESIA is not configured in this app


# -- ESIA into the app -------------------------------------------------------------------------

class Unplugged(httpx.AsyncBaseTransport):
    """ESIA as the server reaches it: the emulator, until the cable is pulled."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.down = inner, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("ESIA unreachable", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def esia_line() -> list[Unplugged]:
    return []


@pytest.fixture
def esia_app(engine: Engine, clock: FakeClock, seeded: stand.Seeded,
             system_keys: KeyPair, esia_line: list[Unplugged]) -> Iterator[Round]:  # noqa: F811
    emulator = create_emulator(EmulatorConfig(client_id="MEDSIGN", redirect_urls=(REDIRECT,),
                                              persons=PERSONS))
    line = Unplugged(httpx.ASGITransport(app=emulator))
    esia_line.append(line)

    def client() -> EsiaClient:
        return EsiaClient(ESIA, "MEDSIGN", REDIRECT, signer=PureSigner(system_keys),
                          transport=line)
    health = HealthRecorder(engine, clock)
    app = create_app(engine, clock=clock, web=WebSettings(
        cookie_secure=False, esia=client, health=health,
        app=AppShell(public_url=HERE, regions=REGIONS)))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as portal, \
            TestClient(emulator, base_url=ESIA, follow_redirects=False) as esia:
        yield Round(portal, esia, health)
    health.close()  # its thread must not write into the next test's database


def esia_start(trip: Round, next_path: str) -> str:
    page = trip.portal.get("/app/login")
    assert 'data-testid="esia-login"' in page.text and "Войти через портал Госуслуг" in page.text
    assert 'name="next" value="/app/welcome"' in page.text
    r = trip.portal.post("/portal/esia/start",
                         data={"csrf_token": stand.csrf(page), "next": next_path})
    assert r.status_code == 303 and r.headers["location"].startswith(ESIA), r.text
    location: str = r.headers["location"]
    return location


def test_esia_returns_into_the_app(esia_app: Round, engine: Engine) -> None:
    back = esia_app.at_esia(esia_start(esia_app, "/app/welcome"), MARIA)
    r = esia_app.portal.get(back)
    assert r.status_code == 303 and r.headers["location"] == "/app/welcome"
    assert esia_app.portal.get("/app/").headers["location"] == "/app/region"  # not chosen yet
    with Session(engine) as db:  # nothing of the round trip is left in any session
        for row in db.query(WebSessionRow):
            assert not {"esia_state", "esia_next"} & set(row.data or {})


@pytest.mark.parametrize("unsafe", ["https://evil.example/app/", "//evil.example/app/",
                                    "/\\evil.example"])
def test_only_a_local_next_survives_the_round_trip(esia_app: Round, unsafe: str) -> None:
    back = esia_app.at_esia(esia_start(esia_app, unsafe), MARIA)
    assert esia_app.portal.get(back).headers["location"] == "/portal"


def test_the_portal_login_carries_its_next_through_esia_too(esia_app: Round) -> None:
    page = esia_app.portal.get("/portal/login", params={"next": "/portal/max"})
    form = page.text.split('data-testid="esia-form"', 1)[1]
    assert 'name="next" value="/portal/max"' in form
    r = esia_app.portal.post("/portal/esia/start",
                             data={"csrf_token": stand.csrf(page), "next": "/portal/max"})
    back = esia_app.at_esia(r.headers["location"], MARIA)
    assert esia_app.portal.get(back).headers["location"] == "/portal/max"


def test_a_failure_started_from_the_app_shows_on_the_app_login(esia_app: Round) -> None:
    back = esia_app.at_esia(esia_start(esia_app, "/app/welcome"), MARIA, action="cancel")
    r = esia_app.portal.get(back)
    assert r.status_code == 403 and "Вход через Госуслуги отменён" in r.text
    assert 'data-testid="app-login-form"' in r.text


def test_esia_unavailable_is_a_fault_with_the_way_to_support(
        esia_app: Round, esia_line: list[Unplugged]) -> None:
    back = esia_app.at_esia(esia_start(esia_app, "/app/welcome"), MARIA)
    esia_line[0].down = True  # the code is back, but the token exchange cannot reach ESIA
    r = esia_app.portal.get(back)
    assert r.status_code == 503 and 'data-testid="app-login-form"' in r.text
    assert "Госуслуги временно недоступны" in r.text
    assert 'data-testid="message-fault"' in r.text and "fault-support-link" in r.text
    assert esia_app.portal.get("/app/home").status_code == 303  # not signed in


# -- the health check ----------------------------------------------------------------------------

def test_the_health_check_says_ok_without_personal_data(client: TestClient) -> None:
    r = client.get("/app/api/health")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == {"status": "ok", "services": {"database": "ok", "esia": "off"}}
    assert "set-cookie" not in r.headers


def test_the_health_check_reports_esia_down(esia_app: Round) -> None:
    assert esia_app.portal.get("/app/api/health").json()["services"]["esia"] == "ok"
    for _ in range(3):
        esia_app.health.observe("esia", "token", "transient")
    esia_app.health.flush()
    r = esia_app.portal.get("/app/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "services": {"database": "ok", "esia": "fault"}}


def test_the_health_check_fails_when_the_database_does_not_answer(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from medsign.web.app import assets
    monkeypatch.setattr(assets, "reachable", lambda engine: False)
    r = client.get("/app/api/health")
    assert r.status_code == 503 and r.json()["status"] == "fault"


# -- the default list -------------------------------------------------------------------------

def test_without_a_list_the_region_is_this_installation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"MEDSIGN_SERVER__PUBLIC_URL": "https://medsign.example.ru",
           "MEDSIGN_MAX__TOKEN": "a-token-of-the-max-bot"}
    container = bootstrap.build(load_settings(env=env))
    try:
        app = container.web_settings().app
        named = bootstrap.build(load_settings(env={**env, "MEDSIGN_APP__REGION": "Тула"}))
        named_app = named.web_settings().app
        named.close()
    finally:
        container.close()
    assert app.public_url == "https://medsign.example.ru"
    assert app.regions == (Region("medsign.example.ru", "https://medsign.example.ru",
                                  (Service.signing, Service.max)),)
    assert named_app.regions[0].name == "Тула"
