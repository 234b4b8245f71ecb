"""Shared pieces of the ESIA integration tests: the stand (emulator + real client + browser)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from medsign.clock import FakeClock
from medsign.crypto import Signer
from medsign.integrations.esia import AuthorizationRequest, EsiaClient, read_callback
from medsign.integrations.esia.emulator.core import Emulator

BASE = "http://esia.test"
CLIENT_ID = "MEDSIGN"
REDIRECT = "https://portal.test/login/esia/callback"
ANNA = "1000299654"
_REQUEST_ID = re.compile(r'name="request_id" value="([^"]+)"')


@dataclass
class Stand:
    app: Starlette
    client: EsiaClient
    browser: httpx.AsyncClient  # the user's browser and the tests' control-API caller
    clock: FakeClock
    signer: Signer  # the client system's
    transport: httpx.ASGITransport

    def other_client(self, *, client_id: str = CLIENT_ID, redirect: str = REDIRECT,
                     **options: Any) -> EsiaClient:
        """Another client of the same emulator (close it: ``async with``)."""
        options.setdefault("signer", self.signer)
        return EsiaClient(BASE, client_id, redirect, transport=self.transport,
                          clock=self.clock.now, **options)

    @property
    def emulator(self) -> Emulator:
        emulator: Emulator = self.app.state.emulator
        return emulator

    async def open_login(self, url: str) -> str:
        """GET ESIA's authorization URL; return the login page's request id."""
        page = await self.browser.get(url)
        assert page.status_code == 200, page.text
        found = _REQUEST_ID.search(page.text)
        assert found, page.text
        return found.group(1)

    async def choose(self, request_id: str, oid: str = ANNA, *,
                     action: str = "login") -> httpx.Response:
        return await self.browser.post("/aas/oauth2/login", data={
            "request_id": request_id, "oid": oid, "action": action})

    async def login(self, oid: str = ANNA) -> tuple[AuthorizationRequest, dict[str, str]]:
        """The whole browser part: ESIA's page, choose ``oid``; the redirect's query."""
        request = self.client.authorization_request()
        answer = await self.choose(await self.open_login(request.url), oid)
        return request, redirect_query(answer)

    async def code(self, oid: str = ANNA) -> tuple[str, str]:
        """``(code, state)`` of a successful login, the state already checked."""
        request, query = await self.login(oid)
        return read_callback(query, expected_state=request.state), request.state

    async def control(self, path: str) -> Any:
        answer = await self.browser.get(f"/_emulator{path}")
        assert answer.status_code == 200, answer.text
        return answer.json()


def redirect_query(answer: httpx.Response, *, to: str = REDIRECT) -> dict[str, str]:
    """The query of a 302 back to the client system (and nothing else)."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(f"{to}?"), location
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
