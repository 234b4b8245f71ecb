"""An emulator of the Goskey ПЭП partner platform (spec ``goskey-pep-api.md`` §4).

``create_emulator(EmulatorConfig(token=...))`` gives an ASGI app for ``httpx.ASGITransport``
in tests; ``run(host, port, token)`` serves it with uvicorn.
"""

from medsign.integrations.goskey.emulator.app import create_emulator
from medsign.integrations.goskey.emulator.config import EmulatorConfig, FontNotFound
from medsign.integrations.goskey.emulator.server import run

__all__ = ["EmulatorConfig", "FontNotFound", "create_emulator", "run"]
