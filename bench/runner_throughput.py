"""Runner throughput: steps per second of trivial steps, from start until every item is done.

Each item walks five steps that return ``Next``/``Done`` at once, so the measured rate is the
runner's own cost per step: claim, fenced commit, leases. SQLite runs one worker process,
PostgreSQL two. Usage::

    .venv/bin/python bench/runner_throughput.py [--db sqlite|postgresql|both] [--items N]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from _support import (
    bench_database,
    cpu_seconds,
    print_table,
    run_per_backend,
    say,
    start_workers,
)
from _worker import TRIVIAL_STEPS, Trivial
from sqlalchemy import Engine, func, insert, select

from medsign.db.engine import make_engine, read_only
from medsign.runner.store import SCHEDULED, T

TARGETS = {"sqlite": 1000.0, "postgresql": 400.0}
WORKERS = {"sqlite": 1, "postgresql": 2}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--workers", type=int, help="worker processes (default: 1 SQLite, 2 PG)")
    p.add_argument("--concurrency", type=int, help="steps in flight per worker (default: "
                   "the runner's default)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--profile", help="cProfile the (first) worker into this file")
    return p.parse_args()


def enqueue(engine: Engine, items: int) -> None:
    now = datetime.now(UTC)
    rows = [dict(kind=Trivial.kind, status=SCHEDULED, step=TRIVIAL_STEPS[0], data={},
                 next_run_at=now, lease_version=0, attempts=0, created_at=now, updated_at=now)
            for _ in range(items)]
    with engine.begin() as conn:
        conn.execute(insert(T), rows)


def done_count(engine: Engine) -> int:
    with read_only(engine) as conn:
        return int(conn.execute(select(func.count()).where(T.c.status == "done")).scalar_one())


def last_finish(engine: Engine) -> datetime:
    with read_only(engine) as conn:
        last: datetime = conn.execute(select(func.max(T.c.finished_at))).scalar_one()
    return last


def run(backend: str, args: argparse.Namespace) -> dict[str, object]:
    workers_n = args.workers or WORKERS[backend]
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    with bench_database(backend) as db:
        engine = make_engine(db.url)
        enqueue(engine, args.items)
        profiled = ["--profile", f"{args.profile}.{backend}"] if args.profile else []
        workers = (start_workers(db.url, "trivial", 1, *extra, *profiled)
                   + start_workers(db.url, "trivial", workers_n - 1, *extra))
        cpu0 = {w.pid: cpu_seconds(w.pid) for w in workers}
        started = datetime.now(UTC)
        for w in workers:
            w.go()
        deadline = time.monotonic() + args.timeout
        while (done := done_count(engine)) < args.items:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done}/{args.items} items done after {args.timeout}s")
            time.sleep(0.05)
        seconds = (last_finish(engine) - started).total_seconds()
        cpu = sum(cpu_seconds(w.pid) - cpu0[w.pid] for w in workers)
        stats = [w.stop() for w in workers]
        engine.dispose()
    steps = args.items * len(TRIVIAL_STEPS)
    return {"backend": backend, "workers": workers_n, "items": args.items, "steps": steps,
            "seconds": round(seconds, 3), "steps_per_s": round(steps / seconds, 1),
            "target_steps_per_s": TARGETS[backend],
            "worker_cpu_s": round(cpu, 2), "steps_by_worker": [s.get("steps") for s in stats]}


def main() -> None:
    args = parse_args()
    results = run_per_backend("runner_throughput", args.db, lambda backend: run(backend, args))
    print_table(["backend", "workers", "steps", "seconds", "steps/s", "target", "ok",
                 "worker CPU s"],
                [[r["backend"], r["workers"], r["steps"], r["seconds"], r["steps_per_s"],
                  r["target_steps_per_s"],
                  "yes" if r["steps_per_s"] >= r["target_steps_per_s"] else "NO",
                  r["worker_cpu_s"]] for r in results])
    say("results appended to bench/results/runner_throughput.jsonl")


if __name__ == "__main__":
    main()
