"""Shapes of the MAX Bot API (spec ``max-bot-api.md`` §2, §7, §8) as the bot sees them.

Outgoing: inline keyboards (:func:`keyboard_attachment`). Incoming: :func:`parse_update` turns
an update JSON object into a typed update; it never raises — an unknown ``update_type``, or a
known one missing the ids the bot needs, becomes :class:`UnknownUpdate` with the raw object.
Every update keeps ``raw``, ``update_type`` and ``timestamp`` (milliseconds, UTC).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final


@dataclass(frozen=True)
class CallbackButton:
    text: str
    payload: str


@dataclass(frozen=True)
class LinkButton:
    text: str
    url: str


@dataclass(frozen=True)
class RequestContactButton:
    text: str


Button = CallbackButton | LinkButton | RequestContactButton
Keyboard = Sequence[Sequence[Button]]
"""Rows of buttons (any sequences, so ``list[list[CallbackButton]]`` fits too)."""


class Keep(enum.Enum):
    """The type of :data:`KEEP`."""

    KEEP = "keep"

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = Keep.KEEP
"""On edit/answer: leave ``attachments`` out of the body, so the message keeps its keyboard."""


def button_json(button: Button) -> dict[str, Any]:
    if isinstance(button, CallbackButton):
        return {"type": "callback", "text": button.text, "payload": button.payload}
    if isinstance(button, LinkButton):
        return {"type": "link", "text": button.text, "url": button.url}
    return {"type": "request_contact", "text": button.text}


def keyboard_attachment(keyboard: Keyboard) -> dict[str, Any]:
    rows = [[button_json(button) for button in row] for row in keyboard]
    return {"type": "inline_keyboard", "payload": {"buttons": rows}}


@dataclass(frozen=True)
class SentMessage:
    mid: str
    chat_id: int | None
    user_id: int | None
    timestamp: int


@dataclass(frozen=True)
class BotInfo:
    user_id: int
    username: str | None
    name: str


# --- updates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotStarted:
    update_type: ClassVar[str] = "bot_started"
    user_id: int
    chat_id: int
    payload: str | None
    user_name: str
    timestamp: int
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class BotStopped:
    update_type: ClassVar[str] = "bot_stopped"
    user_id: int
    chat_id: int
    timestamp: int
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class MessageCallback:
    """A button press. ``message_mid``/``chat_id`` are ``None`` when the message is gone."""

    update_type: ClassVar[str] = "message_callback"
    callback_id: str
    payload: str | None
    user_id: int
    message_mid: str | None
    chat_id: int | None
    timestamp: int
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class MessageCreated:
    """A user's message. ``contact_phone`` is set when it carries a contact card (the
    ``request_contact`` button); ``contact_user_id`` is the MAX account the card belongs to —
    compare it with ``user_id`` before trusting the phone as the sender's own."""

    update_type: ClassVar[str] = "message_created"
    user_id: int
    chat_id: int | None
    mid: str
    text: str | None
    contact_phone: str | None
    contact_user_id: int | None
    timestamp: int
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class UnknownUpdate:
    update_type: str
    timestamp: int
    raw: dict[str, Any] = field(repr=False, compare=False)


Update = BotStarted | BotStopped | MessageCallback | MessageCreated | UnknownUpdate


@dataclass(frozen=True)
class UpdateBatch:
    updates: list[Update]
    marker: int | None


class _Missing(ValueError):
    """A known update without a field the bot needs."""


def parse_update(raw: dict[str, Any]) -> Update:
    kind = raw.get("update_type")
    timestamp = _int(raw.get("timestamp")) or 0
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is not None:
        try:
            return parser(raw, timestamp)
        except _Missing:
            pass
    return UnknownUpdate(update_type=kind if isinstance(kind, str) else "", timestamp=timestamp,
                         raw=raw)


