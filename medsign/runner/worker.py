"""The worker process: claim due items, run their steps, commit the outcomes.

One asyncio loop runs up to ``concurrency`` steps at a time. Every database call goes through
one thread of this worker (so SQLite sees one writer per process and the loop never blocks on
I/O). Outbound calls happen in the steps, outside any transaction. Writes are grouped: one
transaction takes every finished step's result, every call record (``begin_call``) waiting to
be made durable, and claims due items for the slots the finished steps free. Each result and
call record is written only if its lease still holds (fencing), so a worker that lost an item
to another cannot overwrite it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from medsign.clock import Clock, SystemClock
from medsign.db.engine import read_only
from medsign.logs import bind_correlation
from medsign.runner import store
from medsign.runner.backoff import backoff_delay
from medsign.runner.metrics import RunnerMetrics
from medsign.runner.outcomes import (
    Done,
    LeaseLost,
    Next,
    PermanentError,
    StepResult,
    TransientError,
    WorkItem,
)
from medsign.runner.ratelimit import RateLimiter

log = logging.getLogger("medsign.runner")
R = TypeVar("R")


class Flow(Protocol):
    """A kind of durable work: ``run`` performs the item's current step."""

    kind: str

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done: ...

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        """Called in the transaction that marks the item ``failed``."""


@dataclass(frozen=True)
class RunnerConfig:
    concurrency: int = 8
    lease: timedelta = timedelta(seconds=60)
    poll_interval: timedelta = timedelta(seconds=1)
    claim_batch: int = 32
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_cap: timedelta = timedelta(minutes=10)
    max_attempts: int = 10
    shutdown_grace: timedelta = timedelta(seconds=30)


