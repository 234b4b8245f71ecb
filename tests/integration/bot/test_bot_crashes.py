"""MAX has no idempotency keys: a worker that dies between sending a message and committing
that it did must not make the patient read it twice. The step records "call started" first;
the worker that takes the item over looks for the message in the chat before sending."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from medsign.domain import bot
from medsign.notifications.service import MESSAGE_KIND, NOTIFY_KIND
from medsign.runner import store
from medsign.runner.outcomes import WorkItem
from medsign.runner.worker import StepContext, Worker
from medsign.signing.service import SIGNING_KIND
from tests.integration.bot.conftest import VISIT, invite
from tests.integration.bot.stand import BotStand

INVITATION = "у вас приём"
LEASE = timedelta(seconds=10)


def claim(stand: BotStand, kind: str) -> WorkItem:
    with stand.engine.begin() as conn:
        [item] = store.claim(conn, kinds=[kind], worker="doomed", now=stand.clock.now(),
                             lease=LEASE, limit=1)
    return item


def run_and_die(stand: BotStand, kind: str, *, only_begin_call: bool = False) -> Any:
    """Run one step of ``kind`` in a worker that dies before committing its outcome."""
    worker: Worker = stand.container.worker()
    item = claim(stand, kind)
    ctx = StepContext(worker, item)

    async def step() -> Any:
        if only_begin_call:  # died after recording the call, before making it
            await ctx.begin_call(ctx.idempotency_key())
            return None
        return await worker.flows[kind].run(item, ctx)
    try:
        return stand.run(step())
    finally:
        worker._executor.shutdown()


def planned(stand: BotStand) -> int:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT)
    stand.set_time(VISIT - timedelta(hours=24))
    return user


def test_an_invitation_sent_just_before_a_crash_is_not_sent_again(stand: BotStand) -> None:
    user = planned(stand)
    run_and_die(stand, NOTIFY_KIND)
    [sent] = stand.sent_with(user, INVITATION)
    assert stand.notification().state == "scheduled"  # type: ignore[union-attr]

    stand.advance(LEASE + timedelta(seconds=1))
    stand.work()
    assert len(stand.sent_with(user, INVITATION)) == 1
    row = stand.notification()
    assert row is not None and (row.state, row.message_mid) == ("sent", sent["mid"])
    # ...and its buttons are the ones the service knows.
    stand.press(user, sent["mid"], f"sign:{row.token}")
    stand.work()
    assert len(stand.signing_requests()) == 1


def test_an_invitation_whose_call_never_left_is_sent_once(stand: BotStand) -> None:
    user = planned(stand)
    run_and_die(stand, NOTIFY_KIND, only_begin_call=True)
    assert stand.sent_with(user, INVITATION) == []
    stand.advance(LEASE + timedelta(seconds=1))
    stand.work()
    assert len(stand.sent_with(user, INVITATION)) == 1
    assert stand.notification().state == "sent"  # type: ignore[union-attr]


def test_a_final_message_sent_just_before_a_crash_is_not_sent_again(stand: BotStand) -> None:
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()
    [transaction] = stand.transactions()
    stand.goskey("POST", f"/transactions/{transaction['id']}/refuse")
    # Only the signing flow: the final message stays queued for the doomed worker.
    for _ in range(3):
        stand.advance(timedelta(seconds=11))
        worker = stand.container.worker()
        worker.flows = {k: f for k, f in worker.flows.items() if k == SIGNING_KIND}
        stand.run(worker.run(asyncio.Event(), until_idle=True))
    # «documents in Госключ» went out with the send; the refusal's message is queued
    assert [i.status for i in stand.items(MESSAGE_KIND)] == ["done", "scheduled"]
    run_and_die(stand, MESSAGE_KIND)
    assert len(stand.sent_with(invited.user_id, "Вы отказались")) == 1

    stand.advance(LEASE + timedelta(seconds=1))
    stand.work()
    assert len(stand.sent_with(invited.user_id, "Вы отказались")) == 1
    assert [i.status for i in stand.items(MESSAGE_KIND)] == ["done", "done"]
    # linked, invitation, documents in Госключ, the final message
    assert stand.stats()["messages_sent"] == 4
    assert bot.ALREADY_CHOSEN not in stand.toasts(invited.user_id)