def _bot_started(raw: dict[str, Any], timestamp: int) -> Update:
    user = _object(raw.get("user"))
    payload = raw.get("payload")
    return BotStarted(user_id=_user_id(raw), chat_id=_required_int(raw, "chat_id"),
                      payload=payload if isinstance(payload, str) else None,
                      user_name=user_name(user), timestamp=timestamp, raw=raw)


def _bot_stopped(raw: dict[str, Any], timestamp: int) -> Update:
    return BotStopped(user_id=_user_id(raw), chat_id=_required_int(raw, "chat_id"),
                      timestamp=timestamp, raw=raw)


def _message_callback(raw: dict[str, Any], timestamp: int) -> Update:
    callback = _object(raw.get("callback"))
    callback_id = callback.get("callback_id")
    if not isinstance(callback_id, str) or not callback_id:
        raise _Missing("callback.callback_id")
    message = _object(raw.get("message"))
    payload = callback.get("payload")
    return MessageCallback(
        callback_id=callback_id, payload=payload if isinstance(payload, str) else None,
        user_id=_required_int(_object(callback.get("user")), "user_id"),
        message_mid=_mid(message), chat_id=_int(_recipient(message).get("chat_id")),
        timestamp=timestamp, raw=raw)


def _message_created(raw: dict[str, Any], timestamp: int) -> Update:
    message = _object(raw.get("message"))
    mid = _mid(message)
    if mid is None:
        raise _Missing("message.body.mid")
    body = _object(message.get("body"))
    text = body.get("text")
    phone, owner = contact_of(body.get("attachments"))
    return MessageCreated(
        user_id=_required_int(_object(message.get("sender")), "user_id"),
        chat_id=_int(_recipient(message).get("chat_id")), mid=mid,
        text=text if isinstance(text, str) else None, contact_phone=phone,
        contact_user_id=owner, timestamp=timestamp, raw=raw)


_PARSERS = {"bot_started": _bot_started, "bot_stopped": _bot_stopped,
            "message_callback": _message_callback, "message_created": _message_created}


def contact_of(attachments: Any) -> tuple[str | None, int | None]:
    """The phone (from ``vcf_info``'s TEL line) and account of the first contact attachment."""
    for attachment in attachments if isinstance(attachments, list) else []:
        if isinstance(attachment, dict) and attachment.get("type") == "contact":
            payload = _object(attachment.get("payload"))
            owner = _int(_object(payload.get("max_info")).get("user_id"))
            return vcf_phone(payload.get("vcf_info")), owner
    return None, None


_TEL = re.compile(r"^TEL[^:\r\n]*:([^\r\n]+)", re.IGNORECASE | re.MULTILINE)


def vcf_phone(vcf: Any) -> str | None:
    found = _TEL.search(vcf) if isinstance(vcf, str) else None
    return normalise_phone(found.group(1)) if found else None


def normalise_phone(text: str) -> str | None:
    """``+7XXXXXXXXXX`` for Russian numbers (``8…``, ``7…``, 10 digits ``9…``), else ``+digits``."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] == "9":
        return "+7" + digits
    return "+" + digits if 7 <= len(digits) <= 15 else None


def user_name(user: dict[str, Any]) -> str:
    parts = [user.get("first_name"), user.get("last_name")]
    joined = " ".join(p for p in parts if isinstance(p, str) and p)
    legacy = user.get("name")
    return joined or (legacy if isinstance(legacy, str) else "")


def _user_id(raw: dict[str, Any]) -> int:
    found = _int(_object(raw.get("user")).get("user_id"))
    return found if found is not None else _required_int(raw, "user_id")


def _mid(message: dict[str, Any]) -> str | None:
    mid = _object(message.get("body")).get("mid")
    return mid if isinstance(mid, str) and mid else None


def _recipient(message: dict[str, Any]) -> dict[str, Any]:
    return _object(message.get("recipient"))


def _required_int(holder: dict[str, Any], key: str) -> int:
    value = _int(holder.get(key))
    if value is None:
        raise _Missing(key)
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
