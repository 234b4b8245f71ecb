"""What the app «К врачу» needs before anyone logs in, and without a session: the manifest,
the service worker, the offline shell, and the health check the shell runs at start.

No session is loaded here (no ``Guard``): the worker and the manifest are fetched by the
browser on its own, and the offline shell is cached, so it must hold nothing personal.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from medsign import health
from medsign.db.engine import reachable, reading
from medsign.serving import now, state
from medsign.web import deps
from medsign.web.app import shell
from medsign.web.templating import render, templates

router = APIRouter(prefix="/app", include_in_schema=False)
NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> JSONResponse:
    return JSONResponse(shell.manifest(deps.web_settings(request).app),
                        media_type="application/manifest+json", headers=NO_CACHE)


@router.get("/sw.js")
def service_worker() -> Response:
    """``no-cache``: the browser asks for the worker again at each check, so a release
    reaches it at once. Served from ``/app/``, its scope is the app's (no
    ``Service-Worker-Allowed`` needed)."""
    text = templates.env.get_template("app/sw.js").render(
        version=shell.version(), offline=shell.OFFLINE_PAGE, precache=shell.precache())
    return Response(text, media_type="text/javascript",
                    headers={**NO_CACHE, "X-Content-Type-Options": "nosniff"})


@router.get("/offline")
def offline(request: Request) -> Response:
    """The shell shown offline. Rendered as nobody (no session, no CSRF token), since the
    worker keeps this copy on the device."""
    response = render(request, "app/offline.html", title="Нет соединения", visitor=None,
                      csrf_token=None, notice=None, offline_shell=True)
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/api/health")
def health_check(request: Request) -> JSONResponse:
    """The app's start check: whether this server can serve the patient (its database) and
    whether login through ESIA works. No personal data, no session."""
    engine = state(request).engine
    database = reachable(engine)
    esia = _esia(request) if database else "unknown"
    body = {"status": "ok" if database else "fault",
            "services": {"database": "ok" if database else "fault", "esia": esia}}
    return JSONResponse(body, status_code=200 if database else 503,
                        headers={"Cache-Control": "no-store"})


def _esia(request: Request) -> str:
    """"off" (not configured), "fault" (most calls in the last hour failed), else "ok"."""
    if deps.web_settings(request).esia is None:
        return "off"
    with Session(bind=reading(state(request).engine)) as db:
        (found,) = health.summary(db, now=now(request), systems=("esia",))
    return "fault" if found.status == "down" else "ok"
