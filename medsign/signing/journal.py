"""The transaction journal: one JSON line per platform transaction, outside the database.

A restore puts the database back to the moment of a backup, and the platform has no endpoint
that lists transactions: without a record kept elsewhere, a transaction created after the
backup could not be found at all. The send step appends an entry right after the platform
returns the transaction id, before its commit, and flushes it to the disk (``fsync``), so a
journal on another disk than the database outlives the database's loss.

Right before the send the step appends the same line with an empty ``transaction``: the
intent. A process killed after the platform created the transaction but before the second
line leaves the intent alone, and the reader returns it (``unconfirmed``): the send may have
reached the platform, and nobody knows the transaction's number.

Files are monthly, ``transactions-YYYY-MM.jsonl`` (by the entry's UTC time), lines
``{"at", "signing_request", "transaction", "organization", "appointment"}`` — ids and the МО
code only, never a phone or a name. A damaged line (a torn write, an edit by hand) is reported
and skipped by the reader, never fatal. Entries may repeat (a send retried after a crash
appends again with the same transaction); the reader keeps the first.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from medsign.files import fsync_path

FILE_PATTERN = re.compile(r"^transactions-(\d{4})-(\d{2})\.jsonl$")
_FIELDS = ("signing_request", "transaction", "organization", "appointment")


class JournalWriteFailed(Exception):
    """The entry could not be made durable (disk full, folder gone, no permission)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class JournalEntry:
    """``transaction`` empty: the intent to send, written before the platform is called."""

    at: datetime
    signing_request: str
    transaction: str
    organization: str
    appointment: str

    @property
    def is_intent(self) -> bool:
        return not self.transaction

    def to_line(self) -> str:
        body = {"at": self.at.astimezone(UTC).isoformat(), "signing_request":
                self.signing_request, "transaction": self.transaction,
                "organization": self.organization, "appointment": self.appointment}
        return json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n"

    @classmethod
    def from_line(cls, line: str) -> JournalEntry:
        """The entry of one line; ``ValueError`` when the line is not one."""
        body = json.loads(line)
        if not isinstance(body, dict):
            raise ValueError("не объект JSON")
        values = [body.get(name) for name in _FIELDS]
        if not all(isinstance(v, str) and (v.strip() or name == "transaction")
                   for name, v in zip(_FIELDS, values, strict=True)):
            raise ValueError("нет поля " + ", ".join(_FIELDS) + " или оно пустое")
        try:
            at = datetime.fromisoformat(str(body.get("at")))
        except ValueError:
            raise ValueError("время «at» не в формате ISO 8601") from None
        if at.tzinfo is None:
            raise ValueError("время «at» без часового пояса")
        return cls(at.astimezone(UTC), *(str(v) for v in values))


@dataclass(frozen=True)
class DamagedLine:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}, строка {self.line}: {self.reason} — строка пропущена"


@dataclass(frozen=True)
class JournalRead:
    """``entries``: one per transaction, and the intents no transaction line confirms
    (``is_intent``), oldest first."""

    entries: list[JournalEntry]
    damaged: list[DamagedLine]

    @property
    def unconfirmed(self) -> list[JournalEntry]:
        return [e for e in self.entries if e.is_intent]


def file_for(directory: Path, at: datetime) -> Path:
    utc = at.astimezone(UTC)
    return directory / f"transactions-{utc:%Y-%m}.jsonl"


def append(directory: Path, entry: JournalEntry) -> Path:
    """Append ``entry`` and make it durable (the file, and the folder when the file is new).

    Raises :class:`JournalWriteFailed`; the caller decides what a failure means."""
    path = file_for(directory, entry.at)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, entry.to_line().encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_path(directory)
    except OSError as exc:
        raise JournalWriteFailed(path, exc.strerror or str(exc)) from exc
    return path



def read(directories: Iterable[Path], *, since: datetime | None = None) -> JournalRead:
    """Every entry of the journal files in ``directories`` (at or after ``since``), oldest
    first, one per transaction; damaged lines and unreadable files are listed, not raised."""
    entries: dict[str, JournalEntry] = {}
    intents: dict[str, JournalEntry] = {}
    damaged: list[DamagedLine] = []
    for directory in directories:
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            match = FILE_PATTERN.match(path.name)
            if match is None or not path.is_file():
                continue
            if since is not None and (int(match[1]), int(match[2])) < (since.year, since.month):
                continue  # the whole month is before ``since``
            _read_file(path, since, entries, intents, damaged)
    sent = {e.signing_request for e in entries.values()}
    alone = [e for request, e in intents.items() if request not in sent]
    ordered = sorted([*entries.values(), *alone], key=lambda e: (e.at, e.transaction))
    return JournalRead(ordered, damaged)


def _read_file(path: Path, since: datetime | None, entries: dict[str, JournalEntry],
               intents: dict[str, JournalEntry], damaged: list[DamagedLine]) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        damaged.append(DamagedLine(path, 0, f"файл не читается ({exc.strerror})"))
        return
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = JournalEntry.from_line(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            damaged.append(DamagedLine(path, number, f"не разобрана ({_why(exc)})"))
            continue
        if since is not None and entry.at < since:
            continue
        if entry.is_intent:
            intents.setdefault(entry.signing_request, entry)
            continue
        earlier = entries.get(entry.transaction)
        if earlier is None or entry.at < earlier.at:
            entries[entry.transaction] = entry


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "не UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return "не JSON"
    return str(exc)
