"""``create_emulator(config)``: the emulated MAX Bot API as an ordinary ASGI app.

Bot API at the root (raw-token auth), the side door and the users' page under
``/_emulator/`` (no auth). The :class:`~medsign.integrations.max.emulator.core.Emulator` is
``app.state.emulator``; ``await app.state.emulator.aclose()`` stops the webhook sender when the
app is driven without a lifespan (``httpx.ASGITransport``).
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
from medsign.integrations.max.emulator import control, platform
from medsign.integrations.max.emulator.config import EmulatorConfig
from medsign.integrations.max.emulator.core import Emulator, PlatformError

# the page's CSS and JS: files, so the page runs under the same CSP as the service's pages
STATIC = Mount("/_emulator/static", StaticFiles(directory=Path(__file__).with_name("static")))


def create_emulator(config: EmulatorConfig) -> Starlette:
    emulator = Emulator(config)
    app = Starlette(
        routes=[STATIC, *platform.routes(emulator), *control.routes(emulator)],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={PlatformError: _error, 404: _not_found, 405: _not_allowed},
        lifespan=_lifespan(emulator))
    app.state.emulator = emulator
    return app


def _lifespan(emulator: Emulator) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        emulator.webhooks.kick()
        try:
            yield
        finally:
            await emulator.aclose()
    return lifespan


async def _error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, PlatformError):
        raise TypeError(f"not a platform error: {type(exc).__name__}")
    return platform.error(exc.status, exc.code, exc.message)


async def _not_found(_: Request, __: Exception) -> Response:
    return JSONResponse({"code": "not.found", "message": "Not found"}, status_code=404)


async def _not_allowed(_: Request, __: Exception) -> Response:
    return JSONResponse({"code": "method.not.allowed", "message": "Method not allowed"},
                        status_code=405)
