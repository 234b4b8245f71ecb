from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from medsign.clock import SystemClock
from medsign.db.models import WorkItemRow
from medsign.runner import store
from medsign.runner.outcomes import Done, LeaseLost, Next, PermanentError, TransientError, WorkItem
from medsign.runner.worker import RunnerConfig, StepContext, Worker

FAST = RunnerConfig(concurrency=4, poll_interval=timedelta(milliseconds=20),
                    backoff_base=timedelta(milliseconds=1), backoff_cap=timedelta(milliseconds=5),
                    max_attempts=3)


class ThreeSteps:
    kind = "test.three"

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self.failed: list[tuple[int, str]] = []

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        self.seen.append((item.id, item.step))
        if item.data.get("boom") == "permanent":
            raise PermanentError("no way", code="test.permanent")
        if item.data.get("boom") == "transient":
            raise TransientError("later")
        order = ["a", "b", "c"]
        i = order.index(item.step)
        return Done() if i == 2 else Next(order[i + 1])

    def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
        self.failed.append((item.id, reason))


def enqueue(engine: Engine, n: int, **data: str) -> list[int]:
    now = SystemClock().now()
    with engine.begin() as conn:
        return [store.enqueue(conn, kind="test.three", step="a", now=now, data=dict(data))
                for _ in range(n)]


def rows(engine: Engine) -> dict[int, WorkItemRow]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(WorkItemRow.__table__)).all()}


def run_until_idle(engine: Engine, flow: ThreeSteps) -> None:
    asyncio.run(Worker(engine, [flow], FAST).run(asyncio.Event(), until_idle=True))


def test_every_item_walks_all_its_steps_once(engine: Engine) -> None:
    ids = enqueue(engine, 10)
    flow = ThreeSteps()
    run_until_idle(engine, flow)
    assert sorted(flow.seen) == sorted((i, s) for i in ids for s in "abc")
    assert {r.status for r in rows(engine).values()} == {"done"}


def test_a_permanent_error_fails_the_item_at_once_and_tells_the_flow(engine: Engine) -> None:
    [item_id] = enqueue(engine, 1, boom="permanent")
    flow = ThreeSteps()
    run_until_idle(engine, flow)
    row = rows(engine)[item_id]
    assert (row.status, row.attempts, row.next_run_at) == ("failed", 1, None)
    assert row.last_error == "test.permanent: no way"
    assert flow.failed == [(item_id, "test.permanent: no way")]


def test_transient_errors_back_off_then_fail_after_max_attempts(engine: Engine) -> None:
    [item_id] = enqueue(engine, 1, boom="transient")
    flow = ThreeSteps()
    run_until_idle(engine, flow)
    # until_idle stops while a retry is scheduled in the future; keep running until failed
    for _ in range(50):
        if rows(engine)[item_id].status == "failed":
            break
        asyncio.run(asyncio.sleep(0.01))
        run_until_idle(engine, flow)
    row = rows(engine)[item_id]
    assert row.status == "failed" and row.attempts == FAST.max_attempts
    assert len(flow.seen) == FAST.max_attempts


def test_an_operator_retry_resumes_a_failed_item_at_its_step(engine: Engine) -> None:
    [item_id] = enqueue(engine, 1, boom="permanent")
    flow = ThreeSteps()
    run_until_idle(engine, flow)
    with engine.begin() as conn:
        conn.execute(WorkItemRow.__table__.update().values(data={}))
        assert store.operator_retry(conn, item_id, now=SystemClock().now()).ok
    run_until_idle(engine, flow)
    assert rows(engine)[item_id].status == "done"


def test_a_stale_lease_holder_cannot_overwrite_the_new_owner(engine: Engine) -> None:
    enqueue(engine, 1)
    now = SystemClock().now()
    with engine.begin() as conn:
        [first] = store.claim(conn, kinds=["test.three"], worker="w1", now=now,
                              lease=timedelta(seconds=-1), limit=1)  # expires at once
        [second] = store.claim(conn, kinds=["test.three"], worker="w2", now=now,
                               lease=timedelta(seconds=60), limit=1)
        assert second.lease_version == first.lease_version + 1
        assert not store.advance(conn, first, step="b", run_at=now, now=now, data=None)
        assert store.advance(conn, second, step="b", run_at=now, now=now, data=None)


def test_a_heartbeat_after_the_commit_leaves_the_new_timer_alone(engine: Engine) -> None:
    enqueue(engine, 1)
    now = SystemClock().now()
    later = now + timedelta(days=1)
    with engine.begin() as conn:
        [item] = store.claim(conn, kinds=["test.three"], worker="w1", now=now,
                             lease=timedelta(seconds=60), limit=1)
        assert store.advance(conn, item, step="b", run_at=later, now=now, data=None)
        assert store.extend(conn, [item], until=now + timedelta(seconds=60)) == []
    row = rows(engine)[item.id]
    assert row.next_run_at == later and row.locked_until is None


def test_a_failed_group_commit_lets_the_items_run_again(engine: Engine) -> None:
    ids = enqueue(engine, 3)
    flow = ThreeSteps()
    config = RunnerConfig(concurrency=4, poll_interval=timedelta(milliseconds=20),
                          lease=timedelta(milliseconds=300), max_attempts=3)
    worker = Worker(engine, [flow], config)
    real_flush, failures = worker._flush, []

    def flaky_flush(batch: list[object], *rest: Any) -> list[WorkItem]:
        if not failures:
            failures.append(len(batch))
            raise RuntimeError("database went away")
        return real_flush(batch, *rest)  # type: ignore[arg-type]

    worker._flush = flaky_flush  # type: ignore[method-assign]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(300):
            if {r.status for r in rows(engine).values()} == {"done"}:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(main())
    assert failures and {rows(engine)[i].status for i in ids} == {"done"}


