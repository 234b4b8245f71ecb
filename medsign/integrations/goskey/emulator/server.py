"""Serving the emulator on a real socket (``medsign emulate goskey``)."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from medsign.integrations.goskey.emulator.app import create_emulator
from medsign.integrations.goskey.emulator.config import EmulatorConfig
from medsign.integrations.goskey.emulator.platform import DroppedConnection


def run(host: str, port: int, token: str, *, state_dir: Path | None = None,
        mo_trust: tuple[Path, ...] = (), font_path: Path | None = None,
        rate_limit_per_s: float | None = None, expire_after_s: float | None = None,
        people_file: Path | None = None, unknown_phones: str = "refuse",
        log_level: str = "info") -> None:
    """Blocks until interrupted. The base URL for the service is
    ``http://{host}:{port}/gov/pep``; the patient's page is ``/_emulator/``."""
    config = EmulatorConfig(token=token, state_dir=state_dir, mo_trust=mo_trust,
                            font_path=font_path, rate_limit_per_s=rate_limit_per_s,
                            expire_after_s=expire_after_s, people_file=people_file,
                            unknown_phones=unknown_phones)
    server_config = uvicorn.Config(create_emulator(config), host=host, port=port,
                                   log_level=log_level, proxy_headers=False,
                                   server_header=False)
    # uvicorn logs an injected drop as a crash with a traceback; it is the intended behaviour
    logging.getLogger("uvicorn.error").addFilter(_quiet_drops)
    uvicorn.Server(server_config).run()


def _quiet_drops(record: logging.LogRecord) -> bool:
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))
