"""The users' side of MAX as a small Russian page that looks like a phone: pick or create a
user, read the chat, press inline buttons, start the bot from a deep link, stop it, share the
contact. The page is static; a little vanilla JS polls ``/_emulator/users/{id}/chat``.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from medsign.integrations.max.emulator.core import Emulator

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))


def render(emulator: Emulator) -> HTMLResponse:
    config = emulator.config
    html = _ENV.get_template("phone.html").render(
        bot_name=config.bot_name, bot_username=config.bot_username,
        deep_link=emulator.deep_link())
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