class StepContext:
    """What a step may ask of the runner."""

    def __init__(self, worker: Worker, item: WorkItem) -> None:
        self._worker = worker
        self.item = item

    @property
    def clock(self) -> Clock:
        return self._worker.clock

    def idempotency_key(self, step: str | None = None, *, subject: str | None = None) -> str:
        """A key stable across retries and restarts of this item's step.

        ``subject`` names what the item works on with a globally unique id (a signing
        request's UUID): keys made from it stay unique after a database is restored from a
        backup, when the item ids an earlier, lost item had are handed out again — a key
        made from the item id would then make the platform answer with the lost item's
        transaction. An item whose call was recorded with the older id-based key (before
        this version, or without ``subject``) keeps that key for that call."""
        name = step or self.item.step
        legacy = f"medsign-{self.item.kind}-{self.item.id}-{name}"
        if subject is None or self.item.call_key == legacy:
            return legacy
        return f"medsign-{self.item.kind}-{subject}-{name}"

    async def begin_call(self, key: str, *, data: dict[str, Any] | None = None) -> None:
        """Durably record that a creating call with ``key`` is about to be made — and, when
        given, the item's new ``data`` (progress a later run must see even if this call
        fails: e.g. what earlier calls of the same run created)."""
        worker, now = self._worker, self.clock.now()
        if worker.committing:  # made durable by the next group commit
            record = _CallRecord(self.item, key, now, data,
                                 asyncio.get_running_loop().create_future())
            worker._record_call(record)
            ok = await record.future
        else:  # a step run on its own, outside ``Worker.run``
            ok = await worker.db(lambda: worker.in_tx(
                lambda c: store.begin_call(c, self.item, key=key, now=now, data=data)))
        if not ok:
            raise LeaseLost(f"item {self.item.id}")

    async def read(self, fn: Callable[[Connection], R]) -> R:
        """Run a query in the worker's database thread, in a read-only transaction."""
        return await self._worker.db(partial(self._worker._read, fn))

    async def rate_limit(self, api: str, key: str | None = None) -> None:
        """Wait for a token of the shared bucket of ``api`` (per ``key`` when given)."""
        limiter = self._worker.limiter
        if limiter is None:
            return
        wait = await self._worker.db(lambda: limiter.reserve(api, key))
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass
class _CallRecord:
    """A ``begin_call`` waiting for the next group commit; ``future`` gets whether the lease
    held (or the error that stopped the commit)."""

    item: WorkItem
    key: str
    at: datetime
    data: dict[str, Any] | None
    future: asyncio.Future[bool]
    ok: bool = False


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(self, engine: Engine, flows: Sequence[Flow], config: RunnerConfig | None = None,
                 *, clock: Clock | None = None, limiter: RateLimiter | None = None,
                 worker_id: str | None = None, metrics: RunnerMetrics | None = None) -> None:
        self.engine = engine
        self.flows = {f.kind: f for f in flows}
        self.config = config or RunnerConfig()
        self.clock = clock or SystemClock()
        self.limiter = limiter
        self.worker_id = worker_id or default_worker_id()
        self.metrics = metrics or RunnerMetrics()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medsign-db")
        self._inflight: dict[int, WorkItem] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._results: list[StepResult] = []
        self._calls: list[_CallRecord] = []
        self._to_write = asyncio.Event()
        self._claiming = 0  # slots promised to claims under way
        self._draining = False  # shutting down: claim nothing more
        self._closing = False  # every step has ended: the committer may stop when idle
        self.committing = False  # the group committer runs (inside ``run``)
        self._wakeup = asyncio.Event()

    # -- plumbing -------------------------------------------------------------------------
    async def db(self, fn: Callable[[], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def in_tx(self, fn: Callable[[Connection], R]) -> R:
        with self.engine.begin() as conn:
            return fn(conn)

    @property
    def kinds(self) -> list[str]:
        return list(self.flows)

    # -- the loop ------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, until_idle: bool = False) -> None:
        """Work until ``stop`` is set (or, with ``until_idle``, until nothing is due)."""
        committer = asyncio.create_task(self._commit_loop())
        self.committing = True
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        try:
            await self._loop(stop, until_idle)
        finally:
            await self._shutdown(committer, heartbeat)

    async def _loop(self, stop: asyncio.Event, until_idle: bool) -> None:
        cfg = self.config
        while not stop.is_set():
            free = self._free_slots()
            wanted = max(0, min(free, cfg.claim_batch))
            try:
                self._claiming += wanted
                try:
                    claimed = await self.db(partial(self._claim, wanted)) if wanted > 0 else []
                finally:
                    self._claiming -= wanted
                for item in claimed:
                    self._start(item)
                if wanted > 0 and len(claimed) == wanted:
                    continue
                timeout = await self._idle_timeout(free)
            except DBAPIError:
                # A locked or lost database is a pause, not the end of the worker: the
                # in-flight steps go on, and the next poll tries again.
                log.exception("could not reach the database; retrying after the poll interval")
                timeout = cfg.poll_interval.total_seconds()
            if until_idle and timeout > 0 and not self._inflight:
                return
            self._wakeup.clear()
            await _wait_any(stop, self._wakeup, timeout=timeout)

    def _free_slots(self, leaving: int = 0) -> int:
        """Steps that may start now, ``leaving`` counting results about to be committed."""
        return (self.config.concurrency - len(self._inflight) - self._claiming + leaving)

    async def _idle_timeout(self, free: int) -> float:
        """Seconds to sleep: until the next item is due, at most one poll interval."""
        poll = self.config.poll_interval.total_seconds()
        if free <= 0:
            return poll
        due = await self.db(lambda: self._read(lambda c: store.next_due(c, self.kinds)))
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self.clock.now()).total_seconds()))

    def _read(self, fn: Callable[[Connection], R]) -> R:
        with read_only(self.engine) as conn:
            return fn(conn)

    def _claim(self, limit: int) -> list[WorkItem]:
        with self.engine.begin() as conn:
            return self._claim_in(conn, limit)

    def _claim_in(self, conn: Connection, limit: int) -> list[WorkItem]:
        return store.claim(conn, kinds=self.kinds, worker=self.worker_id,
                           now=self.clock.now(), lease=self.config.lease, limit=limit)

    def _start(self, item: WorkItem) -> None:
        self._inflight[item.id] = item
        self._tasks[item.id] = asyncio.create_task(self._execute(item))

    async def _execute(self, item: WorkItem) -> None:
        result = StepResult(item, started=time.perf_counter())
        with bind_correlation(f"{item.kind}-{item.id}"):
            try:
                result.outcome = await self.flows[item.kind].run(item, StepContext(self, item))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a step's failure is data for the runner, not a crash
                result.error = exc
        result.finished = time.perf_counter()
        self._results.append(result)
        self._to_write.set()

    def _record_call(self, record: _CallRecord) -> None:
        self._calls.append(record)
        self._to_write.set()

    # -- committing ----------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while not (self._closing and not self._results and not self._calls):
            await self._to_write.wait()
            self._to_write.clear()
            batch, self._results = self._results, []
            calls = [c for c in self._calls if not c.future.done()]  # not cancelled
            self._calls = []
            if not batch and not calls:
                continue
            wanted = 0 if self._draining else max(0, min(self._free_slots(leaving=len(batch)),
                                                         self.config.claim_batch))
            self._claiming += wanted
            try:
                claimed = await self._flush_or_let_go(batch, calls, wanted)
            finally:
                self._claiming -= wanted
            for r in batch:
                self._inflight.pop(r.item.id, None)
                self._tasks.pop(r.item.id, None)
            if self._draining and claimed:
                # Shutdown began while this commit was claiming: give the items straight back
                # rather than start steps nobody will wait for.
                await self._release(claimed)
                claimed = []
            for item in claimed:
                self._start(item)
            self._wakeup.set()

    async def _flush_or_let_go(self, batch: list[StepResult], calls: list[_CallRecord],
                               claim: int) -> list[WorkItem]:
        """Commit ``batch`` and ``calls``, claiming up to ``claim`` due items in the same
        transaction; if the database refuses, drop the batch and let its leases lapse.

        The caller forgets the batch's items either way, so the heartbeat stops extending their
        leases and they become due again: a worker whose committer died on a locked or lost
        database would otherwise hold them forever while looking alive. The steps waiting on
        ``calls`` get the error, as their own ``begin_call`` would have.
        """
        try:
            claimed = await self.db(lambda: self._flush(batch, calls, claim))
        except Exception as exc:
            log.exception("could not commit %d step results; they will run again when their "
                          "leases expire", len(batch))
            for record in calls:
                if not record.future.done():
                    record.future.set_exception(exc)
            return []
        for record in calls:
            if not record.future.done():
                record.future.set_result(record.ok)
        return claimed

    def _flush(self, batch: list[StepResult], calls: Sequence[_CallRecord] = (),
               claim: int = 0) -> list[WorkItem]:
        with self.engine.begin() as conn:
            for record in calls:
                record.ok = store.begin_call(conn, record.item, key=record.key, now=record.at,
                                             data=record.data)
            for result in batch:
                self._commit_one(conn, result)
            return self._claim_in(conn, claim) if claim > 0 else []

    def _commit_one(self, conn: Connection, result: StepResult) -> None:
        item = result.item
        with bind_correlation(f"{item.kind}-{item.id}"):
            try:
                with conn.begin_nested():
                    label = self._write_result(conn, result)
            except Exception as exc:  # the step's own database writes failed: retry it
                log.exception("step result could not be committed")
                result = StepResult(item, error=exc, started=result.started,
                                    finished=result.finished)
                with conn.begin_nested():
                    label = self._write_result(conn, result)
            self.metrics.observe_step(item.kind, item.step, label,
                                      result.finished - result.started)

    def _write_result(self, conn: Connection, result: StepResult) -> str:
        item, now, outcome = result.item, self.clock.now(), result.outcome
        if isinstance(outcome, Next):
            ok = store.advance(conn, item, step=outcome.step, run_at=now + outcome.delay,
                               now=now, data=outcome.data)
            return self._applied(conn, ok, outcome.apply, "next")
        if isinstance(outcome, Done):
            ok = store.finish(conn, item, status=outcome.status, now=now, data=outcome.data)
            return self._applied(conn, ok, outcome.apply, outcome.status)
        return self._write_error(conn, item, result.error, now)

    def _applied(self, conn: Connection, ok: bool, apply: Any, label: str) -> str:
        if not ok:
            log.warning("lease lost before commit; result dropped")
            return "lease_lost"
        if apply is not None:
            apply(conn)
        return label

    def _write_error(self, conn: Connection, item: WorkItem, error: BaseException | None,
                     now: Any) -> str:
        if isinstance(error, LeaseLost):
            return "lease_lost"
        reason = describe_error(error)
        permanent = isinstance(error, PermanentError)
        if permanent or item.attempts + 1 >= self.config.max_attempts:
            if not store.fail(conn, item, now=now, error=reason):
                return "lease_lost"
            self.flows[item.kind].on_failed(conn, item, reason)
            log.error("step failed for good: %s", reason)
            return "failed"
        retry_after = error.retry_after if isinstance(error, TransientError) else None
        delay = backoff_delay(item.attempts + 1, base=self.config.backoff_base,
                              cap=self.config.backoff_cap, retry_after=retry_after)
        ok = store.retry_later(conn, item, run_at=now + delay, now=now, error=reason)
        log.warning("step will be retried in %.1fs: %s", delay.total_seconds(), reason)
        return "retry" if ok else "lease_lost"

    # -- leases --------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        period = self.config.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            items = list(self._inflight.values())
            if items:
                extend = partial(store.extend, items=items,
                                 until=self.clock.now() + self.config.lease)
                try:
                    await self.db(partial(self.in_tx, extend))
                except Exception:  # one missed beat is survivable; a dead heartbeat task is not
                    log.exception("could not extend the leases of %d items", len(items))

    async def _shutdown(self, committer: asyncio.Task[None], heartbeat: asyncio.Task[None]) -> None:
        self._draining = True
        tasks = list(self._tasks.values())
        if tasks:
            log.info("stopping: waiting for %d in-flight steps", len(tasks))
            await asyncio.wait(tasks, timeout=self.config.shutdown_grace.total_seconds())
        unfinished = [self._inflight[i] for i, t in list(self._tasks.items()) if not t.done()]
        for i, task in list(self._tasks.items()):
            if not task.done():
                task.cancel()
                self._tasks.pop(i)
        self._closing = True
        self._to_write.set()
        await committer
        self.committing = False
        heartbeat.cancel()
        if unfinished:
            await self._release(unfinished)
            log.info("released the leases of %d unfinished steps", len(unfinished))
        self._executor.shutdown(wait=True)

    async def _release(self, items: list[WorkItem]) -> None:
        now = self.clock.now()
        await self.db(lambda: self.in_tx(lambda c: [store.release(c, it, now=now)
                                                    for it in items]))


def describe_error(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    if isinstance(error, TransientError | PermanentError):
        return f"{error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
