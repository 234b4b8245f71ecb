"""The runner's SQL: enqueue, claim, fenced finish, leases, operator actions, queue stats.

Every write by a lease holder is fenced: ``WHERE id = :id AND lease_version = :version``.
A worker whose lease expired and was taken over matches zero rows and drops its result.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    String,
    Subquery,
    Table,
    Update,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    select,
    true,
    union_all,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from medsign.db.models import SingletonRow, WorkItemRow
from medsign.db.types import matching
from medsign.runner.outcomes import WorkItem

T = cast(Table, WorkItemRow.__table__)
SCHEDULED = "scheduled"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (SCHEDULED, DONE, FAILED, CANCELLED)

_CLAIM_COLUMNS = (T.c.id, T.c.kind, T.c.ref, T.c.step, T.c.data, T.c.lease_version,
                  T.c.attempts, T.c.call_key, T.c.call_started_at, T.c.last_error)
# A literal (not a bound parameter) so that SQLite can use the partial index on due items.
_IS_SCHEDULED = matching(T.c.status, SCHEDULED)


def _scheduled(conn: Connection) -> ColumnElement[Any]:
    """The ``status = 'scheduled'`` term of the queries that look for due items.

    Without statistics SQLite's planner prefers the (status, kind) index — equalities on both
    its columns — and then reads and sorts every open item of those kinds at each poll (tens of
    milliseconds with 100k timers). Wrapped in ``likelihood()`` the term no longer matches that
    index but still qualifies the partial index on ``next_run_at``, which reaches the due items
    (or the next one) directly.
    """
    if conn.dialect.name == "sqlite":
        # Untyped: typed Boolean, SQLAlchemy would append "= 1" and the partial index is lost.
        return func.likelihood(_IS_SCHEDULED, literal_column("1.0"))
    return _IS_SCHEDULED


def enqueue(conn: Connection, *, kind: str, step: str, now: datetime, ref: str | None = None,
            data: dict[str, Any] | None = None, run_at: datetime | None = None) -> int:
    """Add a work item inside the caller's transaction (the outbox pattern)."""
    result = conn.execute(insert(T).values(
        kind=kind, ref=ref, status=SCHEDULED, step=step, data=data or {},
        next_run_at=run_at or now, lease_version=0, attempts=0,
        created_at=now, updated_at=now).returning(T.c.id))
    return int(result.scalar_one())


def _heads(conn: Connection, kinds: Sequence[str], *columns: ColumnElement[Any],
           due_by: datetime | None, limit: int, lock: bool = False) -> Subquery:
    """Per kind, its first ``limit`` scheduled items by ``next_run_at`` (only those due by
    ``due_by`` when given), as one subquery of ``columns``.

    Each kind is one range of ``ix_work_items_kind_due``, read in order and cut at ``limit``,
    so the cost is at most ``limit`` rows per kind however many items wait, are due or are
    done. One query over all kinds would read the due items of every kind (or of other kinds)
    to find the earliest. On PostgreSQL a LATERAL join over the kinds (a locking clause is
    not allowed in a UNION); with ``lock`` each kind skips the rows other claims hold.
    """
    def head(kind: Any) -> Select[Any]:
        query = select(*columns).where(_scheduled(conn), T.c.kind == kind)
        if due_by is not None:
            query = query.where(T.c.next_run_at <= due_by)
        query = query.order_by(T.c.next_run_at).limit(limit)
        return query.with_for_update(skip_locked=True) if lock else query

    if conn.dialect.name == "postgresql":
        wanted = values(column("kind", String), name="wanted").data([(k,) for k in kinds])
        per_kind = head(wanted.c.kind).lateral("per_kind")
        return select(per_kind).select_from(wanted.join(per_kind, true())).subquery("heads")
    return union_all(*(select(head(k).subquery()) for k in kinds)).subquery("heads")


def claim(conn: Connection, *, kinds: Sequence[str], worker: str, now: datetime,
          lease: timedelta, limit: int) -> list[WorkItem]:
    """Lease up to ``limit`` due items, earliest due first across ``kinds``. The lease expiry
    becomes their ``next_run_at``."""
    if not kinds or limit <= 0:
        return []
    statement = claim_statement(conn, kinds=kinds, worker=worker, now=now, lease=lease,
                                limit=limit)
    return [_to_item(r) for r in conn.execute(statement).all()]


