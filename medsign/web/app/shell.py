"""The installable shell of «К врачу»: its manifest, what the service worker keeps offline,
and the release version that names the worker's cache.

The version is a hash of everything the worker precaches (the static files as they are on
disk, and the templates the offline shell is rendered from), computed once when the
application is made (``medsign.web.mount``): a release that changes any of them changes the
version, so browsers install the new worker, which fills a new cache and deletes the old one
(docs/patient-app.md). Personal pages and API answers are never in the list: only this
fixed set of files is ever cached.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from medsign.web.config import AppShell
from medsign.web.templating import STATIC, TEMPLATES

SCOPE = "/app/"
OFFLINE_PAGE = "/app/offline"
MANIFEST = "/app/manifest.webmanifest"
THEME_COLOR = "#0b3d6e"  # the title bar's colour (medsign.css .site-header)
BACKGROUND_COLOR = "#f5f6f8"  # the page's
STATIC_FILES = ("medsign.css", "medsign.js", "app/app.css", "app/app.js", "app/icons/icon-192.png",
                "app/icons/icon-512.png", "app/icons/maskable-192.png",
                "app/icons/maskable-512.png", "app/icons/apple-touch-icon.png")
SHELL_TEMPLATES = ("app/base.html", "app/offline.html", "app/sw.js", "_macros.html")
ICONS = (("icon-192.png", "192x192", "any"), ("icon-512.png", "512x512", "any"),
         ("maskable-192.png", "192x192", "maskable"), ("maskable-512.png", "512x512", "maskable"))


@cache
def version() -> str:
    """The release: a short hash of the precached files' content."""
    digest = hashlib.sha256()
    for folder, names in ((STATIC, STATIC_FILES), (TEMPLATES, SHELL_TEMPLATES)):
        for name in names:
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def static_url(name: str) -> str:
    """A static file's address with the release in it: a new release is a new address, so
    neither the browser's HTTP cache nor a proxy's can hand out the old file."""
    return f"/static/{name}?v={version()}"


def precache() -> list[str]:
    return [OFFLINE_PAGE, *(static_url(name) for name in STATIC_FILES)]


def manifest(app: AppShell) -> dict[str, Any]:
    return {
        "id": SCOPE, "name": app.name, "short_name": app.short_name, "lang": "ru",
        "dir": "ltr", "description": "Записи к врачу и подписание медицинских документов",
        "start_url": SCOPE, "scope": SCOPE, "display": "standalone",
        "orientation": "portrait", "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [{"src": static_url(f"app/icons/{name}"), "sizes": sizes,
                   "type": "image/png", "purpose": purpose}
                  for name, sizes, purpose in ICONS],
    }
