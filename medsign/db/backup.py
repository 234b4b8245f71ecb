"""Consistent backups of a live medsign database, and their restore.

A backup is two files: the data (``target``) and its manifest (``target.json``, with the
SHA-256 of the data). The data is written to ``target.tmp`` and renamed; the manifest is written
last, so it is the commit record: a data file without a manifest is an unfinished backup, and
:func:`verify_backup` refuses it.

- **SQLite**: the online backup API copies pages from inside one read transaction held on the
  source connection. In WAL mode that pins a single snapshot: other writers keep committing and
  the copy neither sees them nor restarts. (Without the held transaction SQLite restarts the copy
  after every foreign commit, which under steady writes never finishes.) Restore copies the
  backup into the live file through the same API, inside one write transaction: readers see the
  old database until the commit, then the restored one.
- **PostgreSQL**: ``pg_dump --format=custom`` reads from one snapshot by itself. Restore is
  ``pg_restore --clean --single-transaction``: a failed restore changes nothing. ``--clean``
  drops and recreates the tables, which the append-only ``audit_log`` allows (its triggers
  refuse UPDATE, DELETE and TRUNCATE, not DROP).

Every failure is a :class:`BackupError` whose message is meant for the operator.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from medsign.db.engine import create_private, make_engine, normalize_url, sqlite_path
from medsign.db.migrate import current_revision
from medsign.files import fsync_path

ProgressCallback = Callable[[int, int], None]
"""``(done, total)``: pages for SQLite, tables for PostgreSQL."""

FORMAT = 1
BACKENDS = ("sqlite", "postgresql")
# 1 MiB per step with 4 KiB pages: progress stays fine-grained without a call per page.
PAGES_PER_STEP = 256
# Long enough to wait out an ordinary write transaction of the running service.
BUSY_TIMEOUT_S = 30.0
STDERR_TAIL_LINES = 15
# Ordinary tables outside the system schemas: the ones pg_dump dumps the contents of.
_PG_TABLES = text("""
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
""")


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    backend: str
    sha256: str
    size: int
    created_at: datetime
    """When the backup started, i.e. (to within the connect time) the moment of its snapshot."""
    schema_revision: str | None


class BackupError(Exception):
    """A backup could not be made, checked or restored; the message says why, in Russian."""


def create_backup(db_url: str, target: Path, *,
                  progress: ProgressCallback | None = None) -> BackupInfo:
    url = _parse(db_url)
    target = Path(target)
    tmp = _sibling(target, ".tmp")
    started = datetime.now(UTC)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_sqlite_file(tmp)  # a leftover of an interrupted run
    except (FileExistsError, NotADirectoryError):
        raise BackupError(f"Не удаётся писать копию в {target.parent}: на этом пути файл, "
                          "а не папка") from None
    except OSError as exc:
        raise BackupError(f"Не удаётся писать копию в {target.parent}: "
                          f"{exc.strerror or exc}") from None
    try:
        if url.get_backend_name() == "sqlite":
            revision = _sqlite_backup(url, target, tmp, progress)
        else:
            revision = _pg_backup(url, tmp, progress)
        return _publish(tmp, target, url.get_backend_name(), started, revision)
    except BaseException:
        _remove_sqlite_file(tmp)
        raise


def verify_backup(path: Path) -> BackupInfo:
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"Файл резервной копии не найден: {path}")
    info = _read_manifest(path)
    size = path.stat().st_size
    if size != info.size:
        raise BackupError(f"Размер резервной копии {path} не совпадает с манифестом: "
                          f"ожидалось {info.size} байт, на диске {size} — файл обрезан или "
                          "подменён")
    actual = _sha256(path)
    if actual != info.sha256:
        raise BackupError(f"Контрольная сумма резервной копии {path} не совпадает: ожидалась "
                          f"{info.sha256}, получена {actual} — файл повреждён или изменён")
    return info


def restore_backup(path: Path, db_url: str, *,
                   progress: ProgressCallback | None = None) -> BackupInfo:
    url = _parse(db_url)
    info = verify_backup(Path(path))
    backend = url.get_backend_name()
    if info.backend != backend:
        raise BackupError(f"Резервная копия {info.path} снята с базы {info.backend}, а "
                          f"восстановить её просят в базу {backend}: восстанавливать можно "
                          "только в базу того же типа")
    if backend == "sqlite":
        _sqlite_restore(info.path, url, progress)
    else:
        _pg_restore(info.path, url, progress)
    return info


# --- common -----------------------------------------------------------------------------------


def _parse(db_url: str) -> URL:
    try:
        url = make_url(normalize_url(db_url))
    except Exception as exc:  # SQLAlchemy raises ArgumentError, ValueError or others
        raise BackupError(f"Не удалось разобрать адрес базы данных: {exc}") from exc
    if url.get_backend_name() not in BACKENDS:
        raise BackupError(f"Резервное копирование не поддерживает СУБД «{url.get_backend_name()}»"
                          " — только SQLite и PostgreSQL")
    return url


@contextmanager
def _failure(what: str) -> Iterator[None]:
    """Turn the errors of the layers below into a BackupError that says what was being done."""
    try:
        yield
    except (sqlite3.Error, SQLAlchemyError, OSError) as exc:
        raise BackupError(f"{what}: {exc}") from exc


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _manifest_path(path: Path) -> Path:
    return _sibling(path, ".json")


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()



def _replace(src: Path, dst: Path) -> None:
    """Rename durably: the file's bytes reach the disk before the name, the name after."""
    fsync_path(src)
    os.replace(src, dst)
    fsync_path(dst.parent)


