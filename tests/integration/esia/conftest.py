"""The real ESIA client against the emulator, in-process through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from medsign.clock import FakeClock
from medsign.crypto import KeyPair, TrustStore, issue_certificate, make_ca
from medsign.crypto.signers import PureSigner
from medsign.integrations.esia import EsiaClient
from medsign.integrations.esia.emulator import EmulatorConfig, create_emulator
from tests.integration.esia.helpers import BASE, CLIENT_ID, REDIRECT, Stand


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def system_ca() -> KeyPair:
    return make_ca("УЦ информационной системы (тест)", organization="ГБУЗ Тестовая поликлиника")


@pytest.fixture(scope="session")
def system_keys(system_ca: KeyPair) -> KeyPair:
    """The client system's certificate as registered in ESIA."""
    return issue_certificate(system_ca, common_name="Портал medsign (тест)",
                             organization="ГБУЗ Тестовая поликлиника", ogrn="1027700132195",
                             inn="7707083893")


@pytest.fixture(scope="session")
def trust(system_ca: KeyPair) -> TrustStore:
    return TrustStore.from_certificates([system_ca.certificate_der])


@pytest.fixture
async def make_stand(system_keys: KeyPair, trust: TrustStore
                     ) -> AsyncIterator[Callable[..., Any]]:
    """``await make_stand(signer=..., client=dict(...), **EmulatorConfig fields)``: a fresh
    emulator trusting the system CA, with one fake clock shared by both sides."""
    opened: list[Stand] = []

    async def build(*, signer: Any = None, client: dict[str, Any] | None = None,
                    **options: Any) -> Stand:
        clock = FakeClock(datetime.now(UTC))  # the certificates are valid from now
        options = {"client_id": CLIENT_ID, "redirect_urls": (REDIRECT,), "trust": trust,
                   "clock": clock.now, **options}
        app = create_emulator(EmulatorConfig(**options))
        transport = httpx.ASGITransport(app=app)
        signer = signer or PureSigner(system_keys)
        esia = EsiaClient(BASE, CLIENT_ID, REDIRECT, signer=signer, transport=transport,
                          clock=clock.now, **(client or {}))
        stand = Stand(app, esia, httpx.AsyncClient(transport=transport, base_url=BASE), clock,
                      signer, transport)
        opened.append(stand)
        return stand

    yield build
    for stand in opened:
        await stand.client.aclose()
        await stand.browser.aclose()


@pytest.fixture
async def stand(make_stand: Callable[..., Any]) -> Stand:
    built: Stand = await make_stand()
    return built
