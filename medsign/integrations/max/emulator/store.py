"""The emulator's memory: users, the dialogs' messages, callbacks, toasts, the update queue,
the webhook subscription and the counters.

Everything lives in dictionaries; with a ``path`` the whole state is written to one JSON file
after each change (through a temporary file and ``os.replace``) and read back at start, so a
restarted emulator keeps users, messages, pending updates and subscriptions.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medsign.integrations.max.emulator.model import (
    Callback,
    Ids,
    Notice,
    StoredMessage,
    Subscription,
    User,
    to_dict,
)
from medsign.integrations.max.emulator.updates import UpdateLog

STATE_FILE = "max-emulator.json"


class Store:
    def __init__(self, path: Path | None, now_ms: Callable[[], int], ttl_ms: int) -> None:
        self.path = path
        self.now_ms = now_ms
        self.log = UpdateLog(now_ms(), now_ms, ttl_ms)
        self.users: dict[int, User] = {}
        self.messages: dict[str, StoredMessage] = {}
        self.callbacks: dict[str, Callback] = {}
        self.notices: list[Notice] = []
        self.subscription: Subscription | None = None
        self.stats: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.ids = Ids()
        if path is not None and path.is_file():
            self._load(json.loads(path.read_text(encoding="utf-8")))

    def user_by_chat(self, chat_id: int) -> User | None:
        return next((u for u in self.users.values() if u.chat_id == chat_id), None)

    def dialog(self, user_id: int) -> list[StoredMessage]:
        return sorted((m for m in self.messages.values() if m.user_id == user_id),
                      key=lambda m: m.seq)

    def count(self, name: str, by: int = 1) -> None:
        self.stats[name] += by

    def reset(self) -> None:
        for table in (self.users, self.messages, self.callbacks, self.stats, self.requests):
            table.clear()
        self.notices.clear()
        self.subscription = None
        self.log.clear()
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        partial = self.path.with_name(f".{self.path.name}.part")
        partial.write_text(json.dumps(self._dump(), ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.path)

    def _dump(self) -> dict[str, Any]:
        return {
            "users": [to_dict(u) for u in self.users.values()],
            "messages": [to_dict(m) for m in self.messages.values()],
            "callbacks": [to_dict(c) for c in self.callbacks.values()],
            "notices": [to_dict(n) for n in self.notices],
            "subscription": to_dict(self.subscription) if self.subscription else None,
            "stats": dict(self.stats), "requests": dict(self.requests),
            "seq_counter": self.ids.seq_counter, "log": self.log.dump()}

    def _load(self, saved: dict[str, Any]) -> None:
        self.users = {u["user_id"]: User(**u) for u in saved["users"]}
        self.messages = {m["mid"]: StoredMessage(**m) for m in saved["messages"]}
        self.callbacks = {c["callback_id"]: Callback(**c) for c in saved["callbacks"]}
        self.notices = [Notice(**n) for n in saved["notices"]]
        sub = saved.get("subscription")
        self.subscription = Subscription(**sub) if sub else None
        self.stats.update(saved.get("stats", {}))
        self.requests.update(saved.get("requests", {}))
        self.ids.seq_counter = int(saved.get("seq_counter", 0))
        self.log.load(saved["log"])
