"""``housekeeping``: one standing item that prunes what only grows (``housekeeping.service``).

A singleton (``store.ensure_singleton``), like the MAX poller: every worker asks for it at
start, one item exists. Each run deletes one bounded batch per table in the transition's own
commit (fenced by the lease, so two workers never prune at once) and comes back at once while
a backlog remains, else after ``interval``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Connection

from medsign.clock import Clock
from medsign.config import HousekeepingSettings
from medsign.housekeeping import service as housekeeping
from medsign.runner.outcomes import Next, WorkItem
from medsign.runner.ratelimit import Limit
from medsign.runner.worker import StepContext

KIND = "housekeeping"
STEP = "prune"
log = logging.getLogger("medsign.housekeeping.flow")


class HousekeepingFlow:
    """Prunes by the ``[housekeeping]`` settings; ``limits`` are the runner's rate buckets (a
    per-chat bucket that has filled up again may go)."""

    kind = KIND

    def __init__(self, settings: HousekeepingSettings, limits: dict[str, Limit],
                 clock: Clock) -> None:
        self.settings, self.limits, self.clock = settings, limits, clock

    async def run(self, item: WorkItem, ctx: StepContext) -> Next:
        s, now = self.settings, self.clock.now()
        more = await ctx.read(lambda conn: housekeeping.backlog(
            conn, retention=s, limits=self.limits, now=now, batch=s.batch_size))

        def apply(conn: Connection) -> None:
            deleted = housekeeping.prune(conn, retention=s, limits=self.limits, now=now,
                                         batch=s.batch_size)
            if any(deleted.values()):
                log.info("housekeeping deleted %s", {k: v for k, v in deleted.items() if v})
        return Next(STEP, delay=timedelta(0) if more else s.interval, apply=apply)

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        log.error("housekeeping stopped: %s", reason)
