"""Backup and restore of a live database: the round trip loses nothing, a copy taken under
concurrent writes is one consistent snapshot, and a damaged or incomplete copy is refused
before it can touch the database."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, delete, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from medsign.db.backup import (
    PAGES_PER_STEP,
    BackupError,
    create_backup,
    restore_backup,
    verify_backup,
)
from medsign.db.engine import make_engine, read_only
from medsign.db.migrate import head_revision
from medsign.db.models import Base
from tests.dbs import PgDatabase, SqliteTemplate

T = Base.metadata.tables
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
# Bulky audit rows make the SQLite file several backup steps long (~4 KiB page per row).
AUDIT_ROWS = 3 * PAGES_PER_STEP
Snapshot = dict[str, list[tuple[Any, ...]]]
Calls = list[tuple[int, int]]


# --- data -------------------------------------------------------------------------------------


def org(i: int) -> dict[str, Any]:
    return {"code": f"org-{i}", "name": f"Клиника №{i}", "address": "Москва, ул. Пример, 1",
            "ogrn": "1027700000000", "inn": "7700000000", "kpp": "770001001",
            "timezone": "Europe/Moscow", "quiet_hours": "22:00-08:00",
            "partner_department_id": None, "template_ids": {"treatment": f"tpl-{i}"},
            "created_at": T0, "updated_at": T0}


def patient(i: int, org_id: int) -> dict[str, Any]:
    return {"external_id": f"p-{i}", "organization_id": org_id, "last_name": "Иванова",
            "first_name": f"Мария{i}", "middle_name": None if i % 2 else "Петровна",
            "birth_date": date(1980 + i, 1, 2), "phone": f"+7999000000{i}",
            "max_user_id": 10_000_000_000 + i, "max_reachable": bool(i % 2),
            "created_at": T0, "updated_at": T0}


def appointment(i: int, org_id: int, patient_id: int) -> dict[str, Any]:
    return {"external_id": f"a-{i}", "organization_id": org_id, "patient_id": patient_id,
            "starts_at": T0 + timedelta(days=i), "timezone": "Europe/Moscow",
            "doctor_name": "Сидоров С. С.", "service_name": "Консультация", "status": "scheduled",
            "reschedule_count": 0, "created_at": T0, "updated_at": T0}


def signing_request(i: int, appointment_id: int, org_id: int, patient_id: int,
                    client_id: int) -> dict[str, Any]:
    return {"id": f"00000000-0000-0000-0000-00000000000{i}", "appointment_id": appointment_id,
            "organization_id": org_id, "patient_id": patient_id,
            "consent_kinds": ["treatment", "personal_data"], "phone": "+79990000001",
            "initiated_by": "api", "state": "sent", "transaction_id": f"tx-{i}",
            "zip_file_id": None, "uploaded_file_ids": [f"f-{i}"], "completion_file_id": None,
            "failed_from": None, "reason": None, "api_client_id": client_id,
            "idempotency_key": f"idem-{i}", "completed_at": None, "created_at": T0,
            "updated_at": T0}


def api_client(i: int) -> dict[str, Any]:
    return {"name": f"client-{i}", "token_hash": f"{i:064x}", "token_prefix": f"ms_{i}",
            "organizations": ["org-0"], "created_at": T0, "revoked_at": None}


def work_item(ref: str) -> dict[str, Any]:
    return {"kind": "test.backup", "ref": ref, "status": "scheduled", "step": "start",
            "data": {"ref": ref}, "next_run_at": T0, "locked_by": None, "locked_until": None,
            "lease_version": 0, "attempts": 0, "last_error": None, "call_key": None,
            "call_started_at": None, "created_at": T0, "updated_at": T0, "finished_at": None}


def audit(ref: str, note: str = "") -> dict[str, Any]:
    return {"at": T0, "actor": "test", "action": "backup.test", "subject_type": "work_item",
            "subject_id": ref, "organization_code": "org-0", "correlation_id": None,
            "details": {"note": note}}


def add(conn: Connection, table: str, rows: list[dict[str, Any]]) -> list[int]:
    t = T[table]
    stmt = insert(t).returning(t.c.id, sort_by_parameter_order=True)
    return list(conn.execute(stmt, rows).scalars())


def fill(engine: Engine) -> None:
    with engine.begin() as conn:
        orgs = add(conn, "organizations", [org(i) for i in range(2)])
        pats = add(conn, "patients", [patient(i, orgs[i % 2]) for i in range(4)])
        appts = add(conn, "appointments",
                    [appointment(i, orgs[i % 2], pats[i % 4]) for i in range(6)])
        add(conn, "consents", [{"appointment_id": a, "kind": kind, "signing_method": "gosklyuch",
                                "state": "pending", "updated_at": T0}
                               for a in appts for kind in ("treatment", "personal_data")])
        clients = add(conn, "api_clients", [api_client(i) for i in range(2)])
        requests = [signing_request(i, appts[i], orgs[i % 2], pats[i % 4], clients[0])
                    for i in range(3)]
        conn.execute(insert(T["signing_requests"]), requests)
        add(conn, "signing_events", [{"signing_request_id": r["id"], "at": T0 + timedelta(s),
                                      "from_state": None, "to_state": "sent", "actor": "system",
                                      "reason": None, "details": {"step": s}}
                                     for r in requests for s in range(2)])
        conn.execute(insert(T["idempotency_keys"]), [
            {"api_client_id": clients[0], "key": f"k-{i}", "request_hash": f"{i:064x}",
             "status_code": 201, "body": {"id": i}, "created_at": T0} for i in range(2)])
        conn.execute(insert(T["rate_buckets"]), [{"name": "max", "tokens": 2.5,
                                                  "updated_at": 1.25}])
        add(conn, "work_items", [work_item(f"fill-{i}") for i in range(5)])
        add(conn, "audit_log", [audit(f"fill-{i}", note=f"{i:04d}" * 900)
                                for i in range(AUDIT_ROWS)])


def mutate(engine: Engine) -> None:
    """What happens to a database after its backup: edits, deletions, new rows."""
    with engine.begin() as conn:
        conn.execute(update(T["patients"]).where(T["patients"].c.id == 1)
                     .values(phone="+79991112233"))
        conn.execute(update(T["organizations"]).values(name="Переименована"))
        conn.execute(delete(T["signing_events"]))
        conn.execute(delete(T["consents"]).where(T["consents"].c.id <= 3))
        conn.execute(delete(T["idempotency_keys"]))
        conn.execute(delete(T["work_items"]))
        add(conn, "api_clients", [api_client(9)])
        add(conn, "audit_log", [audit("after-backup")])  # append-only: it can only grow


def snapshot(engine: Engine) -> Snapshot:
    """Every table's full content, rows sorted by primary key."""
    with read_only(engine) as conn:
        tables = {t.name: [tuple(row) for row in
                           conn.execute(select(t).order_by(*t.primary_key.columns))]
                  for t in Base.metadata.sorted_tables}
        tables["alembic_version"] = [tuple(row) for row in
                                     conn.execute(text("SELECT version_num FROM alembic_version"))]
    return tables


