"""Every ``serve`` and ``worker`` keeps a row in ``service_processes`` while it runs.

The row is written at start, its ``heartbeat_at`` refreshed every
:data:`~medsign.domain.liveness.HEARTBEAT_INTERVAL` by a thread of its own (so that neither
a busy event loop nor a slow database delays the other), and deleted on a clean stop. A
heartbeat that fails — the database is down — is logged and tried again at the next tick:
the process goes on. ``restore`` reads the rows (:func:`processes`) and judges them with
:mod:`medsign.domain.liveness`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from importlib import metadata

from sqlalchemy import Connection, Engine, delete, insert, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError

from medsign.db.models.operations import ServiceProcessRow
from medsign.domain.liveness import HEARTBEAT_INTERVAL, ProcessRecord

log = logging.getLogger("medsign.presence")
Row = ServiceProcessRow


def medsign_version() -> str:
    try:
        return metadata.version("medsign")
    except metadata.PackageNotFoundError:  # run from a bare source tree
        return "unknown"


class ProcessPresence:
    """This process's row; :meth:`start` and :meth:`stop` (or ``with``)."""

    def __init__(self, engine: Engine, kind: str, *,
                 interval_s: float = HEARTBEAT_INTERVAL.total_seconds()) -> None:
        self.engine = engine
        self.kind = kind
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{kind}-{self.host}-{self.pid}-{uuid.uuid4().hex[:8]}"[:100]
        self.started_at = datetime.now(UTC)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProcessPresence:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._beat()
        self._thread = threading.Thread(target=self._run, name=f"presence-{self.kind}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(Row).where(Row.id == self.id))
        except SQLAlchemyError as exc:
            log.warning("Не удалось удалить отметку процесса %s: %s", self.id, exc)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()

    def _beat(self) -> None:
        """Refresh the row, or write it again (it was never written, or a restore removed
        it); a failure is logged and left to the next tick."""
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                found = conn.execute(update(Row).where(Row.id == self.id)
                                     .values(heartbeat_at=now)).rowcount
                if not found:
                    conn.execute(insert(Row).values(
                        id=self.id, kind=self.kind, host=self.host, pid=self.pid,
                        version=medsign_version()[:50], started_at=self.started_at,
                        heartbeat_at=now))
        except SQLAlchemyError as exc:
            log.warning("Не удалось обновить отметку процесса %s (база недоступна?), "
                        "повтор через %.0f с: %s", self.id, self._interval, exc)


def processes(conn: Connection) -> list[ProcessRecord]:
    """Every row (live or stale); none when the database has no such table yet."""
    if not inspect(conn).has_table(Row.__tablename__):
        return []
    rows = conn.execute(select(Row.kind, Row.host, Row.pid, Row.heartbeat_at))
    return [ProcessRecord(kind, host, pid, beat) for kind, host, pid, beat in rows]


def forget_all(conn: Connection) -> None:
    """Remove every row: after a restore they describe the processes of the past."""
    if inspect(conn).has_table(Row.__tablename__):
        conn.execute(delete(Row))
