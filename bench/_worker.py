"""A benchmark worker process: ``medsign.runner.worker.Worker`` with a benchmark flow.

Started by the benchmark scripts (see ``_support.WorkerProcess``). It builds everything, prints
``ready``, waits for ``go`` on stdin (so that start-up time is not measured), runs until
SIGTERM, and prints one JSON line of statistics on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import timedelta

from medsign.db.engine import make_engine
from medsign.runner.outcomes import Done, Next, WorkItem
from medsign.runner.worker import RunnerConfig, StepContext, Worker

TRIVIAL_STEPS = [f"s{i}" for i in range(5)]


class Trivial:
    """Five steps that return at once: measures the runner's own cost per step."""

    kind = "bench.trivial"

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        i = TRIVIAL_STEPS.index(item.step)
        return Done() if i == len(TRIVIAL_STEPS) - 1 else Next(TRIVIAL_STEPS[i + 1])

    def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
        pass


class Timer:
    """Items that wait for a far ``next_run_at``: the idle benchmark never runs them."""

    kind = "bench.timer"

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        return Done()

    def on_failed(self, conn: object, item: WorkItem, reason: str) -> None:
        pass


FLOWS = {"trivial": Trivial, "timer": Timer}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--flow", choices=sorted(FLOWS), required=True)
    defaults = RunnerConfig()
    p.add_argument("--concurrency", type=int, default=defaults.concurrency)
    p.add_argument("--claim-batch", type=int, default=defaults.claim_batch)
    p.add_argument("--poll-ms", type=float,
                   default=defaults.poll_interval.total_seconds() * 1000)
    p.add_argument("--profile", help="write a cProfile of the run to this file")
    return p.parse_args()


async def serve(worker: Worker) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.run(stop)


def main() -> None:
    args = parse_args()
    config = RunnerConfig(concurrency=args.concurrency, claim_batch=args.claim_batch,
                          poll_interval=timedelta(milliseconds=args.poll_ms))
    engine = make_engine(args.db)
    with engine.connect():  # open the first connection before the clock starts
        pass
    worker = Worker(engine, [FLOWS[args.flow]()], config)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "go":
        return
    started = time.perf_counter()
    if args.profile:
        profile(worker, args.profile)
    else:
        asyncio.run(serve(worker))
    steps = steps_run(worker)
    engine.dispose()
    sys.stdout.write(json.dumps({"steps": steps, "seconds": time.perf_counter() - started})
                     + "\n")


def profile(worker: Worker, target: str) -> None:
    """cProfile of the event loop (``target``) and of the database thread (``target.db``)."""
    import cProfile

    loop_prof, db_prof = cProfile.Profile(), cProfile.Profile()
    worker._executor.submit(db_prof.enable).result()
    loop_prof.runcall(asyncio.run, serve(worker))
    loop_prof.dump_stats(target)
    db_prof.dump_stats(target + ".db")


def steps_run(worker: Worker) -> int:
    """Steps this worker committed (any outcome), from its Prometheus counter."""
    return int(sum(sample.value for metric in worker.metrics.steps.collect()
                   for sample in metric.samples if sample.name.endswith("_total")))


if __name__ == "__main__":
    main()
