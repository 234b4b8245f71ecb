"""Serving the emulator on a real socket (``medsign emulate max``)."""

from __future__ import annotations

from typing import Any

import uvicorn

from medsign.integrations.max.emulator.app import create_emulator
from medsign.integrations.max.emulator.config import EmulatorConfig


def run(host: str, port: int, token: str, *, log_level: str = "info", **options: Any) -> None:
    """Blocks until interrupted. The service's ``max.base_url`` is ``http://{host}:{port}``;
    the users' page is ``/_emulator/``. ``options`` are :class:`EmulatorConfig` fields, e.g.
    ``state_dir``, ``insecure_webhooks=True`` (for a local ``http://`` webhook),
    ``bot_username``, ``rate_limit_rps=None``, ``webhook_time_scale``."""
    config = EmulatorConfig(token=token, **options)
    uvicorn.run(create_emulator(config), host=host, port=port, log_level=log_level,
                proxy_headers=False, server_header=False)
