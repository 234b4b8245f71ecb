"""Serving the emulator on a real socket (``medsign emulate max``)."""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from medsign.clock import OffsetFileClock
from medsign.integrations.max.emulator.app import create_emulator
from medsign.integrations.max.emulator.config import EmulatorConfig

TEST_CLOCK_VARIABLE = "MEDSIGN_TEST_CLOCK_FILE"


def run(host: str, port: int, token: str, *, log_level: str = "info", **options: Any) -> None:
    """Blocks until interrupted. The service's ``max.base_url`` is ``http://{host}:{port}``;
    the users' page is ``/_emulator/``. ``options`` are :class:`EmulatorConfig` fields, e.g.
    ``state_dir``, ``insecure_webhooks=True`` (for a local ``http://`` webhook),
    ``bot_username``, ``rate_limit_rps=None``, ``webhook_time_scale``.

    With ``MEDSIGN_TEST_CLOCK_FILE`` set (and no ``clock`` given) the platform keeps the same
    movable time as the service processes of an end-to-end test: message timestamps, edit ages
    and update lifetimes follow the service's clock when a test jumps it forward, as the real
    platform's and the service's (NTP) clocks agree."""
    path = os.environ.get(TEST_CLOCK_VARIABLE)
    if path and "clock" not in options:
        clock = OffsetFileClock(path)
        options["clock"] = lambda: clock.now().timestamp()
    config = EmulatorConfig(token=token, **options)
    uvicorn.run(create_emulator(config), host=host, port=port, log_level=log_level,
                proxy_headers=False, server_header=False)
