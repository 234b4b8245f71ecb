"""``create_emulator(config)``: the emulated Goskey platform as an ordinary ASGI app.

Platform API under ``/gov/pep/v1/sign/*`` (raw-token auth), the side door under
``/_emulator/*`` (no auth, for tests and the demo), the patient's page at ``/_emulator/``.
The :class:`~medsign.integrations.goskey.emulator.core.Emulator` is ``app.state.emulator``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from medsign.httpsafe.headers import SecurityHeaders
from medsign.integrations.goskey.emulator import control, platform
from medsign.integrations.goskey.emulator.config import EmulatorConfig
from medsign.integrations.goskey.emulator.core import Emulator, PlatformError
from medsign.integrations.goskey.emulator.model import InvalidState, KeyReused
from medsign.integrations.goskey.emulator.operator import Operator, UploadVerifier
from medsign.integrations.goskey.emulator.store import Store
from medsign.integrations.goskey.emulator.validation import ValidationFailed

STORE_FILE = "goskey-emulator.sqlite3"
# the page's CSS and JS: files, so the page runs under the same CSP as the service's pages
STATIC = Mount("/_emulator/static", StaticFiles(directory=Path(__file__).with_name("static")))


def build_emulator(config: EmulatorConfig) -> Emulator:
    font = config.resolve_font()
    if config.state_dir is not None:
        config.state_dir.mkdir(parents=True, exist_ok=True)
    operator = Operator.load_or_create(config.state_dir, name=config.operator_name)
    store = Store(config.state_dir / STORE_FILE if config.state_dir is not None else None)
    return Emulator(config, store, operator, UploadVerifier.from_files(config.mo_trust), font)


def create_emulator(config: EmulatorConfig) -> Starlette:
    emulator = build_emulator(config)
    app = Starlette(
        routes=[STATIC, *platform.routes(emulator), *control.routes(emulator)],
        middleware=[Middleware(SecurityHeaders),
                    Middleware(platform.FaultMiddleware, emulator=emulator)],
        exception_handlers={ValidationFailed: _error, InvalidState: _error,
                            KeyReused: _error, PlatformError: _error, 404: _not_found,
                            405: _not_allowed},
        lifespan=_closing(emulator))
    app.state.emulator = emulator
    return app


def _closing(emulator: Emulator) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            emulator.store.close()
    return lifespan


async def _error(_: Request, exc: Exception) -> Response:
    return platform.platform_error(exc)


async def _not_found(_: Request, __: Exception) -> Response:
    return JSONResponse({"code": "not.found", "message": "no such endpoint"}, status_code=404)


async def _not_allowed(_: Request, __: Exception) -> Response:
    return JSONResponse({"code": "method.not.allowed", "message": "method not allowed"},
                        status_code=405)
