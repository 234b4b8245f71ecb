"""Fixtures of the browser suite: the stand (real processes), headless Chromium, and ``ui`` —
the per-test helper that checks and photographs every page a test reaches.

Chromium is Debian's (``/usr/bin/chromium``: ``apt-get install chromium``; ``python3 run.py
test`` installs it when running as root). Playwright's own browser downloads are never used:
the machines that run this suite have no way out to the internet.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import ROOT, Stand
from tests.smtp import smtp_server

CHROMIUM = Path(os.environ.get("MEDSIGN_TEST_CHROMIUM", "/usr/bin/chromium"))
# The network is closed: nothing may try to reach out (QUIC, component updates, sync). CI
# containers have a small /dev/shm, where Chromium's renderers would crash: /tmp instead.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="package")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    with smtp_server() as inbox:
        made = Stand(tmp_path_factory.mktemp("browser-stand"), inbox=inbox)
        try:
            made.prepare()
            made.start()
            yield made
        finally:
            made.close()


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and every asyncio test after this package would fail on it.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium;"
                    " python3 run.py test does it when run as root) or point "
                    "MEDSIGN_TEST_CHROMIUM at a Chromium binary")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def ui(request: pytest.FixtureRequest, browser: Browser, stand: Stand) -> Iterator[Ui]:
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    made = Ui(browser, stand, folder, browser_path=str(CHROMIUM), browser_args=CHROMIUM_ARGS)
    try:
        yield made
    finally:
        made.close()