def claim_statement(conn: Connection, *, kinds: Sequence[str], worker: str, now: datetime,
                    lease: timedelta, limit: int) -> Any:
    """The claim's ``UPDATE … RETURNING`` (its plan is checked in the tests)."""
    heads = _heads(conn, kinds, T.c.id, T.c.next_run_at, due_by=now, limit=limit, lock=True)
    due = select(heads.c.id).order_by(heads.c.next_run_at).limit(limit)
    until = now + lease
    return (update(T).where(T.c.id.in_(due.scalar_subquery()))
            .values(next_run_at=until, locked_until=until, locked_by=worker,
                    lease_version=T.c.lease_version + 1, updated_at=now)
            .returning(*_CLAIM_COLUMNS))


def _to_item(r: Row[Any]) -> WorkItem:
    return WorkItem(id=r.id, kind=r.kind, ref=r.ref, step=r.step, data=dict(r.data or {}),
                    lease_version=r.lease_version, attempts=r.attempts, call_key=r.call_key,
                    call_started_at=r.call_started_at, last_error=r.last_error)


def _fenced(item: WorkItem) -> Any:
    return and_(T.c.id == item.id, T.c.lease_version == item.lease_version)


def fenced_update(conn: Connection, item: WorkItem, **values: Any) -> bool:
    """Write ``values`` only if this worker still holds the lease. True when it did."""
    params = {f"v_{name}": value for name, value in values.items()}
    result = conn.execute(_fenced_statement(frozenset(values)),
                          {"f_id": item.id, "f_version": item.lease_version, **params})
    return result.rowcount == 1


@functools.lru_cache(maxsize=64)
def _fenced_statement(columns: frozenset[str]) -> Update:
    """One prepared ``UPDATE … WHERE id AND lease_version`` per set of columns written: the
    runner writes a handful of such sets thousands of times a second, and building the
    statement anew (and its cache key) cost more than running it."""
    return (update(T).where(T.c.id == bindparam("f_id"),
                            T.c.lease_version == bindparam("f_version"))
            .values({name: bindparam(f"v_{name}", type_=T.c[name].type)
                     for name in sorted(columns)}))


def advance(conn: Connection, item: WorkItem, *, step: str, run_at: datetime, now: datetime,
            data: dict[str, Any] | None) -> bool:
    # A step that succeeded ends its run of failures, also when it continues at the same step
    # (a poll): ``attempts`` counts consecutive failures, not the failures of a whole lifetime.
    values: dict[str, Any] = dict(step=step, next_run_at=run_at, locked_by=None,
                                  locked_until=None, updated_at=now, call_key=None,
                                  call_started_at=None, last_error=None, attempts=0)
    if data is not None:
        values["data"] = data
    return fenced_update(conn, item, **values)


def finish(conn: Connection, item: WorkItem, *, status: str, now: datetime,
           data: dict[str, Any] | None = None, error: str | None = None) -> bool:
    values: dict[str, Any] = dict(status=status, next_run_at=None, locked_by=None,
                                  locked_until=None, updated_at=now, finished_at=now,
                                  call_key=None, call_started_at=None, last_error=error)
    if data is not None:
        values["data"] = data
    return fenced_update(conn, item, **values)


def retry_later(conn: Connection, item: WorkItem, *, run_at: datetime, now: datetime,
                error: str) -> bool:
    """Record a failed attempt; the item keeps its step and its call record."""
    return fenced_update(conn, item, attempts=item.attempts + 1, next_run_at=run_at,
                         locked_by=None, locked_until=None, updated_at=now, last_error=error)


def fail(conn: Connection, item: WorkItem, *, now: datetime, error: str) -> bool:
    return fenced_update(conn, item, status=FAILED, attempts=item.attempts + 1,
                         next_run_at=None, locked_by=None, locked_until=None,
                         updated_at=now, last_error=error)


def begin_call(conn: Connection, item: WorkItem, *, key: str, now: datetime,
               data: dict[str, Any] | None = None) -> bool:
    """Record, before an outbound call that creates something, that it is being made (and,
    when given, the item's new ``data``)."""
    values: dict[str, Any] = dict(call_key=key, call_started_at=now, updated_at=now)
    if data is not None:
        values["data"] = data
    return fenced_update(conn, item, **values)


def extend(conn: Connection, items: Iterable[WorkItem], *, until: datetime) -> list[int]:
    """Heartbeat: push the lease of in-flight items forward. Returns the ids whose lease held.

    A committed transition ends the lease without changing ``lease_version``, and a heartbeat
    may have picked its items just before that commit; hence the extra ``locked_until`` check,
    without which the heartbeat would overwrite the item's new timer with the lease expiry.
    """
    held = []
    for item in items:
        leased = and_(_fenced(item), T.c.locked_until.is_not(None))
        if conn.execute(update(T).where(leased)
                        .values(next_run_at=until, locked_until=until)).rowcount == 1:
            held.append(item.id)
    return held


