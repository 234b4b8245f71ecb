"""The emulator's memory: test people, pending logins, codes and tokens.

Dictionaries; with a ``path`` the whole state is written to one JSON file after each change
(through a temporary file and ``os.replace``) and read back at start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medsign.integrations.esia.emulator.model import (
    IssuedCode,
    IssuedToken,
    LoginRequest,
    TestPerson,
    code_from_dict,
    login_from_dict,
    to_dict,
    token_from_dict,
)

STATE_FILE = "esia-emulator.json"


class Store:
    def __init__(self, path: Path | None, persons: Iterable[TestPerson]) -> None:
        self.path = path
        self._initial = tuple(persons)
        self.persons: dict[str, TestPerson] = {p.oid: p for p in self._initial}
        self.logins: dict[str, LoginRequest] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.tokens: dict[str, IssuedToken] = {}
        if path is not None and path.is_file():
            self._load(json.loads(path.read_text(encoding="utf-8")))

    def reset(self) -> None:
        """Back to the configured people, with no logins, codes or tokens."""
        self.persons = {p.oid: p for p in self._initial}
        for table in (self.logins, self.codes, self.tokens):
            table.clear()
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        partial = self.path.with_name(f".{self.path.name}.part")
        partial.write_text(json.dumps(self._dump(), ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.path)

    def _dump(self) -> dict[str, Any]:
        return {"persons": [p.to_json() for p in self.persons.values()],
                "logins": [to_dict(r) for r in self.logins.values()],
                "codes": [to_dict(c) for c in self.codes.values()],
                "tokens": [to_dict(t) for t in self.tokens.values()]}

    def _load(self, saved: dict[str, Any]) -> None:
        self.persons = {p.oid: p for p in map(TestPerson.from_json, saved.get("persons", []))}
        self.logins = {r.id: r for r in map(login_from_dict, saved.get("logins", []))}
        self.codes = {c.code: c for c in map(code_from_dict, saved.get("codes", []))}
        self.tokens = {t.access_token: t for t in map(token_from_dict, saved.get("tokens", []))}
