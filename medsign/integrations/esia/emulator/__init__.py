"""An emulator of ESIA (Госуслуги) for the portal's login: OAuth 2.0 endpoints, its own login
page with test people, the person's data, and a control API.

``create_emulator(EmulatorConfig(client_id=..., redirect_urls=(...,)))`` gives an ASGI app for
``httpx.ASGITransport`` in tests; ``run(host, port, client_id=..., redirect_urls=...)`` serves
it with uvicorn. What is emulated and what is assumed: ``docs/esia.md``.
"""

from medsign.integrations.esia.emulator.app import create_emulator
from medsign.integrations.esia.emulator.config import DEFAULT_PERSONS, EmulatorConfig
from medsign.integrations.esia.emulator.model import TestPerson
from medsign.integrations.esia.emulator.server import run

__all__ = ["DEFAULT_PERSONS", "EmulatorConfig", "TestPerson", "create_emulator", "run"]
