"""``/api/docs`` in a real browser, with the service on a real socket: Swagger UI renders the
API's operations from files the service ships, asks no other host for anything (the machines
that run it have no internet, nor will a clinic's closed network), and the page's CSP refuses
nothing (no inline script or style it depends on)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, expect

from medsign.app import create_app
from medsign.db.engine import make_engine
from medsign.db.models import Base
from tests.e2e.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """The application under uvicorn on a port of 127.0.0.1, in a thread."""
    engine = make_engine(f"sqlite:///{tmp_path / 'docs.db'}")
    Base.metadata.create_all(engine)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or None, timeout=20, what="the server to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        engine.dispose()


def test_api_docs_render_offline_under_the_csp(browser: Browser, service: str) -> None:
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    requested: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("requestfailed", lambda r: complaints.append(f"failed: {r.url}"))
    page.on("console", lambda m: _note(m, complaints))
    page.on("pageerror", lambda e: complaints.append(f"script error: {e}"))
    try:
        with page.expect_response(lambda r: r.url.endswith("/api/openapi.json")) as spec:
            page.goto(f"{service}/api/docs")
        assert spec.value.status == 200
        expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any(p.startswith("/api/v1/signing-requests") for p in paths), paths
        assert any(p.startswith("/api/v1/organizations/") for p in paths), paths
        expect(page.locator(".info .title")).to_contain_text("medsign")
        page.locator(".opblock").first.click()  # an operation opens: the UI is alive
        expect(page.locator(".opblock.is-open")).to_have_count(1)
    finally:
        context.close()
    outside = [url for url in requested
               if not url.startswith(service + "/") and not url.startswith("data:")]
    assert outside == [], outside
    assert f"{service}/favicon.svg" in requested or f"{service}/favicon.ico" in requested
    assert complaints == [], complaints


def _note(message: ConsoleMessage, complaints: list[str]) -> None:
    if message.type == "error":
        complaints.append(f"console: {message.text}")


