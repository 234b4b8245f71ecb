"""The transaction journal: durable appends, monthly files, damaged lines skipped."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medsign.signing import journal
from medsign.signing.journal import JournalEntry, JournalWriteFailed


def entry(tx: str, at: datetime, request: str = "r-1") -> JournalEntry:
    return JournalEntry(at=at, signing_request=request, transaction=tx, organization="mo1",
                        appointment="a1")


NOV = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
DEC = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)


def test_entries_go_to_monthly_files_and_read_back_oldest_first(tmp_path: Path) -> None:
    journal.append(tmp_path, entry("tx-dec", DEC, "r-2"))
    journal.append(tmp_path, entry("tx-nov", NOV))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "transactions-2026-11.jsonl", "transactions-2026-12.jsonl"]
    read = journal.read([tmp_path])
    assert [e.transaction for e in read.entries] == ["tx-nov", "tx-dec"]
    assert read.entries[1] == entry("tx-dec", DEC, "r-2") and read.damaged == []
    line = json.loads((tmp_path / "transactions-2026-12.jsonl").read_text())
    assert set(line) == {"at", "signing_request", "transaction", "organization", "appointment"}
    assert os.stat(tmp_path / "transactions-2026-12.jsonl").st_mode & 0o777 == 0o600


def test_since_leaves_out_older_entries_and_older_months(tmp_path: Path) -> None:
    journal.append(tmp_path, entry("tx-nov", NOV))
    journal.append(tmp_path, entry("tx-dec", DEC))
    read = journal.read([tmp_path], since=datetime(2026, 12, 1, tzinfo=UTC))
    assert [e.transaction for e in read.entries] == ["tx-dec"]


def test_a_repeated_transaction_is_read_once(tmp_path: Path) -> None:
    journal.append(tmp_path, entry("tx-1", DEC))
    journal.append(tmp_path, entry("tx-1", DEC.replace(minute=5)))
    assert [e.at for e in journal.read([tmp_path]).entries] == [DEC]


def test_damaged_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    journal.append(tmp_path, entry("tx-1", DEC))
    path = tmp_path / "transactions-2026-12.jsonl"
    with path.open("ab") as out:
        out.write(b'{"at": "2026-12-01T00:02:00+00:00", "transaction": "torn\n')
        out.write(b"\xff\xfe not utf-8\n")
        out.write(b'["a list"]\n')
        out.write(b'{"at": "yesterday", "signing_request": "r", "transaction": "t", '
                  b'"organization": "mo1", "appointment": "a"}\n')
        out.write(b'{"at": "2026-12-01T00:02:00", "signing_request": "r", "transaction": "t", '
                  b'"organization": "mo1", "appointment": "a"}\n')
    journal.append(tmp_path, entry("tx-2", DEC.replace(minute=9), "r-2"))
    read = journal.read([tmp_path])
    assert [e.transaction for e in read.entries] == ["tx-1", "tx-2"]
    assert [d.line for d in read.damaged] == [2, 3, 4, 5, 6]
    reasons = [str(d) for d in read.damaged]
    assert "не JSON" in reasons[0] and "не UTF-8" in reasons[1]
    assert "не объект JSON" in reasons[2] and "ISO 8601" in reasons[3]
    assert "без часового пояса" in reasons[4]
    assert all(r.endswith("строка пропущена") and str(path) in r for r in reasons)


def test_other_files_and_a_missing_folder_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("{}")
    assert journal.read([tmp_path, tmp_path / "missing"]).entries == []


def test_a_write_that_cannot_be_made_fails_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalWriteFailed) as caught:
        journal.append(blocker / "journal", entry("tx-1", DEC))
    assert caught.value.path == blocker / "journal" / "transactions-2026-12.jsonl"


def test_an_intent_is_returned_only_while_no_transaction_line_confirms_it(
        tmp_path: Path) -> None:
    journal.append(tmp_path, entry("", NOV, "r-sent"))
    journal.append(tmp_path, entry("tx-1", NOV.replace(minute=58), "r-sent"))
    journal.append(tmp_path, entry("", DEC, "r-killed"))
    journal.append(tmp_path, entry("", DEC.replace(minute=3), "r-killed"))  # a retried send
    read = journal.read([tmp_path])
    assert [(e.signing_request, e.transaction) for e in read.entries] == [
        ("r-sent", "tx-1"), ("r-killed", "")]
    assert [e.signing_request for e in read.unconfirmed] == ["r-killed"]
    assert read.unconfirmed[0].at == DEC and read.damaged == []
