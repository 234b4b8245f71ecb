"""``housekeeping``: one standing item that prunes what only grows (``services.housekeeping``).

A singleton (``store.ensure_singleton``), like the MAX poller: every worker asks for it at
start, one item exists. Each run deletes one bounded batch per table in the transition's own
commit (fenced by the lease, so two workers never prune at once) and comes back at once while
a backlog remains, else after ``interval``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from medsign.clock import Clock
from medsign.housekeeping import service as housekeeping
from medsign.housekeeping.service import Retention
from medsign.runner.outcomes import Next, WorkItem
from medsign.runner.ratelimit import Limit
from medsign.runner.worker import StepContext

KIND = "housekeeping"
STEP = "prune"
log = logging.getLogger("medsign.housekeeping.flow")


@dataclass(frozen=True)
class HousekeepingPolicy:
    retention: Retention
    limits: dict[str, Limit]
    interval: timedelta
    batch: int


class HousekeepingFlow:
    kind = KIND

    def __init__(self, policy: HousekeepingPolicy, clock: Clock) -> None:
        self.policy, self.clock = policy, clock

    async def run(self, item: WorkItem, ctx: StepContext) -> Next:
        p, now = self.policy, self.clock.now()
        more = await ctx.read(lambda conn: housekeeping.backlog(
            conn, retention=p.retention, limits=p.limits, now=now, batch=p.batch))

        def apply(conn: Connection) -> None:
            deleted = housekeeping.prune(conn, retention=p.retention, limits=p.limits, now=now,
                                         batch=p.batch)
            if any(deleted.values()):
                log.info("housekeeping deleted %s", {k: v for k, v in deleted.items() if v})
        return Next(STEP, delay=timedelta(0) if more else p.interval, apply=apply)

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        log.error("housekeeping stopped: %s", reason)