# --- helpers ----------------------------------------------------------------------------------


class Writer:
    """A second writer, in its own thread, that commits one transaction whenever asked.

    The backup's progress callback asks it once per step, so its commits land *between* the
    backup's steps; that is where a naive page copy either tears or (SQLite) restarts. Driving it
    this way needs no sleeps and keeps the expected backup content exact: everything committed
    before the backup started and nothing the writer added. The cap stops a restarting backup
    from looping forever (its progress then goes backwards, which the tests catch).
    """

    def __init__(self, engine: Engine, cap: int = 60) -> None:
        self._engine = engine
        self._cap = cap
        self._asks: queue.Queue[bool] = queue.Queue()
        self._answers: queue.Queue[BaseException | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.commits = 0

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._asks.put(False)
        self._thread.join(timeout=10)

    def commit_one(self) -> None:
        if self.commits >= self._cap:
            return
        self._asks.put(True)
        error = self._answers.get(timeout=10)
        if error is not None:
            raise error
        self.commits += 1

    def _serve(self) -> None:
        while self._asks.get():
            try:
                self._write(f"writer-{self.commits}")
                self._answers.put(None)
            except BaseException as exc:  # handed to the asking thread
                self._answers.put(exc)

    def _write(self, ref: str) -> None:
        appts = T["appointments"]
        with self._engine.begin() as conn:
            add(conn, "work_items", [work_item(ref)])
            add(conn, "audit_log", [audit(ref)])
            conn.execute(update(appts).where(appts.c.id == 1)
                         .values(reschedule_count=appts.c.reschedule_count + 1))


def assert_rises_to_total(calls: Calls) -> None:
    done = [d for d, _ in calls]
    assert len(calls) > 1
    assert done == sorted(done)
    assert len({total for _, total in calls}) == 1
    assert calls[-1][0] == calls[-1][1] > 0


def sqlite_copy_snapshot(path: Path) -> Snapshot:
    """Read a SQLite backup without changing a byte of it."""
    copy = create_engine(f"sqlite:///{path.as_uri()}?mode=ro&uri=true")
    try:
        return snapshot(copy)
    finally:
        copy.dispose()


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.config.getoption("--db") == "postgresql":
        pytest.skip("only for SQLite, and --db postgresql was chosen")
    template: SqliteTemplate = request.getfixturevalue("_sqlite_template")
    return template.copy_to(tmp_path / "live.db")


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.config.getoption("--db") == "sqlite":
        pytest.skip("only for PostgreSQL, and --db sqlite was chosen")
    pg: PgDatabase = request.getfixturevalue("_pg")
    engine = make_engine(pg.url)
    pg.reset(engine)
    engine.dispose()
    yield pg.url


# --- both back ends ---------------------------------------------------------------------------


def test_backup_under_concurrent_writes_restores_the_snapshot_exactly(
        backend: str, db_url: str, engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    before = snapshot(engine)
    calls: Calls = []
    with Writer(engine) as writer:
        def on_progress(done: int, total: int) -> None:
            calls.append((done, total))
            writer.commit_one()

        info = create_backup(db_url, tmp_path / "backups" / "medsign.bak", progress=on_progress)
    assert writer.commits >= 3  # the writer really committed while the backup ran
    assert_rises_to_total(calls)
    assert sorted(p.name for p in info.path.parent.iterdir()) == ["medsign.bak",
                                                                  "medsign.bak.json"]
    assert (info.backend, info.schema_revision) == (backend, head_revision())
    if backend == "sqlite":
        with closing(sqlite3.connect(f"{info.path.as_uri()}?mode=ro", uri=True)) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert sqlite_copy_snapshot(info.path) == before
    assert verify_backup(info.path) == info

    mutate(engine)
    assert snapshot(engine) != before
    assert restore_backup(info.path, db_url) == info
    assert snapshot(engine) == before


def test_progress_rises_to_the_total_for_backup_and_restore(
        db_url: str, engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    made: Calls = []
    restored: Calls = []
    info = create_backup(db_url, tmp_path / "m.bak", progress=lambda *c: made.append(c))
    restore_backup(info.path, db_url, progress=lambda *c: restored.append(c))
    assert_rises_to_total(made)
    assert_rises_to_total(restored)


def test_a_corrupted_backup_is_refused_and_the_database_is_untouched(
        db_url: str, engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    info = create_backup(db_url, tmp_path / "m.bak")
    mutate(engine)
    live = snapshot(engine)
    flip_byte(info.path, info.size // 2)
    with pytest.raises(BackupError, match="Контрольная сумма .* не совпадает: ожидалась "
                                          f"{info.sha256}, получена [0-9a-f]{{64}}"):
        restore_backup(info.path, db_url)
    assert snapshot(engine) == live


def test_a_backup_without_its_manifest_is_refused(
        db_url: str, engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    info = create_backup(db_url, tmp_path / "m.bak")
    mutate(engine)
    live = snapshot(engine)
    Path(f"{info.path}.json").unlink()
    with pytest.raises(BackupError, match="Нет манифеста .*m.bak.json"):
        verify_backup(info.path)
    with pytest.raises(BackupError, match="Нет манифеста"):
        restore_backup(info.path, db_url)
    assert snapshot(engine) == live


def test_a_missing_backup_file_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="Файл резервной копии не найден: .*nothing.bak"):
        restore_backup(tmp_path / "nothing.bak", db_url)


def test_a_backup_is_only_restored_into_the_same_kind_of_database(
        backend: str, db_url: str, tmp_path: Path) -> None:
    info = create_backup(db_url, tmp_path / "m.bak")
    other_file = tmp_path / "other.db"
    other = ("postgresql+psycopg://nobody@127.0.0.1:1/none" if backend == "sqlite"
             else f"sqlite:///{other_file}")
    with pytest.raises(BackupError, match=f"снята с базы {backend}"):
        restore_backup(info.path, other)
    assert not other_file.exists()


def test_a_new_backup_replaces_an_older_one_with_its_manifest(
        db_url: str, engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "m.bak"
    first = create_backup(db_url, target)
    fill(engine)
    second = create_backup(db_url, target)
    assert second.sha256 != first.sha256
    assert verify_backup(target) == second


# --- SQLite -----------------------------------------------------------------------------------


def test_sqlite_readers_see_the_old_database_until_the_restore_commits(
        sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    try:
        fill(engine)
        before = snapshot(engine)
        info = create_backup(sqlite_url, tmp_path / "m.bak")
        mutate(engine)
        mutated = snapshot(engine)
        seen: list[Snapshot] = []
        restore_backup(info.path, sqlite_url, progress=lambda *_: seen.append(snapshot(engine)))
        assert seen[0] == mutated  # mid-restore: the restore's pages are not visible yet
        assert all(s in (mutated, before) for s in seen)  # never a mixture
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def test_sqlite_restore_creates_a_missing_database_file(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    fill(engine)
    before = snapshot(engine)
    engine.dispose()
    info = create_backup(sqlite_url, tmp_path / "m.bak")
    fresh = f"sqlite:///{tmp_path / 'new' / 'medsign.db'}"
    restore_backup(info.path, fresh)
    restored = make_engine(fresh)
    assert snapshot(restored) == before
    restored.dispose()


def test_sqlite_backup_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    live = tmp_path / "absent.db"
    with pytest.raises(BackupError, match="Файл базы данных не найден"):
        create_backup(f"sqlite:///{live}", tmp_path / "m.bak")
    assert sorted(tmp_path.iterdir()) == []


def test_sqlite_backup_refuses_to_overwrite_the_database_itself(sqlite_url: str) -> None:
    live = Path(make_url(sqlite_url).database or "")
    size = live.stat().st_size
    with pytest.raises(BackupError, match="поверх самой базы"):
        create_backup(sqlite_url, live)
    assert live.stat().st_size == size
    assert not Path(f"{live}.tmp").exists()


# --- PostgreSQL -------------------------------------------------------------------------------


def test_without_pg_dump_the_error_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError, match="pg_dump не найдена в PATH.*postgresql-client"):
        create_backup("postgresql+psycopg://u@127.0.0.1/db", tmp_path / "m.bak")
    assert sorted(tmp_path.iterdir()) == []


def test_a_failing_pg_dump_leaves_no_file_and_its_stderr_is_reported(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pg_dump"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\n'
                    'printf "%s" "$PGPASSWORD" > "$0.password"\n'
                    'for a in "$@"; do case "$a" in --file=*) echo partial > "${a#--file=}";; '
                    'esac; done\n'
                    'echo "pg_dump: error: query failed: server closed the connection" >&2\n'
                    'exit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    secret_url = make_url(pg_url).set(password="s3cr'et").render_as_string(hide_password=False)
    out = tmp_path / "out"
    with pytest.raises(BackupError, match=r"(?s)pg_dump завершился с ошибкой \(код 1\).*"
                                          "server closed the connection"):
        create_backup(secret_url, out / "m.bak")
    assert list(out.iterdir()) == []  # neither m.bak nor the partial m.bak.tmp
    assert "s3cr'et" not in (bin_dir / "pg_dump.args").read_text()
    assert (bin_dir / "pg_dump.password").read_text() == "s3cr'et"


def test_pg_restore_recreates_the_append_only_audit_log_with_its_guards(
        pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    try:
        fill(engine)
        info = create_backup(pg_url, tmp_path / "m.bak")
        mutate(engine)
        restore_backup(info.path, pg_url)
        with pytest.raises(DBAPIError, match="audit_log is append-only"), engine.begin() as conn:
            conn.execute(delete(T["audit_log"]))
        with pytest.raises(DBAPIError, match="audit_log is append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
    finally:
        engine.dispose()


# --- file modes -------------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: the modes below must not depend on the process's."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_sqlite_database_and_its_side_files_are_the_owners_only(
        tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "var" / "medsign.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # a write: WAL, shared memory and the writer lock exist now
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-writer.lock"))]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()


def test_an_existing_database_keeps_the_mode_its_administrator_chose(tmp_path: Path) -> None:
    path = tmp_path / "medsign.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o640


def test_a_sqlite_backup_and_a_restored_database_are_the_owners_only(
        sqlite_url: str, tmp_path: Path, open_umask: None) -> None:
    info = create_backup(sqlite_url, tmp_path / "backups" / "m.bak")
    assert mode(info.path) == 0o600
    fresh = tmp_path / "new" / "medsign.db"
    restore_backup(info.path, f"sqlite:///{fresh}")
    assert mode(fresh) == 0o600


def test_a_postgresql_backup_is_the_owners_only(pg_url: str, tmp_path: Path,
                                                open_umask: None) -> None:
    info = create_backup(pg_url, tmp_path / "pg.dump")
    assert mode(info.path) == 0o600