def _publish(tmp: Path, target: Path, backend: str, started: datetime,
             revision: str | None) -> BackupInfo:
    with _failure(f"Не удалось сохранить резервную копию {target}"):
        info = BackupInfo(path=target, backend=backend, sha256=_sha256(tmp),
                          size=tmp.stat().st_size, created_at=started, schema_revision=revision)
        # An older backup's manifest must not vouch for the new data, even for a moment.
        _manifest_path(target).unlink(missing_ok=True)
        _replace(tmp, target)
        _write_manifest(info)
    return info


def _write_manifest(info: BackupInfo) -> None:
    manifest = {"format": FORMAT, "backend": info.backend, "sha256": info.sha256,
                "size": info.size, "created_at": info.created_at.isoformat(),
                "schema_revision": info.schema_revision}
    final = _manifest_path(info.path)
    tmp = _sibling(final, ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _replace(tmp, final)


def _read_manifest(path: Path) -> BackupInfo:
    manifest = _manifest_path(path)
    try:
        raw = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"Нет манифеста {manifest}: резервная копия не была завершена или "
                          "манифест потерян, проверить её невозможно") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"Манифест {manifest} не читается: {exc}") from exc
    return _manifest_info(raw, path, manifest)


def _manifest_info(raw: Any, path: Path, manifest: Path) -> BackupInfo:
    try:
        if raw["format"] != FORMAT:
            raise BackupError(f"Манифест {manifest} в неизвестном формате {raw['format']!r}: "
                              "копия создана более новой версией medsign")
        revision = raw["schema_revision"]
        if revision is not None and not isinstance(revision, str):
            raise TypeError("schema_revision")
        return BackupInfo(path=path, backend=str(raw["backend"]), sha256=str(raw["sha256"]),
                          size=int(raw["size"]), created_at=datetime.fromisoformat(
                              raw["created_at"]), schema_revision=revision)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"Манифест {manifest} повреждён (поле {exc})") from exc


# --- SQLite -----------------------------------------------------------------------------------


def _sqlite_file(url: URL) -> Path:
    path = sqlite_path(url.render_as_string(hide_password=False))
    if path is None:
        raise BackupError("У базы SQLite в памяти нет файла: копировать и восстанавливать можно "
                          "только базу в файле")
    return path.resolve()


def _sqlite_connect(path: Path, mode: str) -> sqlite3.Connection:
    # mode=rw never creates a file, so a mistyped path is an error rather than an empty database.
    # isolation_level=None: the sqlite3 module must not open transactions behind our back.
    conn = sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_S,
                           isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _sqlite_steps(progress: ProgressCallback | None) -> Callable[[int, int, int], None] | None:
    if progress is None:
        return None

    def step(_status: int, remaining: int, total: int) -> None:
        progress(total - remaining, total)

    return step


def _sqlite_backup(url: URL, target: Path, tmp: Path,
                   progress: ProgressCallback | None) -> str | None:
    live = _sqlite_file(url)
    if not live.is_file():
        raise BackupError(f"Файл базы данных не найден: {live}")
    if target.resolve() == live:
        raise BackupError(f"Резервную копию нельзя записать поверх самой базы: {live}")
    with _failure(f"Не удалось снять резервную копию базы {live}"):
        create_private(tmp)  # a backup holds every patient's data: the owner's eyes only
        with closing(_sqlite_connect(live, "rw")) as src, \
                closing(_sqlite_connect(tmp.resolve(), "rwc")) as dst:
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # pins the snapshot
            src.backup(dst, pages=PAGES_PER_STEP, progress=_sqlite_steps(progress))
            src.execute("ROLLBACK")
        _make_self_contained(tmp)
        return _sqlite_revision(tmp)


def _make_self_contained(path: Path) -> None:
    # The copy inherits the WAL flag from the source's header; a rollback-journal file can be
    # opened read-only without creating -wal/-shm beside it and is exactly what was checksummed.
    with closing(_sqlite_connect(path.resolve(), "rw")) as conn:
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()


def _sqlite_revision(path: Path) -> str | None:
    # A plain engine: medsign's own would switch the copy back to WAL on connect.
    engine = create_engine(URL.create("sqlite", database=str(path)))
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _sqlite_restore(path: Path, url: URL, progress: ProgressCallback | None) -> None:
    live = _sqlite_file(url)
    with _failure(f"Не удалось восстановить базу {live} из {path}"):
        live.parent.mkdir(parents=True, exist_ok=True)
        create_private(live)
        with closing(_sqlite_connect(path.resolve(), "ro")) as src, \
                closing(_sqlite_connect(live, "rwc")) as dst:
            src.backup(dst, pages=PAGES_PER_STEP, progress=_sqlite_steps(progress))


