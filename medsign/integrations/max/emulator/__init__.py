"""An emulator of the MAX Bot API platform (spec ``max-bot-api.md``, §12 checklist).

``create_emulator(EmulatorConfig(token=...))`` gives an ASGI app for ``httpx.ASGITransport``
in tests; ``run(host, port, token, **options)`` serves it with uvicorn. See
``docs/max-emulator.md``.
"""

from medsign.integrations.max.emulator.app import create_emulator
from medsign.integrations.max.emulator.config import EmulatorConfig
from medsign.integrations.max.emulator.core import Emulator
from medsign.integrations.max.emulator.server import run

__all__ = ["Emulator", "EmulatorConfig", "create_emulator", "run"]
