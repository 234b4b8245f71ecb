"""Security headers on every response, and the favicon — one ASGI middleware for the service
and for each emulator, so a page of either is framed, sniffed and scripted under the same rules.

- ``Content-Security-Policy``: scripts, styles, fonts and requests only from the page's own
  origin; no inline ``<script>``/``<style>`` (pages load their JS and CSS as files), no
  plugins, no ``<base>``, not framed. Images may also be ``data:`` (the QR code, Swagger UI's
  icons).
- ``X-Frame-Options: DENY`` for browsers older than ``frame-ancestors``; ``nosniff``;
  ``Referrer-Policy: same-origin`` (a URL with an id never leaves in a ``Referer``).
- ``Strict-Transport-Security`` only when asked (``hsts=True``: the production profile, which
  is served over https). Over plain http in demo or development it would be ignored at best,
  and at worst pin ``localhost`` to https in a developer's browser for a year.

Headers a route set itself win (``setdefault``). ``GET /favicon.ico`` and ``/favicon.svg`` are
answered here (pages link the SVG; browsers ask for the ICO on their own), so no page's visit
logs a 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
HSTS = "max-age=31536000"  # a year; subdomains are the region's business, not ours
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_HERE = Path(__file__).parent
ICONS = {"/favicon.ico": ("favicon.ico", "image/x-icon"),
         "/favicon.svg": ("favicon.svg", "image/svg+xml")}


class SecurityHeaders:
    """Add :data:`HEADERS` (and HSTS when ``hsts``) to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = {**HEADERS, **({"Strict-Transport-Security": HSTS} if hsts else {})}
        self.icons = {path: ((_HERE / name).read_bytes(), media)
                      for path, (name, media) in ICONS.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        icon = self.icons.get(scope["path"]) if scope["method"] in ("GET", "HEAD") else None
        if icon is not None:
            content, media = icon
            response = Response(content, media_type=media,
                                headers={"Cache-Control": "public, max-age=86400"})
            await response(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)
