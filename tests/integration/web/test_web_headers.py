"""The same security headers on every answer of the service and of each emulator (one
middleware, ``medsign.httpsafe.headers``), HSTS only in production, a favicon everywhere, and
``/api/docs`` built from files the service ships — no CDN, no inline script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.applications import Starlette

from medsign.app import create_app
from medsign.bootstrap import Container
from medsign.config import load_settings
from medsign.httpsafe.headers import CSP, HEADERS, HSTS
from medsign.integrations.esia.emulator import EmulatorConfig as EsiaConfig
from medsign.integrations.esia.emulator import create_emulator as esia_emulator
from medsign.integrations.goskey.emulator import EmulatorConfig as GoskeyConfig
from medsign.integrations.goskey.emulator import create_emulator as goskey_emulator
from medsign.integrations.max.emulator import EmulatorConfig as MaxConfig
from medsign.integrations.max.emulator import create_emulator as max_emulator
from medsign.web.config import WebSettings
from tests.integration.web import a11y

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def assert_secured(response: object, *, hsts: bool = False) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert ("strict-transport-security" in headers) is hsts
    if hsts:
        assert headers["strict-transport-security"] == HSTS


def assert_local_assets(client: TestClient, html: str) -> None:
    """Every script, style sheet and icon the page names is served here (no other host)."""
    assets = [a for a in ASSET.findall(html) if a.endswith((".js", ".css", ".svg", ".ico"))]
    assert assets, html
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        assert client.get(asset).status_code == 200, asset
    assert "/favicon.svg" in assets
    assert not [p for p in a11y.check(html) if p.startswith("inline")], html


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(engine, web=WebSettings(cookie_secure=False))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def test_pages_api_answers_and_static_files_carry_the_headers(client: TestClient) -> None:
    for path in ("/login", "/support", "/static/medsign.css", "/api/openapi.json",
                 "/api/v1/signing-requests", "/healthz", "/no-such-page"):
        assert_secured(client.get(path))
    assert "script-src 'self'" in CSP and "'unsafe-inline'" not in CSP


def test_no_hsts_outside_production_and_hsts_everywhere_in_it(engine: Engine) -> None:
    for profile, expected in (("development", False), ("demo", False), ("production", True)):
        # the profile alone (load_settings would also want production's secrets and keys)
        settings = load_settings(None, env={}).model_copy(update={"profile": profile})
        container = Container(settings, engine)
        try:
            with TestClient(container.app(), raise_server_exceptions=False) as c:
                for path in ("/login", "/api/openapi.json", "/favicon.ico"):
                    assert_secured(c.get(path), hsts=expected)
        finally:
            container.close()


def test_the_favicon_is_served_and_linked(client: TestClient) -> None:
    ico = client.get("/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    svg = client.get("/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert_secured(ico)
    assert_local_assets(client, client.get("/login").text)


def test_api_docs_are_served_from_the_package_under_the_csp(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_secured(page)
    # as words, not inside a random nonce or token
    outside = page.text.replace("http-equiv", "")
    assert not re.search(r"(?<![\w-])(cdn|https?)(?![\w-])", outside, flags=re.IGNORECASE)
    assert_local_assets(client, page.text)
    script = client.get("/api/docs/swagger-init.js").text
    assert '"/api/openapi.json"' in script and "validatorUrl: null" in script


def emulators(tmp_path: Path) -> list[tuple[str, Starlette, str]]:
    return [("max", max_emulator(MaxConfig(token="max-token")), "/_emulator/"),
            ("goskey", goskey_emulator(GoskeyConfig(token="gk-token", state_dir=tmp_path)),
             "/_emulator/"),
            ("esia", esia_emulator(EsiaConfig(client_id="MEDSIGN",
                                              redirect_urls=("https://portal.test/cb",))),
             "/aas/oauth2/ac")]  # no parameters: ESIA's error page


def test_every_emulator_page_gets_the_same_headers_and_a_favicon(tmp_path: Path) -> None:
    for name, app, page_path in emulators(tmp_path):
        with TestClient(app, raise_server_exceptions=False) as c:
            page = c.get(page_path)
            assert page.headers["content-type"].startswith("text/html"), (name, page.text)
            assert_secured(page)
            assert_local_assets(c, page.text)
            for icon in ("/favicon.ico", "/favicon.svg"):
                answer = c.get(icon)
                assert answer.status_code == 200, (name, icon)
                assert_secured(answer)
            assert_secured(c.get("/no-such-path"))  # JSON answers too
