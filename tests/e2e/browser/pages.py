"""``Ui``: people at browsers, and the checks every page they reach goes through.

Each person is a browser context of their own (their own cookies): a doctor at a desktop
(1280×900), or a patient on a phone (375×812, deviceScaleFactor 2, touch). ``Ui.check(page,
name)`` is called on every page a test reaches; it

- saves a screenshot ``<n>-<name>.png`` (full page) into the test's folder;
- runs axe-core and records every ``serious`` or ``critical`` violation, readably (lesser
  ones are printed as notes);
- renders the very same document (the DOM as it is now, at the same address, with the
  service's own CSS and scripts) in an iPhone-like context — 375 CSS px wide,
  deviceScaleFactor 2, ``isMobile`` — and records horizontal scrolling
  (``scrollWidth > innerWidth``, or wider than the device: a phone zooms out to fit a page
  that sticks out, which makes ``innerWidth`` grow), naming the elements that stick out; runs
  axe there too; that rendering is saved as ``<n>-<name>-375px.png`` (form fields show their
  initial values there: the copy is of the markup). A person who is on a phone already gets
  these checks on their own page;
- records what the browser complained about meanwhile on the service's pages: script errors,
  console errors (among them Content-Security-Policy refusals), static files that failed.

Problems are collected, not raised at once, so one run lists every page's; ``Ui.finish()``
fails the test with all of them. Pages of the emulators (Goskey, ESIA) are photographed and
measured too, but their findings are only printed: they are not the service's pages.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    Route,
    expect,
)

from tests.e2e.browser.stand import PASSWORD, Stand

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}
PHONE_WIDTH = 375
PHONE = {"viewport": {"width": PHONE_WIDTH, "height": 812}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                       "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 "
                       "Safari/604.1"}
COMMON = {"locale": "ru-RU", "timezone_id": "Europe/Moscow", "accept_downloads": True}
FAILING_IMPACTS = ("serious", "critical")
EXPECT_TIMEOUT_MS = 20_000
AXE = Axe()

# The elements that stick out to the right of the viewport (the last eight in document order:
# the innermost ones, usually the culprits).
_OVERFLOW_JS = """() => {
  // a phone zooms out to fit what sticks out, so innerWidth grows: measure against the device
  const limit = Math.min(window.innerWidth, document.documentElement.clientWidth);
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > limit + 0.5) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.className && typeof el.className === "string"
          ? "." + el.className.trim().split(/\\s+/).join(".") : "");
      out.push(name + " right=" + Math.round(r.right) + " width=" + Math.round(r.width));
    }
  }
  return out.slice(-8);
}"""
_WIDTHS_JS = """() => ({scroll: document.documentElement.scrollWidth,
                       inner: window.innerWidth,
                       client: document.documentElement.clientWidth})"""


@dataclass
class Person:
    name: str
    context: BrowserContext
    page: Page
    phone: bool


@dataclass
class Ui:
    browser: Browser
    stand: Stand
    folder: Path
    people: list[Person] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pages_checked: list[str] = field(default_factory=list)
    browser_path: str = ""  # the Chromium binary and its flags, for installing_person()
    browser_args: list[str] = field(default_factory=list)
    _shots: int = 0
    _phone: BrowserContext | None = None
    _phone_page: Page | None = None
    _complaints: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    # -- people ------------------------------------------------------------------------------
    def person(self, name: str, *, phone: bool = False) -> Page:
        """A new browser context (own cookies) with one page, at a desktop or on a phone."""
        context = self.browser.new_context(**(PHONE if phone else DESKTOP), **COMMON)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        page = context.new_page()
        self._listen(page)
        self.people.append(Person(name, context, page, phone))
        return page

    def installing_person(self, name: str, profile: Path) -> Page:
        """A patient on a phone whose browser has a profile of its own (``profile``: its
        folder) instead of an off-the-record context: Chromium offers to install an app only
        there ("in-incognito" otherwise)."""
        context = self.browser.browser_type.launch_persistent_context(
            profile, executable_path=self.browser_path, args=self.browser_args, headless=True,
            **PHONE, **COMMON)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        self._listen(page)
        self.people.append(Person(name, context, page, True))
        return page

    def _listen(self, page: Page) -> None:
        origin = (self.stand.url, self.stand.local_url)
        static = tuple(f"{o}/static/" for o in origin)

        def console(message: ConsoleMessage) -> None:
            # "Failed to load resource" also reports the expected 403/404/500 of error pages;
            # failed static files are caught below, by their responses.
            if message.type == "error" and page.url.startswith(origin) and \
                    not message.text.startswith("Failed to load resource"):
                self._complaints.append(f"console error on {page.url}: {message.text}")

        def page_error(error: Exception) -> None:
            if page.url.startswith(origin):
                self._complaints.append(f"script error on {page.url}: {error}")

        def response(r: Response) -> None:
            if r.url.startswith(static) and r.status >= 400:
                self._complaints.append(f"{r.url} answered {r.status}")

        def failed(r: Request) -> None:
            text = r.failure or ""
            # a test that takes the network away (the app's offline start) expects failures
            if r.url.startswith(origin) and "ERR_ABORTED" not in text and \
                    "ERR_INTERNET_DISCONNECTED" not in text:
                self._complaints.append(f"request {r.method} {r.url} failed: {text}")
        page.on("console", console)
        page.on("pageerror", page_error)
        page.on("response", response)
        page.on("requestfailed", failed)

    def goto(self, page: Page, path: str) -> Response | None:
        return page.goto(self.stand.url + path)

    def login(self, page: Page, login: str, *, name: str = "login") -> None:
        """The staff login form, checked, then filled in as ``login`` / ``demo``."""
        self.goto(page, "/login")
        self.check(page, name)
        page.get_by_label("Логин").fill(login)
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("current-user")).to_be_visible()

    def reload_until(self, page: Page, locator: Locator, *, timeout_s: float = 30) -> None:
        """For pages without a live region: reload (as a person would) until ``locator``
        shows up."""
        deadline = time.monotonic() + timeout_s
        while locator.count() == 0:
            assert time.monotonic() < deadline, f"{locator} did not show up on {page.url}"
            page.wait_for_timeout(500)  # the polling interval, not a wait for correctness
            page.reload()

    # -- checks ------------------------------------------------------------------------------
    def check(self, page: Page, name: str) -> None:
        """Photograph, audit (axe) and measure at 375 px the page as it is now."""
        page.wait_for_load_state("load")
        self._shots += 1
        label = f"{self._shots:02d}-{name}"
        ours = page.url.startswith((self.stand.url, self.stand.local_url))
        found = self.problems if ours else self.notes
        self.pages_checked.append(f"{label}: {page.url}")
        page.screenshot(path=self.folder / f"{label}.png", full_page=True)
        found.extend(self._axe(page, label))
        if self._is_phone(page):
            found.extend(self._overflow(page, label))
        else:
            found.extend(self._on_phone(page, label))
        if self._complaints:
            self.problems.extend(f"[{label}] {c}" for c in self._complaints)
            self._complaints.clear()

    def _is_phone(self, page: Page) -> bool:
        return any(p.page is page and p.phone for p in self.people)

    def _axe(self, page: Page, label: str) -> list[str]:
        results: dict[str, Any] = AXE.run(page).response
        out = []
        for v in results["violations"]:
            nodes = v["nodes"]
            line = (f"[{label}] axe {v['id']} ({v['impact']}): {v['help']} — "
                    f"{len(nodes)} element(s) — {v['helpUrl']}")
            for node in nodes[:5]:
                summary = " ".join((node.get("failureSummary") or "").split())
                line += (f"\n      at {', '.join(map(str, node['target']))}: "
                         f"{node['html'][:160]}\n        {summary[:300]}")
            (out if v["impact"] in FAILING_IMPACTS else self.notes).append(line)
        return out

    def _on_phone(self, page: Page, label: str) -> list[str]:
        """The same document at the same address, rendered in the iPhone-like context."""
        if self._phone is None:
            self._phone = self.browser.new_context(**PHONE, **COMMON)
            self._phone_page = self._phone.new_page()
        assert self._phone_page is not None
        phone = self._phone_page
        html = page.content()
        address = page.url.split("#", 1)[0]
        self._phone.clear_cookies()
        self._phone.add_cookies(page.context.cookies())  # live regions refresh as this person

        def same(url: str) -> bool:
            return url.split("#", 1)[0] == address

        def serve(route: Route) -> None:
            route.fulfill(status=200, body=html,
                          headers={"Content-Type": "text/html; charset=utf-8"})
        phone.route(same, serve)
        try:
            phone.goto(address, wait_until="load")
        finally:
            phone.unroute(same, serve)
        problems = self._overflow(phone, label) + self._axe(phone, f"{label}-{PHONE_WIDTH}px")
        phone.screenshot(path=self.folder / f"{label}-{PHONE_WIDTH}px.png", full_page=True)
        return problems

    def _overflow(self, page: Page, label: str) -> list[str]:
        widths = page.evaluate(_WIDTHS_JS)
        if widths["scroll"] <= widths["inner"] and widths["scroll"] <= PHONE_WIDTH:
            return []
        return [f"[{label}] scrolls sideways at {PHONE_WIDTH} px: {json.dumps(widths)}; "
                f"sticking out: {page.evaluate(_OVERFLOW_JS)}"]

    def finish(self) -> None:
        """Fail with every problem found on the pages checked (and print the notes)."""
        if self._complaints:
            self.problems.extend(f"[after the last check] {c}" for c in self._complaints)
            self._complaints.clear()
        report = "\n".join(self.notes)
        if report:
            print(f"notes (not failures):\n{report}")  # noqa: T201
        assert not self.problems, (
            f"{len(self.problems)} problem(s) on the pages of this test "
            f"(screenshots: {self.folder}):\n" + "\n".join(self.problems))

    def close(self) -> None:
        for p in self.people:
            p.context.close()
        if self._phone is not None:
            self._phone.close()