def release(conn: Connection, item: WorkItem, *, now: datetime) -> bool:
    """Give an unfinished item back (graceful shutdown): due now, fenced out of our hands."""
    return fenced_update(conn, item, next_run_at=now, locked_by=None, locked_until=None,
                         lease_version=item.lease_version + 1, updated_at=now)


def next_due(conn: Connection, kinds: Sequence[str]) -> datetime | None:
    """The earliest ``next_run_at`` among the scheduled items of ``kinds``."""
    if not kinds:
        return None
    result: datetime | None = conn.execute(next_due_query(conn, kinds)).scalar_one_or_none()
    return result


def next_due_query(conn: Connection, kinds: Sequence[str]) -> Select[Any]:
    """``next_due``'s query: one index entry per kind."""
    heads = _heads(conn, kinds, T.c.next_run_at, due_by=None, limit=1)
    return select(func.min(heads.c.next_run_at))


@dataclass(frozen=True)
class OperatorResult:
    ok: bool
    status: str | None


def operator_retry(conn: Connection, item_id: int, *, now: datetime) -> OperatorResult:
    """Put a ``failed`` item back in the queue at the step where it failed."""
    changed = conn.execute(
        update(T).where(T.c.id == item_id, T.c.status == FAILED)
        .values(status=SCHEDULED, attempts=0, next_run_at=now, finished_at=None,
                lease_version=T.c.lease_version + 1, updated_at=now)).rowcount
    return OperatorResult(changed == 1, _status(conn, item_id))


def operator_cancel(conn: Connection, item_id: int, *, now: datetime,
                    reason: str) -> OperatorResult:
    """Stop an item that is not finished. A worker holding it is fenced out."""
    changed = conn.execute(
        update(T).where(T.c.id == item_id, T.c.status.in_((SCHEDULED, FAILED)))
        .values(status=CANCELLED, next_run_at=None, locked_by=None, locked_until=None,
                lease_version=T.c.lease_version + 1, last_error=reason, updated_at=now,
                finished_at=now)).rowcount
    return OperatorResult(changed == 1, _status(conn, item_id))


def _status(conn: Connection, item_id: int) -> str | None:
    return conn.execute(select(T.c.status).where(T.c.id == item_id)).scalar_one_or_none()


def cancel_for_ref(conn: Connection, *, kind: str, ref: str, now: datetime,
                   reason: str) -> int:
    """Cancel the open items of one subject (e.g. an appointment cancelled by the МИС)."""
    return conn.execute(cancel_for_ref_statement(kind=kind, ref=ref, now=now,
                                                 reason=reason)).rowcount


def cancel_for_ref_statement(*, kind: str, ref: str, now: datetime, reason: str) -> Update:
    """``cancel_for_ref``'s ``UPDATE``: one range of ``ix_work_items_kind_ref``."""
    return (update(T).where(T.c.kind == kind, T.c.ref == ref,
                            T.c.status.in_((SCHEDULED, FAILED)))
            .values(status=CANCELLED, next_run_at=None, locked_by=None, locked_until=None,
                    lease_version=T.c.lease_version + 1, last_error=reason, updated_at=now,
                    finished_at=now))


def finish_for_ref(conn: Connection, *, kind: str, ref: str, now: datetime,
                   reason: str) -> int:
    """End the open items of one subject as ``done``: what they were to do has been done
    elsewhere (a reconciliation after a restore found the platform had completed it)."""
    return conn.execute(
        update(T).where(T.c.kind == kind, T.c.ref == ref, T.c.status.in_((SCHEDULED, FAILED)))
        .values(status=DONE, next_run_at=None, locked_by=None, locked_until=None,
                lease_version=T.c.lease_version + 1, last_error=reason, updated_at=now,
                finished_at=now)).rowcount


def move_for_ref(conn: Connection, *, kind: str, ref: str, step: str, now: datetime,
                 data: dict[str, Any]) -> int:
    """Put the scheduled item of one subject at ``step``, due now, with no call record; a
    worker holding it is fenced out (a reconciliation after a restore: the transaction a lost
    send created is known, so the item polls it instead of sending again)."""
    return conn.execute(
        update(T).where(T.c.kind == kind, T.c.ref == ref, T.c.status == SCHEDULED)
        .values(step=step, data=data, next_run_at=now, locked_by=None, locked_until=None,
                lease_version=T.c.lease_version + 1, call_key=None, call_started_at=None,
                attempts=0, last_error=None, updated_at=now)).rowcount


@dataclass(frozen=True)
class QueueStat:
    kind: str
    status: str
    count: int
    oldest: datetime | None
    more: bool = False  # counted up to ``count`` only: there are more


# Finished work is counted over this recent window only: the table keeps weeks of it
# (``housekeeping.finished_work_items``), and a count of all of it would cost every scrape
# of /metrics and every refresh of the console's overview a read of millions of rows.
FINISHED_WINDOW = timedelta(hours=1)
OPEN_STATUSES = (SCHEDULED, FAILED)


