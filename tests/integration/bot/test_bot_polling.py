"""Long polling (``max.poll``): the marker lives in the work item and moves only in the
transaction that stores the batch it acknowledges; a crash in between re-reads the batch, and
the updates read twice are stored and handled once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from medsign.bot import updates as max_updates
from medsign.bot.flow import PollFlow
from medsign.bot.updates import POLL_KIND
from medsign.db.models import MaxUpdateRow, WorkItemRow
from medsign.domain import bot
from medsign.runner import store
from medsign.runner.worker import StepContext, Worker
from tests.integration.bot.stand import BotStand

LINKED = bot.linked("Иванов Иван Иванович")


def poller_flows(stand: BotStand) -> tuple[list[Any], PollFlow]:
    """Every flow of the installation; the poller asks with ``timeout=0`` so that a test's
    stop is not held up by a 25-second long poll."""
    flows = stand.container.flows()
    [poll] = [f for f in flows if isinstance(f, PollFlow)]
    poll.timeout = 0
    return flows, poll


def worker_for(stand: BotStand, flows: list[Any]) -> Worker:
    c = stand.container
    return Worker(stand.engine, flows, c.runner_config(), clock=stand.clock,
                  limiter=c.rate_limiter(), worker_id="test-poller")


def run_until(stand: BotStand, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run a worker (with the real, never-idle poller) until ``condition`` holds."""
    async def go() -> None:
        flows, _ = poller_flows(stand)
        worker = worker_for(stand, flows)
        stop = asyncio.Event()

        async def watch() -> None:
            deadline = time.monotonic() + timeout
            try:
                while not await asyncio.to_thread(condition) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            finally:
                stop.set()
        watcher = asyncio.create_task(watch())
        await worker.run(stop)
        await watcher
    stand.run(go())
    assert condition(), "the condition did not come true in time"


def poll_item(stand: BotStand) -> WorkItemRow:
    [item] = [i for i in stand.items(POLL_KIND) if i.status == "scheduled"]
    return item


def patient_in(stand: BotStand) -> tuple[str, int]:
    stand.put_organization()
    stand.put_patient()
    token = stand.deep_link_token()
    user = stand.new_user(start=True, payload=token)
    return token, user


def said(stand: BotStand, user: int) -> list[str | None]:
    """What the bot wrote to ``user`` — read straight from the emulator (the side door would
    need the stand's event loop, which the worker is running)."""
    return [m.text for m in stand.emulator.store.dialog(user) if m.from_bot]


def linked(stand: BotStand) -> bool:
    return stand.patient().max_user_id is not None and stand.count(MaxUpdateRow) >= 1


def test_the_poller_replaces_a_webhook_and_keeps_the_marker_in_its_item(
        stand: BotStand) -> None:
    stand.run(stand.max_client.subscribe("http://127.0.0.1:9/elsewhere", secret=None))
    stand.container.ensure_background_work()
    item = poll_item(stand)
    assert (item.step, item.ref, item.data) == ("start", POLL_KIND, {})
    _, user = patient_in(stand)

    log = stand.emulator.store.log
    run_until(stand, lambda: linked(stand) and poll_item(stand).data.get("marker")
              == log.next_number and not log.pending)
    assert stand.emulator.store.subscription is None
    item = poll_item(stand)
    assert item.step == "poll" and item.data == {"marker": log.next_number}
    [row] = stand.update_rows()
    assert (row.update_type, row.via) == ("bot_started", "polling")
    run_until(stand, lambda: len(said(stand, user)) == 1)
    assert [m["text"] for m in stand.bot_messages(user)] == [LINKED]
    # One poller, however often the installation starts.
    stand.container.ensure_background_work()
    stand.container.ensure_background_work()
    assert len([i for i in stand.items(POLL_KIND) if i.status == "scheduled"]) == 1


def test_the_marker_moves_only_with_the_stored_batch(
        stand: BotStand, monkeypatch: pytest.MonkeyPatch) -> None:
    stand.container.ensure_background_work()
    run_until(stand, lambda: poll_item(stand).step == "poll")
    marker_before = poll_item(stand).data.get("marker")
    patient_in(stand)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the database refused the batch")
    monkeypatch.setattr(max_updates, "ingest_many", broken)
    run_until(stand, lambda: "the database refused" in (poll_item(stand).last_error or ""))
    item = poll_item(stand)
    assert item.data.get("marker") == marker_before, "the marker must not pass a lost batch"
    assert stand.count(MaxUpdateRow) == 0
    assert len(stand.emulator.store.log.pending) == 1  # never acknowledged to the platform

    monkeypatch.undo()
    stand.advance(timedelta(seconds=5))  # past the retry's backoff
    run_until(stand, lambda: linked(stand))
    assert stand.count(MaxUpdateRow) == 1


def test_a_crash_between_fetching_and_committing_rereads_the_batch_harmlessly(
        stand: BotStand) -> None:
    stand.container.ensure_background_work()
    run_until(stand, lambda: poll_item(stand).step == "poll")
    _, user = patient_in(stand)
    stand.advance(timedelta(seconds=1))
    stand.max("POST", f"/users/{user}/messages", {"text": "Здравствуйте"})
    pending = [q.body for q in stand.emulator.store.log.pending]
    assert len(pending) == 2
    marker_before = poll_item(stand).data.get("marker")

    # A worker claims the poller, fetches the batch... and dies before its commit.
    flows, poll = poller_flows(stand)
    doomed = worker_for(stand, flows)
    with stand.engine.begin() as conn:
        [claimed] = store.claim(conn, kinds=[POLL_KIND], worker="doomed", now=stand.clock.now(),
                                lease=timedelta(seconds=10), limit=1)

    async def fetch() -> Any:
        return await poll.run(claimed, StepContext(doomed, claimed))
    outcome = stand.run(fetch())
    doomed._executor.shutdown()
    assert outcome.step == "poll" and outcome.data["marker"] > (marker_before or 0)
    # Part of the batch had reached the service another way (say, an earlier webhook).
    assert stand.ingest(pending[0]) is True
    assert poll_item(stand).data.get("marker") == marker_before
    assert poll_item(stand).locked_by == "doomed"

    # Its lease runs out; another worker takes the poller over and reads the batch again.
    stand.advance(timedelta(seconds=11))
    log = stand.emulator.store.log
    run_until(stand, lambda: poll_item(stand).data.get("marker") == log.next_number
              and stand.count(MaxUpdateRow) == 2 and not log.pending
              and len(said(stand, user)) == 1)
    rows = stand.update_rows()
    assert sorted(r.update_type for r in rows) == ["bot_started", "message_created"]
    assert stand.patient().max_user_id == user
    assert [m["text"] for m in stand.bot_messages(user)] == [LINKED]  # handled once
