"""Health of the external systems (Госключ, MAX, ЕСИА) as the operators' console shows it.

Source: the clients' own ``on_call(method, outcome, seconds)`` hooks, wired in the composition
root. The hook only adds to in-memory counters (it runs on the worker's event loop and must
not wait for the database); a background thread writes them every ``flush_every`` into
``external_call_stats``, one row per system and minute, which every process adds to. So the
console sees every process's calls with at most ``flush_every`` of delay; a crash loses at most
that much of the counts, which is fine for a health view (the work itself is durable).

"Сбой" is a transient outcome (timeout, connection error, 429, 5xx): the system did not work.
A rejection (4xx) is counted apart — it is usually about one request, not the system.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Row, Table, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from medsign.clock import Clock
from medsign.db.integrity import get_existing
from medsign.db.models import ExternalCallStatRow

log = logging.getLogger("medsign.health")
SYSTEMS = {"goskey": "Госключ (платформа подписания)", "max": "MAX (бот)",
           "esia": "ЕСИА (Госуслуги)"}
KEEP = timedelta(days=7)


@dataclass
class _Bucket:
    ok: int = 0
    transient: int = 0
    rejected: int = 0
    last_ok_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_failure: str | None = None


@dataclass
class HealthRecorder:
    engine: Engine
    clock: Clock
    flush_every: timedelta = timedelta(seconds=10)
    _pending: dict[tuple[str, datetime], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def observe(self, system: str, method: str, outcome: str) -> None:
        now = self.clock.now()
        with self._lock:
            bucket = self._pending.setdefault((system, _minute(now)), _Bucket())
            _count(bucket, method, outcome, now)
        self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="medsign-health",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_every.total_seconds()):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            with Session(self.engine) as db:
                for (system, minute), bucket in pending.items():
                    _add(db, system, minute, bucket)
                db.execute(delete(ExternalCallStatRow)
                           .where(ExternalCallStatRow.minute < self.clock.now() - KEEP))
                db.commit()
        except Exception as exc:  # a health counter must never take the caller down
            log.warning("could not store external call counts: %s", type(exc).__name__)

    def close(self) -> None:
        """Stop the flush thread, waiting for a flush under way (it holds a database
        connection: the owner may dispose of the engine next), then flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _count(bucket: _Bucket, method: str, outcome: str, now: datetime) -> None:
    if outcome == "ok":
        bucket.ok += 1
        bucket.last_ok_at = now
        return
    if outcome == "transient":
        bucket.transient += 1
    else:
        bucket.rejected += 1
    bucket.last_failure_at, bucket.last_failure = now, f"{method}: {outcome}"[:200]


def _add(db: Session, system: str, minute: datetime, b: _Bucket) -> None:
    table = cast(Table, ExternalCallStatRow.__table__)
    dialect_insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(dialect_insert(table).values(system=system, minute=minute, ok=0, transient=0,
                                            rejected=0).on_conflict_do_nothing())
    row = get_existing(db, ExternalCallStatRow, (system, minute), with_for_update=True)
    row.ok, row.transient, row.rejected = row.ok + b.ok, row.transient + b.transient, \
        row.rejected + b.rejected
    row.last_ok_at = _later(row.last_ok_at, b.last_ok_at)
    if b.last_failure_at is not None and b.last_failure_at == _later(row.last_failure_at,
                                                                      b.last_failure_at):
        row.last_failure_at, row.last_failure = b.last_failure_at, b.last_failure


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


@dataclass(frozen=True)
class SystemHealth:
    system: str
    title: str
    last_ok_at: datetime | None
    calls_last_hour: int
    failures_last_hour: int
    rejected_last_hour: int
    last_failure_at: datetime | None
    last_failure: str | None

    @property
    def failure_rate(self) -> float | None:
        return self.failures_last_hour / self.calls_last_hour if self.calls_last_hour else None

    @property
    def status(self) -> str:
        """"ok", "degraded", "down" or "unknown" (no calls in the last hour)."""
        rate = self.failure_rate
        if rate is None:
            return "unknown"
        return "ok" if rate < 0.05 else "degraded" if rate < 0.5 else "down"


def summary(db: Session, *, now: datetime,
            systems: Sequence[str] = tuple(SYSTEMS)) -> list[SystemHealth]:
    """Each system's last hour and last failure: two statements for all of them."""
    t = ExternalCallStatRow
    recent = t.minute >= _minute(now - timedelta(hours=1))
    totals = {r.system: r for r in db.execute(
        select(t.system,
               func.coalesce(func.sum(t.ok).filter(recent), 0).label("ok"),
               func.coalesce(func.sum(t.transient).filter(recent), 0).label("transient"),
               func.coalesce(func.sum(t.rejected).filter(recent), 0).label("rejected"),
               func.max(t.last_ok_at).label("last_ok_at"),
               func.max(t.last_failure_at).label("last_failure_at"))
        .where(t.system.in_(systems)).group_by(t.system))}
    failed = [(system, r.last_failure_at) for system, r in totals.items() if r.last_failure_at]
    failures: dict[str, str | None] = {} if not failed else {
        system: text for system, text in db.execute(
            select(t.system, t.last_failure)
            .where(tuple_(t.system, t.last_failure_at).in_(failed)))}
    return [_one(system, totals.get(system), failures.get(system)) for system in systems]


# a system's row of ``summary``'s first statement: its name, the hour's sums, the last times
_Totals = Row[str, int, int, int, datetime | None, datetime | None]


def _one(system: str, totals: _Totals | None, failure: str | None) -> SystemHealth:
    ok, transient, rejected = ((int(totals.ok), int(totals.transient), int(totals.rejected))
                               if totals else (0, 0, 0))
    return SystemHealth(system=system, title=SYSTEMS.get(system, system),
                        last_ok_at=totals.last_ok_at if totals else None,
                        calls_last_hour=ok + transient + rejected,
                        failures_last_hour=transient, rejected_last_hour=rejected,
                        last_failure_at=totals.last_failure_at if totals else None,
                        last_failure=failure)
