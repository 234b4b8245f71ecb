"""``medsign demo`` makes the web usable at once: demo accounts and the addresses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign import bootstrap, demo
from medsign.accounts.sessions import SessionPolicy
from medsign.app import create_app
from medsign.config import Settings
from tests.integration.web import stand

PORTS = demo.Ports(host="127.0.0.1", api=8000, goskey=8100, max=8200)


@pytest.fixture
def container(db_url: str) -> Iterator[bootstrap.Container]:
    with bootstrap.build(demo.demo_settings(Settings(), database=db_url, ports=PORTS)) as built:
        yield built


def test_the_demo_accounts_log_in_with_demo(container: bootstrap.Container,
                                            engine: Engine) -> None:
    info = demo.seed(container)
    web = container.web_settings()
    assert web.allow_demo_passwords and not web.cookie_secure and web.esia is not None
    assert web.sessions == SessionPolicy()
    app = create_app(container.engine, clock=container.clock, web=web)
    with TestClient(app, follow_redirects=False) as c:
        for login, home in (("doctor", "/doctor"), ("operator", "/console"),
                            ("admin", "/console")):
            c.cookies.clear()
            assert stand.login(c, login, "demo").status_code == 303
            assert c.get("/after-login").headers["location"] == home
            assert c.get(home).status_code == 200
        c.cookies.clear()
        assert stand.login(c, "patient", "demo", path="/portal/login").status_code == 303
        assert "Иванова Мария Петровна" in c.get("/portal").text
    banner = demo.banner(PORTS, info)
    for address in ("http://127.0.0.1:8000/login", "http://127.0.0.1:8000/doctor",
                    "http://127.0.0.1:8000/console", "http://127.0.0.1:8000/portal",
                    "http://127.0.0.1:8300"):
        assert address in banner


def test_outside_the_demo_profile_no_demo_accounts_are_made(db_url: str,
                                                            engine: Engine) -> None:
    settings = demo.demo_settings(Settings(), database=db_url, ports=PORTS)
    with bootstrap.build(settings.model_copy(update={"profile": "development"})) as container:
        demo.seed(container)
        app = create_app(container.engine, clock=container.clock, web=container.web_settings())
        with TestClient(app, follow_redirects=False) as c:
            assert stand.login(c, "doctor", "demo").status_code == 401
