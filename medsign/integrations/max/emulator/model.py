"""The emulated platform's records and how they look on the wire (spec §2, §7, §9).

Ids look like the real ones: ``mid.`` + 16 hex digits of the chat id + 16 of ``seq``, where
``seq`` is the millisecond timestamp shifted left by 16 bits plus a counter (that is how real
mids decode); dialog ``chat_id``s are positive and differ from user ids.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

UserState = Literal["new", "active", "stopped"]
LOCALE = "ru"


@dataclass
class User:
    user_id: int
    chat_id: int
    first_name: str
    last_name: str | None
    phone: str | None
    created_at: int
    state: UserState = "new"
    last_activity_time: int = 0

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def wire(self) -> dict[str, Any]:
        """The ``User`` object of updates."""
        return {"user_id": self.user_id, "first_name": self.first_name,
                "last_name": self.last_name, "is_bot": False,
                "last_activity_time": self.last_activity_time or self.created_at,
                "name": self.name}

    def view(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "chat_id": self.chat_id, "name": self.name,
                "first_name": self.first_name, "last_name": self.last_name,
                "phone": self.phone, "state": self.state}


@dataclass
class StoredMessage:
    mid: str
    seq: int
    chat_id: int
    user_id: int
    from_bot: bool
    timestamp: int
    text: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    format: str | None = None
    edited_at: int | None = None

    def keyboard(self) -> list[list[dict[str, Any]]] | None:
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                rows: list[list[dict[str, Any]]] = attachment["payload"]["buttons"]
                return rows
        return None

    def has_callback(self, payload: str) -> bool:
        rows = self.keyboard() or []
        return any(b.get("type") == "callback" and b.get("payload") == payload
                   for row in rows for b in row)

    def wire(self, bot: dict[str, Any], user: User) -> dict[str, Any]:
        """The ``Message`` object (a dialog between the bot and ``user``)."""
        sender = bot if self.from_bot else user.wire()
        partner = user.user_id if self.from_bot else bot["user_id"]
        body: dict[str, Any] = {"mid": self.mid, "seq": self.seq, "text": self.text,
                                "attachments": self.attachments}
        return {"sender": sender, "timestamp": self.timestamp, "body": body,
                "recipient": {"chat_id": self.chat_id, "chat_type": "dialog",
                              "user_id": partner},
                "link": None, "stat": None, "url": None}


@dataclass
class Subscription:
    url: str
    secret: str | None
    update_types: list[str] | None
    time: int

    def wire(self) -> dict[str, Any]:
        return {"url": self.url, "time": self.time, "update_types": self.update_types}

    def wants(self, update_type: str) -> bool:
        return not self.update_types or update_type in self.update_types


@dataclass
class Callback:
    callback_id: str
    mid: str
    user_id: int
    payload: str
    timestamp: int


@dataclass
class Notice:
    """A toast from ``POST /answers`` ``notification``, as the user saw it."""

    user_id: int
    text: str
    timestamp: int


@dataclass
class Ids:
    """Id counters; random parts come from :mod:`secrets`."""

    seq_counter: int = 0

    def seq(self, now_ms: int) -> int:
        self.seq_counter = (self.seq_counter + 1) % 65536
        return (now_ms << 16) | self.seq_counter

    @staticmethod
    def mid(chat_id: int, seq: int) -> str:
        return f"mid.{chat_id & 0xFFFFFFFFFFFFFFFF:016x}{seq & 0xFFFFFFFFFFFFFFFF:016x}"

    @staticmethod
    def user_id(taken: set[int]) -> int:
        return _fresh(taken, 10_000_000, 199_999_999)

    @staticmethod
    def chat_id(taken: set[int]) -> int:
        return _fresh(taken, 1_000_000_000, 99_999_999_999)

    @staticmethod
    def callback_id() -> str:
        return secrets.token_urlsafe(36)


def _fresh(taken: set[int], low: int, high: int) -> int:
    while True:
        value = low + secrets.randbelow(high - low)
        if value not in taken:
            return value


def to_dict(record: Any) -> dict[str, Any]:
    return asdict(record)


@dataclass
class StoredFile:
    token: str
    filename: str
    content: bytes
    ready_at_ms: int


@dataclass
class Uploads:
    slots: dict[str, str] = field(default_factory=dict)  # upload slot -> type
    files: dict[str, StoredFile] = field(default_factory=dict)  # token -> file