def test_a_database_error_while_claiming_pauses_the_worker_instead_of_killing_it(
        engine: Engine) -> None:
    from sqlalchemy.exc import OperationalError

    ids = enqueue(engine, 2)
    worker = Worker(engine, [ThreeSteps()], FAST)
    real_claim, failures = worker._claim, []

    def flaky_claim(limit: int) -> list[WorkItem]:
        if len(failures) < 2:
            failures.append(limit)
            raise OperationalError("claim", {}, Exception("database is locked"))
        return real_claim(limit)

    worker._claim = flaky_claim  # type: ignore[method-assign]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(300):
            if {rows(engine)[i].status for i in ids} == {"done"}:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(main())
    assert len(failures) == 2 and {rows(engine)[i].status for i in ids} == {"done"}


class Calling:
    """Each step records a call, then looks, from outside the worker, at what is durable."""

    kind = "test.three"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.durable: dict[int, str | None] = {}

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        key = ctx.idempotency_key()
        await ctx.begin_call(key, data={"progress": item.id})
        row = await asyncio.to_thread(lambda: rows(self.engine)[item.id])
        self.durable[item.id] = row.call_key if row.data == {"progress": item.id} else None
        return Done()

    def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
        raise AssertionError(reason)


def test_a_call_record_is_committed_before_the_step_goes_on(engine: Engine) -> None:
    """Call records wait for the group commit, in one transaction with other steps' results;
    the step continues only once its record is in the database."""
    ids = enqueue(engine, 12)
    flow = Calling(engine)
    asyncio.run(Worker(engine, [flow], FAST).run(asyncio.Event(), until_idle=True))
    assert flow.durable == {i: f"medsign-test.three-{i}-a" for i in ids}
    assert {r.status for r in rows(engine).values()} == {"done"}


def test_a_call_record_of_a_lost_lease_is_refused(engine: Engine) -> None:
    [item_id] = enqueue(engine, 1)
    outcomes: list[str] = []

    class Robbed:
        kind = "test.three"

        async def run(self, item: WorkItem, ctx: StepContext) -> Done:
            with engine.begin() as conn:  # another worker took the item over
                store.release(conn, item, now=SystemClock().now())
            try:
                await ctx.begin_call("k")
            except LeaseLost:
                outcomes.append("lease_lost")
                raise
            return Done()

        def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
            pass

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(engine, [Robbed()], FAST).run(stop))
        for _ in range(200):
            if outcomes:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(main())
    assert outcomes[:1] == ["lease_lost"]
    assert rows(engine)[item_id].call_key is None


class Forever:
    """Never done: every step schedules the next one at once (like the MAX poller)."""

    kind = "test.three"

    async def run(self, item: WorkItem, ctx: StepContext) -> Next:
        await asyncio.sleep(0)
        return Next("a")

    def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
        raise AssertionError(reason)


def test_a_stopped_worker_holds_no_lease_even_when_its_last_commit_claimed(
        engine: Engine) -> None:
    """The group commit claims due items for the slots it frees; when the worker stops while
    such a commit is under way, what it claimed is given back, not left leased."""
    ids = enqueue(engine, 6)
    for _ in range(5):
        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(Worker(engine, [Forever()], FAST).run(stop))
            await asyncio.sleep(0.3)
            stop.set()
            await task

        asyncio.run(main())
        leased = {i: r.locked_by for i, r in rows(engine).items() if r.locked_by is not None}
        assert leased == {}
    assert {rows(engine)[i].status for i in ids} == {"scheduled"}


def _item(item_id: int, *, call_key: str | None = None, step: str = "send") -> WorkItem:
    return WorkItem(id=item_id, kind="signing", ref="3f0c-request-uuid", step=step, data={},
                    lease_version=1, attempts=0, call_key=call_key, call_started_at=None,
                    last_error=None)


def test_keys_named_by_the_subject_do_not_repeat_when_item_ids_do(engine: Engine) -> None:
    """After a restore the ids of lost items are handed out again: a key made from the
    subject's UUID differs for another request that gets the same item id."""
    worker = Worker(engine, [], FAST)
    mine = StepContext(worker, _item(7))
    other = StepContext(worker, WorkItem(**{**_item(7).__dict__, "ref": "another-uuid"}))
    assert mine.idempotency_key(subject="3f0c-request-uuid") == (
        "medsign-signing-3f0c-request-uuid-send")
    assert other.idempotency_key(subject="another-uuid") != mine.idempotency_key(
        subject="3f0c-request-uuid")
    assert mine.idempotency_key("upload-5", subject="3f0c-request-uuid") == (
        "medsign-signing-3f0c-request-uuid-upload-5")
    assert mine.idempotency_key() == "medsign-signing-7-send"  # no subject: the item's id


def test_a_call_recorded_with_the_id_based_key_keeps_it(engine: Engine) -> None:
    """An item in flight across the upgrade repeats its recorded call with the same key."""
    worker = Worker(engine, [], FAST)
    ctx = StepContext(worker, _item(7, call_key="medsign-signing-7-send"))
    assert ctx.idempotency_key(subject="3f0c-request-uuid") == "medsign-signing-7-send"
    # …for that call only: the item's next creating call gets the new key
    assert ctx.idempotency_key("complete", subject="3f0c-request-uuid") == (
        "medsign-signing-3f0c-request-uuid-complete")
