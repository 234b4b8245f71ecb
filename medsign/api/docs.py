"""``/api/docs``: Swagger UI for the REST API, from files this installation ships.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script: blank
without internet (a clinic's closed network) and refused by the pages' CSP. Here the assets
come from the ``swagger-ui-bundle-v2`` package (``/api/docs/assets/…``) and the start-up
script is a file of ours, so the page works offline under the same CSP as every other page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/api/docs"
ASSETS_URL = f"{DOCS_URL}/assets"
INIT_SCRIPT = Path(__file__).with_name("docs_static") / "swagger-init.js"

PAGE = f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>medsign — REST API</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
<script src="{ASSETS_URL}/swagger-ui-bundle.js" defer></script>
<script src="{DOCS_URL}/swagger-init.js" defer></script>
</head>
<body>
<noscript>Для просмотра описания API включите JavaScript; само описание —
<a href="/api/openapi.json">/api/openapi.json</a>.</noscript>
<div id="swagger-ui"></div>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL, response_class=HTMLResponse)
def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get(f"{DOCS_URL}/swagger-init.js")
def docs_script() -> FileResponse:
    return FileResponse(INIT_SCRIPT, media_type="text/javascript")


def mount(app: FastAPI) -> None:
    """The page, its start-up script and Swagger UI's files (the app is made with
    ``docs_url=None``, so FastAPI's CDN page is not there)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
