"""The one module that composes the ASGI application: the REST API v1 for the МИС with its
operations endpoints and OpenAPI, the pages (``medsign.web``), and the middleware they share
(request ids, timing, body limits, security headers)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine

from medsign.api import docs, ops, problems, webhook
from medsign.api.guard import RequestGuard
from medsign.api.v1 import reference, signing, webhooks
from medsign.clock import Clock, SystemClock
from medsign.domain.webhooks import Targets
from medsign.httpsafe.headers import SecurityHeaders
from medsign.logs import bind_correlation
from medsign.operations.presence import ProcessPresence
from medsign.serving import AppState, BotSettings, Call
from medsign.signing.availability import IdentityCheck
from medsign.signing.evidence import EvidenceConfig
from medsign.web import WebSettings, mount

log = logging.getLogger("medsign.http")

DESCRIPTION = """
REST API подсистемы подписания медицинских документов через MAX и Госключ.

Авторизация: заголовок `Authorization: Bearer <токен>`; токен выпускает администратор
командой `medsign api-token create --name ИМЯ`. Токен может быть ограничен списком МО.

Ошибки возвращаются в формате `application/problem+json` (RFC 9457) с полем `code`.
"""


def create_app(engine: Engine, *, clock: Clock | None = None,
               evidence: EvidenceConfig | None = None, bot: BotSettings | None = None,
               web: WebSettings | None = None, max_body_bytes: int = 1024**2,
               hsts: bool = False, identities: IdentityCheck | None = None,
               presence: ProcessPresence | None = None,
               webhook_targets: Targets | None = None) -> FastAPI:
    """``hsts``: send ``Strict-Transport-Security`` (the production profile, over https);
    ``identities``: whether each МО can sign (without it, this process starts no signing);
    ``presence``: this process's row in ``service_processes``, kept while the app runs;
    ``webhook_targets``: where the МИС's webhook endpoints may point (default: anywhere, as
    outside production)."""
    app = FastAPI(title="medsign", version="1", description=DESCRIPTION,
                  docs_url=None, openapi_url="/api/openapi.json", redoc_url=None,
                  lifespan=_lifespan(presence) if presence is not None else None)
    app.state.medsign = AppState(engine=engine, clock=clock or SystemClock(), evidence=evidence,
                                 bot=bot, identities=identities,
                                 webhook_targets=webhook_targets or Targets())
    app.state.metrics = ops.HttpMetrics(engine, app.state.medsign.clock, identities,
                                        crls=web.crls if web else None,
                                        stall_after=(web or WebSettings()).stuck_after)
    problems.install(app)
    app.include_router(reference.router, tags=["Справочные данные"])
    app.include_router(signing.router, tags=["Подписание"])
    app.include_router(webhooks.router, tags=["События для МИС"])
    webhooks.document_events(app)
    app.include_router(ops.router)
    app.include_router(webhook.router)
    docs.mount(app)  # /api/docs from the package's own Swagger UI files, not a CDN
    mount(app, web or WebSettings())  # the pages: /login, /doctor, /console, /portal, /support
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)  # innermost of the three
    app.middleware("http")(ops.timing_middleware)
    app.middleware("http")(_correlation_middleware)
    app.add_middleware(SecurityHeaders, hsts=hsts)  # outermost: every answer gets them
    return app


def _lifespan(presence: ProcessPresence
              ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Register the process when the server starts, remove it when it stops (in a thread:
    the database may be slow, the event loop must not wait on it)."""
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(presence.start)
        try:
            yield
        finally:
            await asyncio.to_thread(presence.stop)
    return lifespan


async def _correlation_middleware(request: Request, call_next: Call) -> Response:
    given = request.headers.get("X-Request-ID", "")
    request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
    request.state.request_id = request_id  # for the 500 handler, which runs outside this one
    started = time.perf_counter()
    with bind_correlation(request_id):
        response = await call_next(request)
        log.info("%s %s -> %d", request.method, request.url.path, response.status_code,
                 extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
    response.headers["X-Request-ID"] = request_id
    return response
