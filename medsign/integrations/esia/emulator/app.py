"""``create_emulator(config)``: the emulated ESIA as an ordinary ASGI app.

OAuth under ``/aas/oauth2/*``, the person's data under ``/rs/prns/*``, the side door under
``/_emulator/*``. The :class:`~medsign.integrations.esia.emulator.core.Emulator` is
``app.state.emulator``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from medsign.httpsafe.headers import SecurityHeaders
from medsign.integrations.esia.emulator import control, oauth, rest
from medsign.integrations.esia.emulator.config import EmulatorConfig
from medsign.integrations.esia.emulator.core import Emulator
from medsign.integrations.esia.emulator.store import STATE_FILE, Store
from medsign.integrations.esia.emulator.tokens import TokenSigner

# the pages' CSS: a file, so the pages render under the same CSP as the service's pages
STATIC = Mount("/_emulator/static", StaticFiles(directory=Path(__file__).with_name("static")))


def build_emulator(config: EmulatorConfig) -> Emulator:
    state_file = None
    if config.state_dir is not None:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        state_file = config.state_dir / STATE_FILE
    return Emulator(config, Store(state_file, config.persons),
                    TokenSigner.load_or_create(config.state_dir), config.trust_store())


def create_emulator(config: EmulatorConfig) -> Starlette:
    emulator = build_emulator(config)
    app = Starlette(routes=[STATIC, *oauth.routes(emulator), *rest.routes(emulator),
                            *control.routes(emulator)],
                    middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.emulator = emulator
    return app


async def _not_found(_: Request, __: Exception) -> Response:
    return JSONResponse({"error": "not_found", "error_description": "нет такого адреса"},
                        status_code=404)


async def _not_allowed(_: Request, __: Exception) -> Response:
    return JSONResponse({"error": "method_not_allowed",
                         "error_description": "метод не поддерживается"}, status_code=405)
