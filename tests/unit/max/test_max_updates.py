"""Parsing updates into typed objects; unknown or broken ones never raise."""

from __future__ import annotations

from typing import Any

import pytest

from medsign.integrations.max import (
    BotStarted,
    BotStopped,
    MessageCallback,
    MessageCreated,
    UnknownUpdate,
    normalise_phone,
    parse_update,
)

USER = {"user_id": 700001, "first_name": "Иван", "last_name": "Петров", "is_bot": False,
        "last_activity_time": 1775025580000, "name": "Иван Петров"}
BOT_MESSAGE = {"sender": {"user_id": 900001, "is_bot": True},
               "recipient": {"chat_id": 555001, "chat_type": "dialog", "user_id": 700001},
               "timestamp": 1775026671403,
               "body": {"mid": "mid.000000000adf429c019d47d58f2b3d9e", "seq": 1, "text": "?"}}


def contact_message(vcf: str) -> dict[str, Any]:
    return {"update_type": "message_created", "timestamp": 3,
            "message": {"sender": USER, "timestamp": 3,
                        "recipient": {"chat_id": 555001, "chat_type": "dialog",
                                      "user_id": 900001},
                        "body": {"mid": "mid.ffffbdb48e6c3775019d496b34394b84", "seq": 2,
                                 "text": None, "attachments": [
                                     {"type": "contact", "payload": {
                                         "vcf_info": vcf, "hash": "abc",
                                         "max_info": {"user_id": 700001}}}]}},
            "user_locale": "ru"}


def test_bot_started_with_a_deep_link_payload() -> None:
    raw = {"update_type": "bot_started", "timestamp": 1775025604499, "chat_id": 555001,
           "user": USER, "user_id": 700001, "payload": "ref-abc123", "user_locale": "ru"}
    update = parse_update(raw)
    assert update == BotStarted(user_id=700001, chat_id=555001, payload="ref-abc123",
                                user_name="Иван Петров", timestamp=1775025604499, raw=raw)
    assert update.raw is raw and update.update_type == "bot_started"


def test_bot_started_without_payload_and_with_only_a_top_level_user_id() -> None:
    update = parse_update({"update_type": "bot_started", "timestamp": 1, "chat_id": 5,
                           "user_id": 7, "payload": None})
    assert isinstance(update, BotStarted)
    assert (update.user_id, update.payload, update.user_name) == (7, None, "")


def test_bot_stopped() -> None:
    update = parse_update({"update_type": "bot_stopped", "timestamp": 2, "chat_id": 555001,
                           "user": USER, "user_locale": "ru"})
    assert update == BotStopped(user_id=700001, chat_id=555001, timestamp=2, raw={})


def test_message_callback_reads_the_message_at_the_update_root() -> None:
    raw = {"update_type": "message_callback", "timestamp": 4,
           "callback": {"timestamp": 4, "callback_id": "f9LHodD0cO", "payload": "sign:1",
                        "user": USER},
           "message": BOT_MESSAGE, "user_locale": "ru"}
    assert parse_update(raw) == MessageCallback(
        callback_id="f9LHodD0cO", payload="sign:1", user_id=700001,
        message_mid="mid.000000000adf429c019d47d58f2b3d9e", chat_id=555001, timestamp=4, raw={})


def test_message_callback_for_a_deleted_message() -> None:
    update = parse_update({"update_type": "message_callback", "timestamp": 4, "message": None,
                           "callback": {"callback_id": "x", "payload": "p", "user": USER}})
    assert isinstance(update, MessageCallback)
    assert (update.message_mid, update.chat_id) == (None, None)


def test_message_created_with_text() -> None:
    raw = contact_message("")
    raw["message"]["body"].update(text="/start", attachments=None)
    update = parse_update(raw)
    assert update == MessageCreated(user_id=700001, chat_id=555001,
                                    mid="mid.ffffbdb48e6c3775019d496b34394b84", text="/start",
                                    contact_phone=None, contact_user_id=None, timestamp=3, raw={})


@pytest.mark.parametrize("vcf", [
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Иван\r\nTEL;TYPE=cell:79991234567\r\nEND:VCARD\r\n",
    "BEGIN:VCARD\nTEL;TYPE=CELL:+7 (999) 123-45-67\nEND:VCARD",
    "BEGIN:VCARD\r\ntel:89991234567\r\nEND:VCARD",
    "TEL;TYPE=cell:+${9991234567}"])
def test_a_shared_contact_gives_a_normalised_russian_phone(vcf: str) -> None:
    update = parse_update(contact_message(vcf))
    assert isinstance(update, MessageCreated)
    assert (update.contact_phone, update.contact_user_id) == ("+79991234567", 700001)


@pytest.mark.parametrize(("text", "expected"), [
    ("+79991234567", "+79991234567"), ("8 999 123 45 67", "+79991234567"),
    ("9991234567", "+79991234567"), ("+375 29 123 45 67", "+375291234567"),
    ("12", None), ("", None)])
def test_phone_normalisation(text: str, expected: str | None) -> None:
    assert normalise_phone(text) == expected


def test_a_contact_without_a_tel_line_has_no_phone() -> None:
    update = parse_update(contact_message("BEGIN:VCARD\r\nFN:Иван\r\nEND:VCARD"))
    assert isinstance(update, MessageCreated) and update.contact_phone is None


@pytest.mark.parametrize("raw", [
    {"update_type": "dialog_muted", "timestamp": 9, "chat_id": 1, "muted_until": 5},
    {"update_type": "message_callback", "timestamp": 9, "callback": {"payload": "x"}},
    {"update_type": "bot_started", "timestamp": 9, "user": {}},
    {"update_type": "message_created", "timestamp": 9, "message": {"body": {}}},
    {"timestamp": "soon"}])
def test_unknown_or_broken_updates_are_kept_raw(raw: dict[str, Any]) -> None:
    update = parse_update(raw)
    assert isinstance(update, UnknownUpdate) and update.raw is raw
    assert update.update_type == raw.get("update_type", "")
    assert update.timestamp == (9 if raw.get("timestamp") == 9 else 0)
