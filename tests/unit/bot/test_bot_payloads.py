"""Button payloads: what the bot puts on its buttons and what it accepts back.

A payload is ``<choice>:<token>``; anything the bot did not make — another bot's payload, a
broken or truncated one, an unknown choice — must parse to ``None`` (a polite «кнопка больше
не действует», never an exception or a guess).
"""

from __future__ import annotations

import pytest

from medsign.bot.flow import keyboard
from medsign.bot.updates import dedupe_key
from medsign.domain import bot
from medsign.integrations.max.emulator.validation import check_new_message
from medsign.integrations.max.schemas import (
    CallbackButton,
    LinkButton,
    RequestContactButton,
    keyboard_attachment,
)

TOKEN = "Zx9_-abcDEF0123456789abcdefghijKL"  # like secrets.token_urlsafe(24)
GOSKEY = "https://max.ru/id7708416300_gosbot"


@pytest.mark.parametrize("choice", list(bot.Choice))
def test_a_payload_round_trips(choice: bot.Choice) -> None:
    raw = bot.payload(choice, TOKEN)
    assert raw == f"{choice.value}:{TOKEN}"
    assert bot.parse_payload(raw) == (choice, TOKEN)


@pytest.mark.parametrize("raw", [
    None, "", ":", "sign", "paper", "sign:", ":" + TOKEN, "sign:a:b", "sign::" + TOKEN,
    "SIGN:" + TOKEN, "Sign:" + TOKEN, " sign:" + TOKEN, "sign :" + TOKEN,
    "picture", "yes", "menu:main", "approve:" + TOKEN, "__class__:" + TOKEN,
    "value:" + TOKEN, "sign" + TOKEN, "sign;" + TOKEN, "paper/" + TOKEN,
])
def test_foreign_or_malformed_payloads_are_not_ours(raw: str | None) -> None:
    assert bot.parse_payload(raw) is None


def test_the_choice_keyboard_carries_both_choices_for_one_token() -> None:
    rows = keyboard("choice", token=TOKEN, goskey_url=GOSKEY)
    assert rows == [[CallbackButton(bot.SIGN_BUTTON, f"sign:{TOKEN}"),
                     CallbackButton(bot.PAPER_BUTTON, f"paper:{TOKEN}")]]


def test_no_choice_keyboard_without_a_token() -> None:
    assert keyboard("choice", token=None, goskey_url=GOSKEY) is None


def test_the_other_keyboards() -> None:
    assert keyboard("goskey", token=None, goskey_url=GOSKEY) == [
        [LinkButton(bot.GOSKEY_BUTTON, GOSKEY)]]
    assert keyboard("contact", token=None, goskey_url=GOSKEY) == [
        [RequestContactButton(bot.SHARE_CONTACT_BUTTON)]]
    assert keyboard("none", token=TOKEN, goskey_url=GOSKEY) is None
    assert keyboard("something-else", token=TOKEN, goskey_url=GOSKEY) is None


@pytest.mark.parametrize("kind", ["choice", "goskey", "contact"])
def test_every_keyboard_passes_the_platforms_validation(kind: str) -> None:
    rows = keyboard(kind, token=TOKEN, goskey_url=GOSKEY)
    assert rows is not None
    check_new_message({"text": "x", "attachments": [keyboard_attachment(rows)]},
                      require_content=True)


def test_button_texts_fit_the_recommended_width() -> None:
    # dev.max.ru: ≤ 20 characters with one button per row, ≤ 10 with two is advised; the
    # choice row has two and stays readable on a phone only if each is short.
    for text in (bot.SIGN_BUTTON, bot.PAPER_BUTTON, bot.GOSKEY_BUTTON):
        assert 1 <= len(text) <= 20
    assert len(bot.SHARE_CONTACT_BUTTON) <= 128


def test_a_payload_fits_the_platform_limit() -> None:
    longest = max(len(bot.payload(c, TOKEN)) for c in bot.Choice)
    assert longest <= 1024


def test_the_dedupe_key_ignores_key_order_but_not_content() -> None:
    a = {"update_type": "message_callback", "timestamp": 1, "callback": {"callback_id": "x",
                                                                          "payload": "p"}}
    b = {"callback": {"payload": "p", "callback_id": "x"}, "timestamp": 1,
         "update_type": "message_callback"}
    assert dedupe_key(a) == dedupe_key(b)
    assert dedupe_key(a) != dedupe_key({**a, "timestamp": 2})
    assert len(dedupe_key(a)) == 64
