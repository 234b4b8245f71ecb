"""The emulator's memory: transactions, files, idempotency keys and call counters.

Everything lives in dictionaries; with a ``path`` each change is also written to a small SQLite
file, read back at start, so an emulator restart keeps the transactions of a running test.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsign.integrations.goskey.emulator.model import Transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL,
    name TEXT NOT NULL, media_type TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredFile:
    transaction_id: str
    name: str
    media_type: str
    data: bytes


@dataclass
class Store:
    path: Path | None = None
    transactions: dict[str, Transaction] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    sends_per_key: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _db: sqlite3.Connection | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.path is not None:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
            self._load(self._db)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def get(self, transaction_id: str) -> Transaction | None:
        return self.transactions.get(transaction_id)

    def for_key(self, key: str) -> Transaction | None:
        known = self.by_key.get(key)
        return self.transactions.get(known) if known else None

    def count_send(self, key: str) -> None:
        self.sends_per_key[key] = self.sends_per_key.get(key, 0) + 1
        self._save_counters()

    def count_call(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def save(self, transaction: Transaction) -> None:
        self.transactions[transaction.id] = transaction
        if transaction.idempotency_key:
            self.by_key[transaction.idempotency_key] = transaction.id
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO transactions VALUES (?, ?)",
                             (transaction.id, json.dumps(transaction.to_dict())))
            self._save_counters()

    def put_file(self, transaction_id: str, name: str, media_type: str, data: bytes) -> str:
        file_id = str(uuid.uuid4())
        self.files[file_id] = StoredFile(transaction_id, name, media_type, data)
        if self._db is not None:
            self._db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                             (file_id, transaction_id, name, media_type, data))
        return file_id

    def file(self, transaction_id: str, file_id: str) -> StoredFile | None:
        found = self.files.get(file_id)
        return found if found is not None and found.transaction_id == transaction_id else None

    def reset(self) -> None:
        for table in (self.transactions, self.files, self.by_key, self.sends_per_key,
                      self.calls):
            table.clear()
        if self._db is not None:
            self._db.executescript("DELETE FROM transactions; DELETE FROM files; "
                                   "DELETE FROM counters;")

    def save_people(self, registry: dict[str, Any]) -> None:
        """Keep the registry of people (``people.Registry.to_json``) across restarts."""
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO counters VALUES ('people', ?)",
                             (json.dumps(registry),))

    def saved_people(self) -> dict[str, Any] | None:
        if self._db is None:
            return None
        for (body,) in self._db.execute("SELECT body FROM counters WHERE name = 'people'"):
            saved: dict[str, Any] = json.loads(body)
            return saved
        return None

    def counters(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "sends_per_key": dict(self.sends_per_key)}

    def _save_counters(self) -> None:
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO counters VALUES ('all', ?)",
                             (json.dumps(self.counters()),))

    def _load(self, db: sqlite3.Connection) -> None:
        for (body,) in db.execute("SELECT body FROM transactions"):
            transaction = Transaction.from_dict(json.loads(body))
            self.transactions[transaction.id] = transaction
            if transaction.idempotency_key:
                self.by_key[transaction.idempotency_key] = transaction.id
        for row in db.execute("SELECT id, transaction_id, name, media_type, data FROM files"):
            self.files[row[0]] = StoredFile(row[1], row[2], row[3], bytes(row[4]))
        for (body,) in db.execute("SELECT body FROM counters WHERE name = 'all'"):
            saved = json.loads(body)
            self.calls.update(saved.get("calls", {}))
            self.sends_per_key.update(saved.get("sends_per_key", {}))
