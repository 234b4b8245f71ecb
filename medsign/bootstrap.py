"""The composition root: settings in, wired engine, runner and web application out.

Real or emulated external systems, the clock and the flows are chosen here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy import Engine

from medsign.api.app import create_app
from medsign.clock import Clock, SystemClock
from medsign.config import Settings
from medsign.db.engine import make_engine
from medsign.runner.ratelimit import Limit, RateLimiter
from medsign.runner.worker import Flow, RunnerConfig, Worker


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)

    def app(self) -> FastAPI:
        return create_app(self.engine, clock=self.clock)

    def runner_config(self, concurrency: int | None = None) -> RunnerConfig:
        r = self.settings.runner
        return RunnerConfig(concurrency=concurrency or r.concurrency, lease=r.lease,
                            poll_interval=r.poll_interval, claim_batch=r.claim_batch,
                            backoff_base=r.backoff_base, backoff_cap=r.backoff_cap,
                            max_attempts=r.max_attempts, shutdown_grace=r.shutdown_grace)

    def rate_limiter(self) -> RateLimiter:
        limits = self.settings.rate_limits
        return RateLimiter(self.engine, {
            name: Limit(rate=getattr(limits, name).rate, burst=getattr(limits, name).burst)
            for name in ("max", "goskey", "esia", "mis")})

    def flows(self) -> list[Flow]:
        """Every kind of durable work this installation runs."""
        return []

    def worker(self, concurrency: int | None = None) -> Worker:
        return Worker(self.engine, self.flows(), self.runner_config(concurrency),
                      clock=self.clock, limiter=self.rate_limiter())


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    db = settings.database
    engine = make_engine(db.url, busy_timeout_s=db.busy_timeout.total_seconds(),
                         pool_size=db.pool_size, echo=db.echo)
    return Container(settings=settings, engine=engine, clock=clock or SystemClock())
