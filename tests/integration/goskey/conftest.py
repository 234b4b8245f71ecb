"""The real Goskey client against the emulator, in-process through ``httpx.ASGITransport``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from medsign.crypto.keys import KeyPair, certificate_pem, issue_certificate, make_ca
from medsign.integrations.goskey import GoskeyClient
from medsign.integrations.goskey.emulator import EmulatorConfig, create_emulator
from medsign.integrations.goskey.emulator.operator import KEYS_DIR, Operator
from tests.integration.goskey.helpers import BASE, TOKEN, Stand


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def mo_ca() -> KeyPair:
    return make_ca("УЦ МО (тест)", organization="ГБУЗ Тестовая поликлиника")


@pytest.fixture(scope="session")
def mo_keys(mo_ca: KeyPair) -> KeyPair:
    return issue_certificate(mo_ca, common_name="ГБУЗ Тестовая поликлиника",
                             organization="ГБУЗ Тестовая поликлиника", ogrn="1027700132195",
                             inn="7707083893")


@pytest.fixture
def mo_trust_file(tmp_path: Path, mo_ca: KeyPair) -> Path:
    path = tmp_path / "mo-ca.pem"
    path.write_bytes(certificate_pem(mo_ca.certificate_der))
    return path


@pytest.fixture(scope="session")
def operator_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Operator keys made once: each stand starts from a copy (GOST keys cost ~0.1 s each)."""
    folder = tmp_path_factory.mktemp("goskey-keys")
    Operator.load_or_create(folder, name="Оператор (тест)")
    return folder / KEYS_DIR


@pytest.fixture
async def make_stand(tmp_path: Path, operator_keys: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_stand(**EmulatorConfig fields)``; by default with a fresh ``state_dir``
    holding the shared operator keys (pass ``state_dir=None`` for an in-memory emulator) and
    ``unknown_phones="invent"``."""
    opened: list[Stand] = []

    async def build(**options: Any) -> Stand:
        if "state_dir" not in options:
            options["state_dir"] = tmp_path / f"emulator-{len(opened)}"
            shutil.copytree(operator_keys, options["state_dir"] / KEYS_DIR)
        # these tests exercise the emulator alone, for arbitrary phones: the permissive rule
        options.setdefault("unknown_phones", "invent")
        app = create_emulator(EmulatorConfig(token=TOKEN, **options))
        transport = httpx.ASGITransport(app=app)
        stand = Stand(app, GoskeyClient(f"{BASE}/gov/pep", TOKEN, transport=transport),
                      httpx.AsyncClient(transport=transport, base_url=BASE))
        opened.append(stand)
        return stand

    yield build
    for stand in opened:
        await stand.client.aclose()
        await stand.control.aclose()
        stand.app.state.emulator.store.close()


@pytest.fixture
async def stand(make_stand: Callable[..., Any]) -> Stand:
    built: Stand = await make_stand()
    return built