def _remove_sqlite_file(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        _sibling(path, suffix).unlink(missing_ok=True)


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_backup(url: URL, tmp: Path, progress: ProgressCallback | None) -> str | None:
    pg_dump = _pg_tool("pg_dump")
    revision, tables = _pg_catalog(url)
    create_private(tmp)  # pg_dump writes into it and keeps its mode
    _run_pg_tool([pg_dump, "--format=custom", "--verbose", "--no-password", f"--file={tmp}",
                  f"--dbname={_conninfo(url)}"], _pg_env(url),
                 marker="dumping contents of table", total=tables, progress=progress)
    return revision


def _pg_restore(path: Path, url: URL, progress: ProgressCallback | None) -> None:
    pg_restore = _pg_tool("pg_restore")
    tables = _archive_tables(pg_restore, path)
    # --single-transaction: all or nothing, and readers see the old data until the commit.
    _run_pg_tool([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
                  "--verbose", "--no-password", f"--dbname={_conninfo(url)}", str(path)],
                 _pg_env(url), marker="processing data for table", total=tables,
                 progress=progress)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"Программа {name} не найдена в PATH: установите клиент PostgreSQL "
                          "(пакет postgresql-client) той же или более новой версии, что сервер")
    return found


def _pg_catalog(url: URL) -> tuple[str | None, int]:
    """The schema revision and the number of tables whose contents pg_dump will report."""
    with _failure(f"Не удалось подключиться к базе {_where(url)}"):
        engine = make_engine(url.render_as_string(hide_password=False), pool_size=1)
        try:
            with engine.connect() as conn:
                tables = int(conn.execute(_PG_TABLES).scalar_one())
            return current_revision(engine), tables
        finally:
            engine.dispose()


def _archive_tables(pg_restore: str, path: Path) -> int:
    listing = _capture([pg_restore, "--list", str(path)], _c_locale(dict(os.environ)))
    return sum(1 for line in listing.splitlines()
               if " TABLE DATA " in line and not line.startswith(";"))


def _where(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _conninfo(url: URL) -> str:
    """libpq keyword/value parameters, without the password (that goes in PGPASSWORD, where
    other users cannot read it as they can read a command line)."""
    params: dict[str, object] = {"host": url.host, "port": url.port, "user": url.username,
                                 "dbname": url.database}
    for key, value in url.query.items():  # sslmode=..., host=/socket/dir, ...
        params[key] = value if isinstance(value, str) else ",".join(value)
    return " ".join(f"{key}={_conninfo_quote(str(value))}"
                    for key, value in params.items() if value is not None)


def _conninfo_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pg_env(url: URL) -> dict[str, str]:
    env = _c_locale(dict(os.environ))
    if url.password is not None:
        env["PGPASSWORD"] = url.password
    return env


def _c_locale(env: dict[str, str]) -> dict[str, str]:
    # Progress is read from the tools' English messages; a Russian locale would translate them.
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    return env


def _capture(args: list[str], env: dict[str, str]) -> str:
    with _failure(f"Не удалось запустить {Path(args[0]).name}"):
        done = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              encoding="utf-8", errors="replace", check=False)
    if done.returncode != 0:
        raise _tool_failed(args[0], done.returncode, done.stderr.splitlines())
    return done.stdout


def _run_pg_tool(args: list[str], env: dict[str, str], *, marker: str, total: int,
                 progress: ProgressCallback | None) -> None:
    """Run pg_dump/pg_restore, reporting progress from its --verbose lines as they come."""
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    with _failure(f"Не удалось запустить {Path(args[0]).name}"):
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                encoding="utf-8", errors="replace")
    with proc:
        if proc.stderr is None:  # cannot happen with stderr=PIPE
            raise RuntimeError(f"{args[0]} started without a pipe for its stderr")
        try:
            _follow(proc.stderr, tail, marker, total, progress)
        except BaseException:
            proc.kill()  # the caller gave up (its callback raised, Ctrl-C): so do we
            raise
    if proc.returncode != 0:
        raise _tool_failed(args[0], proc.returncode, tail)
    if progress is not None:
        progress(total, total)


def _follow(lines: Iterable[str], tail: deque[str], marker: str, total: int,
            progress: ProgressCallback | None) -> None:
    done = 0
    for line in lines:
        tail.append(line.rstrip())
        if marker in line and progress is not None:
            done += 1
            # The catalog count can lag a table created meanwhile; never report past the total.
            progress(min(done, total), total)


def _tool_failed(tool: str, code: int, stderr: Iterable[str]) -> BackupError:
    lines = list(stderr)[-STDERR_TAIL_LINES:]
    return BackupError(f"{Path(tool).name} завершился с ошибкой (код {code}). Последние строки "
                       "его вывода:\n" + "\n".join(lines))