def queue_stats(conn: Connection, *, now: datetime, most: int | None = None) -> list[QueueStat]:
    """By kind and status, how many and since when (the oldest ``updated_at``): the open
    items (scheduled or failed, each status through its own index of (kind, updated_at):
    the cost of the backlog, not of the history), and the work finished within
    ``FINISHED_WINDOW`` (through ``ix_work_items_finished``).

    ``most``: count each open kind and status up to it only (``more`` says there are more):
    a backlog of a hundred thousand after an outage, or years of failures nobody cleared, then
    cost a page no more than ``most`` index entries. The metrics count everything."""
    group = (T.c.kind, T.c.status)
    stats: list[QueueStat] = []
    for status in OPEN_STATUSES:
        if most is None:  # by kind alone: the status's own index of (kind, updated_at) serves
            stats += [QueueStat(kind, status, count, oldest) for kind, count, oldest in
                      conn.execute(select(T.c.kind, func.count(), func.min(T.c.updated_at))
                                   .where(matching(T.c.status, status)).group_by(T.c.kind))]
            continue
        for kind in _kinds(conn, status):
            mine = (matching(T.c.status, status), T.c.kind == kind)
            # in the index's order: the planner walks it, no further than most + 1
            upto = (select(T.c.updated_at).where(*mine).order_by(T.c.updated_at)
                    .limit(most + 1).subquery())
            counted, oldest = conn.execute(select(
                select(func.count()).select_from(upto).scalar_subquery(),
                select(func.min(T.c.updated_at)).where(*mine).scalar_subquery())).one()
            stats.append(QueueStat(kind, status, min(counted, most), oldest, counted > most))
    recent: Any = T.c.finished_at >= now - FINISHED_WINDOW
    if conn.dialect.name == "sqlite":  # else it reads every done item by status, not the hour
        recent = func.likelihood(recent, literal_column("0.001"))
    finished = conn.execute(select(*group, func.count(), func.min(T.c.updated_at))
                            .where(matching(T.c.status, DONE, CANCELLED), recent)
                            .group_by(*group)).all()
    return stats + [QueueStat(r[0], r[1], r[2], r[3]) for r in finished]


def _kinds(conn: Connection, status: str) -> list[str]:
    """The kinds that have items of ``status``: one index look-up per kind (a recursive
    skip over the status's (kind, updated_at) index), not a read of every item."""
    first = select(func.min(T.c.kind).label("kind")).where(matching(T.c.status, status))
    found = first.cte("kinds", recursive=True)
    following = (select(func.min(T.c.kind)).where(matching(T.c.status, status),
                                                  T.c.kind > found.c.kind)
                 .scalar_subquery())
    found = found.union_all(select(following).where(found.c.kind.is_not(None)))
    return [k for k in conn.scalars(select(found.c.kind)) if k is not None]


def overdue_since(conn: Connection, *, now: datetime) -> dict[str, datetime]:
    """Per kind, the earliest ``next_run_at`` among due items — how far behind the workers
    are. An item waiting for its time (tomorrow's invitation) is not behind, nor one being
    worked on: a claim moves ``next_run_at`` to the end of its lease."""
    rows = conn.execute(
        select(T.c.kind, func.min(T.c.next_run_at))
        .where(_scheduled(conn), T.c.next_run_at <= now)
        .group_by(T.c.kind)).all()
    return {kind: since for kind, since in rows if since is not None}


def ensure_singleton(conn: Connection, *, name: str, kind: str, step: str,
                     now: datetime) -> int:
    """The one live item of ``name`` (e.g. the MAX poller): created, or revived if it ended.

    Safe when several workers start at once: the singleton row is claimed first (insert or
    lock), and only its holder enqueues.
    """
    s = cast(Table, SingletonRow.__table__)
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(s).values(name=name, work_item_id=0)
                 .on_conflict_do_nothing(index_elements=["name"]))
    current = conn.execute(select(s.c.work_item_id).where(s.c.name == name)
                           .with_for_update()).scalar_one()
    if current and _status(conn, current) == SCHEDULED:
        return int(current)
    item_id = enqueue(conn, kind=kind, step=step, now=now, ref=name)
    conn.execute(update(s).where(s.c.name == name).values(work_item_id=item_id))
    return item_id


def retire_singleton(conn: Connection, *, name: str, now: datetime, reason: str) -> None:
    s = cast(Table, SingletonRow.__table__)
    current = conn.execute(select(s.c.work_item_id).where(s.c.name == name)).scalar()
    if current:
        operator_cancel(conn, int(current), now=now, reason=reason)
