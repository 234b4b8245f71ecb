"""``medsign reconcile`` as an operator runs it: a subprocess, the Goskey emulator over real
HTTP (``medsign emulate goskey``) or a platform that does not answer, a journal on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from medsign.db.models import AuditRow, ReconciliationFindingRow
from medsign.signing import journal
from tests.integration.cli.test_cli import Background, Cli, free_port, wait_for

TOKEN = "goskey-partner-token-for-tests"
AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def write_journal(folder: Path, transaction: str) -> None:
    journal.append(folder, journal.JournalEntry(
        at=AT, signing_request="9b3c1a52-0000-4000-8000-000000000001",
        transaction=transaction, organization="mo1", appointment="a-77"))
    with (folder / "transactions-2026-12.jsonl").open("a", encoding="utf-8") as out:
        out.write("{torn line\n")


@pytest.fixture
def reconcile_cli(tmp_path: Path, db_url: str) -> Cli:
    cli = Cli(tmp_path, db_url)
    cli.env |= {"MEDSIGN_GOSKEY__TOKEN": TOKEN, "MEDSIGN_RUNNER__BACKOFF_BASE": "0.01",
                "MEDSIGN_RUNNER__BACKOFF_CAP": "0.05"}
    return cli


@pytest.fixture
def emulator(reconcile_cli: Cli, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process: Background = reconcile_cli.start(
        "emulate", "goskey", "--port", str(port), "--token", TOKEN, "--state-dir",
        str(tmp_path / "goskey"), name="goskey")
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/_emulator/transactions", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_for(answers, "the Goskey emulator", process)
        yield f"{url}/gov/pep"
    finally:
        process.stop()


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count(ReconciliationFindingRow.id))).scalar_one(),
                conn.execute(select(func.count()).select_from(AuditRow)
                             .where(AuditRow.action.like("reconcile.%"))).scalar_one())


def test_wrong_arguments_exit_2_in_russian(reconcile_cli: Cli, tmp_path: Path) -> None:
    done = reconcile_cli.run("reconcile", "--since", "вчера")
    assert done.returncode == 2 and "--since «вчера»" in done.stderr
    done = reconcile_cli.run("reconcile", "--journal", str(tmp_path / "missing"))
    assert done.returncode == 2 and "каталога журнала транзакций нет" in done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_to_reconcile_exits_0(reconcile_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "journal").mkdir()
    done = reconcile_cli.run("reconcile", "--journal", str(tmp_path / "journal"))
    assert done.returncode == 0, done.stderr
    assert "транзакций 0" in done.stdout


def test_a_platform_that_does_not_answer_changes_nothing_and_exits_1(
        reconcile_cli: Cli, engine: Engine, tmp_path: Path) -> None:
    write_journal(tmp_path / "journal", "tx-unanswered")
    report = tmp_path / "report.json"
    done = reconcile_cli.run(
        "reconcile", "--journal", str(tmp_path / "journal"), "--report", str(report),
        env={"MEDSIGN_GOSKEY__BASE_URL": f"http://127.0.0.1:{free_port()}/gov/pep"})
    assert done.returncode == 1, done.stderr
    assert "строка 2: не разобрана" in done.stderr and "Traceback" not in done.stderr
    assert "tx-unanswered" in done.stdout and "не ответила" in done.stdout
    body = json.loads(report.read_text(encoding="utf-8"))
    assert body["counts"]["unreachable"] == 1
    assert [f["outcome"] for f in body["findings"]] == ["unreachable"]
    assert counts(engine) == (0, 0)


@pytest.mark.slow  # four Python processes: the emulator and three runs
def test_an_unknown_journal_transaction_goes_to_an_operator_once(
        reconcile_cli: Cli, engine: Engine, emulator: str, tmp_path: Path) -> None:
    write_journal(tmp_path / "journal", "tx-the-platform-never-saw")
    args = ("reconcile", "--journal", str(tmp_path / "journal"), "--since", "2026-12-01")
    env = {"MEDSIGN_GOSKEY__BASE_URL": emulator}
    first = reconcile_cli.run(*args, env=env)
    assert first.returncode == 1, first.stderr
    assert "нет в базе → платформа: не найдена → нужно решение оператора" in first.stdout
    assert "запись a-77" in first.stdout
    assert counts(engine) == (1, 1)
    again = reconcile_cli.run(*args, "--report", str(tmp_path / "again.json"), env=env)
    assert again.returncode == 1 and counts(engine) == (1, 1)
    body = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert [f["recorded"] for f in body["findings"]] == [False]
    later = reconcile_cli.run("reconcile", "--journal", str(tmp_path / "journal"),
                              "--since", "2026-12-02", env=env)
    assert later.returncode == 0 and "транзакций 0" in later.stdout
