"""What the users on the other side do: appear, start the bot (deep links), stop it, press
inline buttons, share their contact, write; and what their chat looks like now.

Assumptions: a ``start`` payload longer than ``deep_link_payload_limit`` (128) reaches the bot
as ``null``; every start — even a repeated deep-link click in an open dialog — sends
``bot_started`` [UNCONFIRMED]; the contact card's ``vcf_info`` carries the phone as
``TEL;TYPE=cell:7XXXXXXXXXX`` and its ``hash`` is an HMAC of it (the real algorithm is not
public).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from medsign.integrations.max.emulator.core import Emulator, PlatformError
from medsign.integrations.max.emulator.model import Callback, Ids, StoredMessage, User

_PHONE = re.compile(r"^\+?[0-9]{7,15}$")


def bad(message: str) -> PlatformError:
    return PlatformError(400, "bad.request", message)


def conflict(message: str) -> PlatformError:
    return PlatformError(409, "conflict", message)


def create_user(emulator: Emulator, body: Any) -> User:
    body = body if isinstance(body, dict) else {}
    name, phone = body.get("name"), body.get("phone")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise bad("name: 1 to 200 characters are required")
    if phone is not None and (not isinstance(phone, str) or not _PHONE.match(phone)):
        raise bad("phone: a phone number like +79991234567 is expected")
    first, _, last = name.strip().partition(" ")
    store = emulator.store
    taken = set(store.users) | {emulator.config.bot_user_id}
    user = User(user_id=Ids.user_id(taken),
                chat_id=Ids.chat_id(taken | {u.chat_id for u in store.users.values()}),
                first_name=first, last_name=last.strip() or None, phone=phone,
                created_at=emulator.now_ms())
    with emulator.changing():
        store.users[user.user_id] = user
    return user


def start(emulator: Emulator, user_id: int, payload: Any) -> dict[str, Any]:
    user = emulator.user(user_id)
    if payload is not None and not isinstance(payload, str):
        raise bad("payload: a string is expected")
    if payload is not None and len(payload) > emulator.config.deep_link_payload_limit:
        payload = None
    with emulator.changing():
        user.state = "active"
        return emulator.emit("bot_started", user, chat_id=user.chat_id, user=user.wire(),
                             user_id=user.user_id, payload=payload or None)


def stop(emulator: Emulator, user_id: int) -> dict[str, Any]:
    user = _active(emulator, user_id)
    with emulator.changing():
        user.state = "stopped"
        return emulator.emit("bot_stopped", user, chat_id=user.chat_id, user=user.wire())


def press(emulator: Emulator, user_id: int, body: Any) -> dict[str, Any]:
    user = _active(emulator, user_id)
    body = body if isinstance(body, dict) else {}
    mid, payload = body.get("mid"), body.get("payload")
    message = emulator.store.messages.get(mid) if isinstance(mid, str) else None
    if message is None or message.user_id != user.user_id or not message.from_bot:
        raise bad("mid: no such bot message in this user's chat")
    if not isinstance(payload, str) or not message.has_callback(payload):
        raise bad("payload: the message has no callback button with this payload")
    now = emulator.now_ms()
    callback = Callback(Ids.callback_id(), message.mid, user.user_id, payload, now)
    with emulator.changing():
        emulator.store.callbacks[callback.callback_id] = callback
        wire = {"timestamp": now, "callback_id": callback.callback_id, "payload": payload,
                "user": user.wire()}
        return emulator.emit("message_callback", user, callback=wire,
                             message=emulator.message_wire(message))


def share_contact(emulator: Emulator, user_id: int) -> dict[str, Any]:
    user = _active(emulator, user_id)
    if not user.phone:
        raise bad("phone: the user has no phone number")
    vcf = _vcard(user)
    digest = hmac.new(emulator.config.token.encode(), vcf.encode(), hashlib.sha256).hexdigest()
    contact = {"type": "contact",
               "payload": {"vcf_info": vcf, "hash": digest, "max_info": user.wire()}}
    return _write(emulator, user, text=None, attachments=[contact])


def write(emulator: Emulator, user_id: int, body: Any) -> dict[str, Any]:
    user = _active(emulator, user_id)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        raise bad("text: 1 to 4000 characters are required")
    return _write(emulator, user, text=text, attachments=[])


def chat(emulator: Emulator, user_id: int) -> dict[str, Any]:
    """The dialog as the user sees it now: messages after edits (deleted ones gone) and the
    toasts from ``/answers``, oldest first."""
    user = emulator.user(user_id)
    items = [_message_view(m) for m in emulator.store.dialog(user_id)]
    items += [{"kind": "notification", "text": n.text, "timestamp": n.timestamp}
              for n in emulator.store.notices if n.user_id == user_id]
    items.sort(key=lambda item: item["timestamp"])
    return {"user": user.view(), "bot": {"username": emulator.config.bot_username,
                                         "name": emulator.config.bot_name,
                                         "deep_link": emulator.deep_link()},
            "items": items}


def _write(emulator: Emulator, user: User, *, text: str | None,
           attachments: list[dict[str, Any]]) -> dict[str, Any]:
    with emulator.changing():
        message = emulator.new_message(user, from_bot=False, text=text,
                                       attachments=attachments)
        return emulator.emit("message_created", user, message=emulator.message_wire(message))


def _active(emulator: Emulator, user_id: int) -> User:
    user = emulator.user(user_id)
    if user.state != "active":
        raise conflict("the user has not started the bot" if user.state == "new"
                       else "the user has stopped the bot")
    return user


def _vcard(user: User) -> str:
    digits = re.sub(r"\D", "", user.phone or "")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{user.name}",
             f"N:{user.last_name or ''};{user.first_name};;;", f"TEL;TYPE=cell:{digits}",
             "END:VCARD"]
    return "\r\n".join(lines) + "\r\n"


def _message_view(message: StoredMessage) -> dict[str, Any]:
    others = [a.get("type") for a in message.attachments if a.get("type") != "inline_keyboard"]
    contact = next((a["payload"] for a in message.attachments if a.get("type") == "contact"),
                   None)
    return {"kind": "message", "mid": message.mid, "from": "bot" if message.from_bot else "user",
            "text": message.text, "format": message.format, "keyboard": message.keyboard(),
            "attachments": others, "contact": contact, "timestamp": message.timestamp,
            "files": [{"filename": a.get("filename"), "size": a.get("size"),
                       "url": (a.get("payload") or {}).get("url")}
                      for a in message.attachments if a.get("type") == "file"],
            "edited": message.edited_at is not None}
