"""Database engines for the two supported back ends.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` and a busy timeout;
every write transaction starts with ``BEGIN IMMEDIATE`` so that there is exactly one writer at
a time and a transaction never has to be upgraded from a read lock (the usual source of
``database is locked`` errors under concurrency). Read-only work can ask for a deferred
transaction with :func:`read_only`.

Writers queue for SQLite's write lock through an advisory lock on ``<database>-writer.lock``
(see :class:`_WriterLock`), because SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20,
25… ms between attempts: a lock held for 2 ms made the other process wait ~30 ms, and with
two workers (a dozen short write transactions per signing) each spent a quarter of its time
asleep in ``BEGIN IMMEDIATE``.

PostgreSQL is chosen by URL; its claim queries use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

READ_ONLY = "medsign_read_only"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(url: str, *, busy_timeout_s: float = 5.0, pool_size: int = 10,
                echo: bool = False) -> Engine:
    url = normalize_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
        return _sqlite_engine(url, path, busy_timeout_s, echo)
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         echo=echo)


def create_private(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (0600) unless it exists.

    The mode is set explicitly after creation, so a permissive umask cannot widen it. SQLite
    gives the ``-wal`` and ``-shm`` files it makes the database file's own mode, so they are
    private too. An existing file keeps the mode its administrator chose.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _sqlite_engine(url: str, path: Path, busy_timeout_s: float, echo: bool) -> Engine:
    lock_path = path.with_name(path.name + "-writer.lock")
    engine = create_engine(url, echo=echo, connect_args={
        "timeout": busy_timeout_s, "check_same_thread": False,
        "factory": _writer_locked(lock_path, busy_timeout_s)})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        dbapi = conn.connection.dbapi_connection
        if not isinstance(dbapi, _LockingConnection):  # the connect_args factory makes them
            raise TypeError(f"SQLite connection without the writer lock: {type(dbapi).__name__}")
        dbapi.writer.acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi.writer.release()
            raise

    return engine


class _WriterLock:
    """One connection's place in the queue of SQLite writers, across threads and processes.

    ``flock`` on a file beside the database, through a descriptor of this connection's own (so
    that two connections of one process exclude each other too), taken before ``BEGIN
    IMMEDIATE`` and given up after the commit or rollback. Waiting polls every 0.05–0.5 ms
    instead of SQLite's coarse sleeps; after the busy timeout it fails as SQLite would
    (``database is locked``) rather than block forever. A process that dies holding it loses
    it with its descriptors. Whoever writes without it (the ``sqlite3`` shell, a backup) is
    still waited for by SQLite's own busy handler.
    """

    def __init__(self, path: Path, timeout_s: float) -> None:
        create_private(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._timeout_s = timeout_s
        self.held = False

    def acquire(self) -> None:
        delay, deadline = 0.00005, time.monotonic() + self._timeout_s
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise OperationalError(
                        "BEGIN IMMEDIATE", None,
                        sqlite3.OperationalError("database is locked (writer lock)")) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.0005)
            else:
                self.held = True
                return

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Idempotent: called by the connection's ``close`` and again when it is collected."""
        fd, self._fd, self.held = self._fd, -1, False
        if fd >= 0:
            os.close(fd)


class _LockingConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that gives up its :class:`_WriterLock` when its transaction
    ends, however it ends, and closes the lock's descriptor with itself (or when collected)."""

    writer: _WriterLock

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.writer.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.writer.release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.writer.close()


def _writer_locked(lock_path: Path, timeout_s: float) -> type[_LockingConnection]:
    """The connection class for one database: each connection opens the lock file itself."""
    class Connection(_LockingConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.writer = _WriterLock(lock_path, timeout_s)
            weakref.finalize(self, self.writer.close)
    return Connection


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for reading (``reading``)."""
    with reading(engine).connect() as conn, conn.begin():
        yield conn


def reading(engine: Engine) -> Engine:
    """``engine`` for sessions and connections that only read. On SQLite their transaction
    does not take the write lock. On PostgreSQL they run in autocommit: each statement sees
    the data committed before it, as it does inside a READ COMMITTED transaction, without the
    BEGIN and ROLLBACK round trips a transaction would add to every page's few reads."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(**{READ_ONLY: True}, isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{READ_ONLY: True})


# How long a client is asked to wait (``Retry-After``) when the database cannot be reached:
# a PostgreSQL restart or failover takes a few seconds; the pool reconnects by itself.
RETRY_AFTER_S = 5


def unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (down, restarting, a
    lock it gave up waiting for) — a temporary state, not a wrong query or data."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def reachable(engine: Engine) -> bool:
    """Whether the database answers a trivial query (readiness), whatever stops it."""
    try:
        with read_only(engine) as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
