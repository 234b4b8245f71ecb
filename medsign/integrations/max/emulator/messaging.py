"""The bot's message methods (spec §2–§5): send, edit, delete, read, answer a callback.

Rules worth knowing: ``attachments`` absent or ``null`` on edit keeps the current ones, ``[]``
removes them all (the keyboard too); ``text`` absent or ``null`` on edit keeps the text
[UNCONFIRMED]; only the bot's own messages can be edited or deleted (403 ``access.denied``
[UNCONFIRMED code]); a dialog message without a keyboard cannot be edited after
``edit_age_limit_s``; a message needs text or attachments [UNCONFIRMED].
"""

from __future__ import annotations

from typing import Any

from medsign.integrations.max.emulator import uploads
from medsign.integrations.max.emulator.core import (
    Emulator,
    PlatformError,
    access_denied,
    chat_denied,
    not_found,
)
from medsign.integrations.max.emulator.model import Notice, StoredMessage
from medsign.integrations.max.emulator.validation import (
    ProtoPayload,
    check_new_message,
    check_schema,
)


def send(emulator: Emulator, *, user_id: int | None, chat_id: int | None,
         body: Any, base_url: str) -> dict[str, Any]:
    if (user_id is None) == (chat_id is None):
        raise ProtoPayload("user_id: exactly one of user_id and chat_id is required")
    check_new_message(body, require_content=True)
    user = emulator.reachable(user_id=user_id, chat_id=chat_id)
    attachments = uploads.attach(emulator, list(body.get("attachments") or []), base_url)
    emulator.limits.check("chat_messages", user.chat_id)
    with emulator.changing():
        message = emulator.new_message(user, from_bot=True, text=body.get("text"),
                                       attachments=attachments,
                                       format=body.get("format"))
        emulator.store.count("messages_sent")
    return {"message": emulator.message_wire(message)}


def edit(emulator: Emulator, mid: str, body: Any) -> None:
    message = _own(emulator, mid)
    check_new_message(body, require_content=False)
    _check_open(emulator, message)
    _check_age(emulator, message)
    with emulator.changing():
        _apply(emulator, message, body)
        emulator.store.count("messages_edited")


def delete(emulator: Emulator, mid: str) -> None:
    message = _own(emulator, mid)
    with emulator.changing():
        del emulator.store.messages[message.mid]
        emulator.store.count("messages_deleted")


def get(emulator: Emulator, mid: str) -> dict[str, Any]:
    message = _find(emulator, mid)
    if message is None:
        raise not_found("message")
    return emulator.message_wire(message)


def listing(emulator: Emulator, *, chat_id: int | None, mids: list[str] | None,
            count: int) -> dict[str, Any]:
    if chat_id is None and not mids:
        raise ProtoPayload("chat_id: chat_id or message_ids is required")
    if chat_id is not None:
        user = emulator.store.user_by_chat(chat_id)
        if user is None or user.state == "new":
            raise chat_denied("notfound", chat_id)
        found = emulator.store.dialog(user.user_id)[::-1]
    else:
        found = [m for m in (_find(emulator, mid) for mid in mids or []) if m is not None]
    return {"messages": [emulator.message_wire(m) for m in found[:count]]}


def answer(emulator: Emulator, callback_id: str, body: Any) -> None:
    callback = emulator.store.callbacks.get(callback_id)
    if callback is None:
        raise ProtoPayload("callback_id: Callback identifier is invalid")
    check_schema(body, "CallbackAnswer")
    replacement, notification = body.get("message"), body.get("notification")
    if replacement is None and notification is None:
        raise ProtoPayload("body: message or notification is required")
    if replacement is not None:
        check_new_message(replacement, require_content=False)
    user = emulator.user(callback.user_id)
    emulator.limits.check("chat_answers", user.chat_id)
    with emulator.changing():
        message = emulator.store.messages.get(callback.mid)
        if replacement is not None and message is not None:
            _apply(emulator, message, replacement)
        if notification is not None:
            emulator.store.notices.append(Notice(user.user_id, notification,
                                                 emulator.now_ms()))
            emulator.store.count("notifications")
        emulator.store.count("callbacks_answered")


def _apply(emulator: Emulator, message: StoredMessage, body: dict[str, Any]) -> None:
    if body.get("text") is not None:
        message.text = body["text"]
    if body.get("attachments") is not None:
        message.attachments = list(body["attachments"])
    if "format" in body:
        message.format = body["format"]
    message.edited_at = emulator.now_ms()


def _find(emulator: Emulator, mid: str) -> StoredMessage | None:
    messages = emulator.store.messages
    return messages.get(mid) or messages.get(f"mid.{mid}")


def _own(emulator: Emulator, mid: str) -> StoredMessage:
    message = _find(emulator, mid)
    if message is None:
        raise ProtoPayload(f"Invalid message_id: {mid.removeprefix('mid.')}")
    if not message.from_bot:
        raise access_denied("The bot can change only its own messages")
    return message


def _check_open(emulator: Emulator, message: StoredMessage) -> None:
    if emulator.store.users[message.user_id].state == "stopped":
        raise chat_denied("suspended", message.user_id)


def _check_age(emulator: Emulator, message: StoredMessage) -> None:
    age_s = (emulator.now_ms() - message.timestamp) / 1000
    if message.keyboard() is None and age_s > emulator.config.edit_age_limit_s:
        raise PlatformError(400, "proto.payload",
                            "message_id: a message without a keyboard can be edited only "
                            f"within {emulator.config.edit_age_limit_s:.0f} s of sending")
