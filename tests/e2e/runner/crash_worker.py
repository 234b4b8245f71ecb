"""A worker process for the crash tests: the real runner with a multi-step test flow.

    python -m tests.e2e.runner.crash_worker --db URL --server URL --concurrency N

Every step of ``test.chain`` makes one creating call to the effect server: it records the call
on its row (``begin_call``) and sends the row's idempotency key with it, exactly as production
flows must. Some steps pause after the call, so that a kill often lands between the call and
the commit of its result. SIGTERM asks for a graceful stop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
from datetime import timedelta

import httpx

from medsign.db.engine import make_engine
from medsign.runner.outcomes import Done, Next, TransientError, WorkItem
from medsign.runner.worker import RunnerConfig, StepContext, Worker

KIND = "test.chain"
STEPS = ("reserve", "charge", "notify", "close")
# Steps that pause after their call, in seconds (uniform); the others answer at once.
PAUSE_AFTER_CALL = {"charge": 0.04, "notify": 0.02}


class ChainFlow:
    """Four steps, each one outbound POST that creates something on the effect server.

    ``data["hold"]`` (seconds) makes the first attempt of the first step wait after its call:
    a slow step in flight, for the graceful-stop test.
    """

    kind = KIND

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        key = ctx.idempotency_key()
        recorded = item.call_key == key  # an earlier attempt got as far as the call
        await ctx.begin_call(key)
        await self._call(item, key, recorded=recorded)
        await asyncio.sleep(self._pause(item, recorded=recorded))
        i = STEPS.index(item.step)
        return Done() if i == len(STEPS) - 1 else Next(STEPS[i + 1])

    async def _call(self, item: WorkItem, key: str, *, recorded: bool) -> None:
        headers = {"Idempotency-Key": key, "X-Call-Recorded": "1" if recorded else "0"}
        try:
            response = await self.http.post("/effects", json={"unit": item.id, "step": item.step},
                                            headers=headers)
        except httpx.TransportError as exc:
            raise TransientError(f"effect server unreachable: {exc!r}") from exc
        if response.status_code != 201:
            raise TransientError(f"effect server answered {response.status_code}")

    @staticmethod
    def _pause(item: WorkItem, *, recorded: bool) -> float:
        hold = float(item.data.get("hold", 0))
        if hold and item.step == STEPS[0] and not recorded:
            return hold
        return random.uniform(0, PAUSE_AFTER_CALL.get(item.step, 0.0))

    def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
        logging.getLogger(__name__).error("unit %s failed: %s", item.id, reason)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--lease", type=float, default=2.0, help="seconds")
    p.add_argument("--grace", type=float, default=5.0, help="shutdown grace, seconds")
    return p.parse_args()


def config(args: argparse.Namespace) -> RunnerConfig:
    return RunnerConfig(concurrency=args.concurrency, lease=timedelta(seconds=args.lease),
                        poll_interval=timedelta(milliseconds=100),
                        backoff_base=timedelta(milliseconds=50), backoff_cap=timedelta(seconds=1),
                        max_attempts=50, shutdown_grace=timedelta(seconds=args.grace))


async def serve(args: argparse.Namespace) -> None:
    engine = make_engine(args.db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    limits = httpx.Limits(max_connections=args.concurrency)
    try:
        async with httpx.AsyncClient(base_url=args.server, limits=limits,
                                     timeout=httpx.Timeout(10.0)) as http:
            await Worker(engine, [ChainFlow(http)], config(args)).run(stop)
    finally:
        engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(serve(parse_args()))


if __name__ == "__main__":
    main()
