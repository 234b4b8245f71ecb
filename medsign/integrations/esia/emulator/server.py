"""Serving the emulator on a real socket (``medsign emulate esia``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn

from medsign.integrations.esia.emulator.app import create_emulator
from medsign.integrations.esia.emulator.config import EmulatorConfig


def run(host: str, port: int, *, client_id: str, redirect_urls: tuple[str, ...],
        trust: tuple[Path, ...] = (), state_dir: Path | None = None, log_level: str = "info",
        **options: Any) -> None:
    """Blocks until interrupted. The service's ``esia.base_url`` is ``http://{host}:{port}``;
    ``options`` are the other :class:`EmulatorConfig` fields (``code_ttl_s``, ...)."""
    config = EmulatorConfig(client_id=client_id, redirect_urls=tuple(redirect_urls),
                            trust=tuple(trust), state_dir=state_dir, **options)
    uvicorn.Server(uvicorn.Config(create_emulator(config), host=host, port=port,
                                  log_level=log_level, proxy_headers=False,
                                  server_header=False)).run()
