"""A signing stand in one process: the service's worker and API against the Goskey emulator
through ``httpx.ASGITransport``, on the test database, with a clock the test moves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign.bootstrap import Container
from medsign.clock import FakeClock
from medsign.config import load_settings
from medsign.integrations.goskey.emulator import EmulatorConfig, create_emulator
from medsign.signing.signers import development_keys
from tests import factories as f

TOKEN = "partner-token-for-tests"
# Polling and retry timings of the in-process stands (their clock is a FakeClock, moved by
# the tests); the bot's stand uses them too.
FAST_RUNNER_ENV = {
    "MEDSIGN_SIGNING__POLL_INTERVAL": "10s",
    "MEDSIGN_SIGNING__POLL_INTERVAL_MAX": "1m",
    "MEDSIGN_RUNNER__POLL_INTERVAL": "0.01",
    "MEDSIGN_RUNNER__LEASE": "10s",
    "MEDSIGN_RUNNER__BACKOFF_BASE": "1s",
    "MEDSIGN_RUNNER__BACKOFF_CAP": "2s",
    "MEDSIGN_RUNNER__MAX_ATTEMPTS": "3",
}
SETTINGS_ENV = {
    "MEDSIGN_GOSKEY__BASE_URL": "http://goskey.test/gov/pep",
    "MEDSIGN_GOSKEY__TOKEN": TOKEN,
    **FAST_RUNNER_ENV,
}


@dataclass
class SigningStand:
    container: Container
    clock: FakeClock
    emulator: Any
    api: TestClient

    def run_worker(self) -> None:
        """Run the worker until nothing is due at the stand's current (fake) time."""
        worker = self.container.worker()
        asyncio.run(worker.run(asyncio.Event(), until_idle=True))

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(self.emulator),
                                         base_url="http://goskey.test") as c:
                return await c.request(method, f"/_emulator{path}", json=body)
        return asyncio.run(call())

    def start_signing(self, appointment: str = "a1") -> str:
        r = self.api.post(f"/api/v1/organizations/mo1/appointments/{appointment}/signing-requests")
        assert r.status_code == 201, r.text
        rid: str = r.json()["id"]
        return rid

    def request(self, rid: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get(f"/api/v1/signing-requests/{rid}").json()
        return result


def build_stand(engine: Engine, tmp_path: Path, *, settings_env: dict[str, str] | None = None,
                **emulator: Any) -> SigningStand:
    """``settings_env`` adds to :data:`SETTINGS_ENV`; the key store is ``<tmp_path>/keys``,
    with the MO's development identity in ``mo1/dev/`` and the development CA at its root."""
    org = f.organization()
    ca, _, _ = development_keys(tmp_path / "keys", code="mo1", name=org["name"],
                                ogrn=org["ogrn"], inn=org["inn"])
    app = create_emulator(EmulatorConfig(token=TOKEN, state_dir=tmp_path / "goskey",
                                         mo_trust=(ca,), **emulator))
    clock = FakeClock(f.now_utc())
    settings = load_settings(None, env={**SETTINGS_ENV, **(settings_env or {})})
    container = Container(settings, engine, clock=clock,
                          keys_dir=tmp_path / "keys", journal_dir=tmp_path / "journal",
                          operator_ca=tmp_path / "goskey" / "operator-ca.pem",
                          goskey_transport=httpx.ASGITransport(app))
    api = TestClient(container.app(), raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {f.token(engine)}"
    assert api.put("/api/v1/organizations/mo1", json=org).status_code == 201
    assert api.put("/api/v1/organizations/mo1/patients/p1", json=f.patient()).status_code == 201
    assert api.put("/api/v1/organizations/mo1/appointments/a1",
                   json=f.appointment()).status_code == 201
    stand = SigningStand(container, clock, app, api)
    # the patient's Госуслуги account: the platform fills the documents from it
    assert stand.control("POST", "/people", f.goskey_person(f.patient())).status_code == 201
    return stand
