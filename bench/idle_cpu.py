"""Idle cost of open timers: CPU of one worker while 100,000 items wait for the future.

Inserts the timers in bulk, starts one worker process with the runner's default settings,
lets it settle, then reads its CPU time (``/proc/<pid>/stat``) over the measurement window.
On PostgreSQL it also reports the CPU of the server processes serving that worker. The size
of the ``work_items`` table with its indexes is reported too. Usage::

    .venv/bin/python bench/idle_cpu.py [--db sqlite|postgresql|both] [--items N] [--seconds S]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from _support import (
    bench_database,
    cpu_seconds,
    database_bytes,
    print_table,
    run_per_backend,
    say,
    start_workers,
)
from _worker import Timer
from sqlalchemy import Engine, insert, text

from medsign.db.engine import make_engine
from medsign.runner.store import SCHEDULED, T

TARGET_PERCENT = 2.0
BATCH = 10_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--settle", type=float, default=3.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--no-analyze", action="store_true",
                   help="PostgreSQL: measure before statistics exist (as right after a bulk "
                        "load, before autovacuum's ANALYZE)")
    return p.parse_args()


def insert_timers(engine: Engine, items: int, *, analyze: bool) -> None:
    """Timers spread over the next 30 days, like reminders of future appointments."""
    now = datetime.now(UTC)
    for start in range(0, items, BATCH):
        rows = [dict(kind=Timer.kind, ref=f"appointment-{i}", status=SCHEDULED, step="remind",
                     data={}, next_run_at=now + timedelta(hours=1, seconds=i * 25),
                     lease_version=0, attempts=0, created_at=now, updated_at=now)
                for i in range(start, min(items, start + BATCH))]
        with engine.begin() as conn:
            conn.execute(insert(T), rows)
    if analyze and engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # what autovacuum does shortly after a bulk load
            conn.execute(text("ANALYZE work_items"))
            conn.commit()


def server_pids(engine: Engine) -> list[int]:
    """PostgreSQL backends connected to this database, except our own."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")).scalars())


def run(backend: str, args: argparse.Namespace) -> dict[str, object]:
    with bench_database(backend) as db:
        engine = make_engine(db.url)
        empty = database_bytes(engine)
        loaded = time.perf_counter()
        insert_timers(engine, args.items, analyze=not args.no_analyze)
        insert_s = time.perf_counter() - loaded
        size = database_bytes(engine) - empty
        [worker] = start_workers(db.url, "timer", 1)
        worker.go()
        time.sleep(args.settle)
        servers = server_pids(engine)
        engine.dispose()  # our own connection must not count as the worker's server
        before = cpu_seconds(worker.pid), sum(cpu_seconds(p) for p in servers)
        time.sleep(args.seconds)
        after = cpu_seconds(worker.pid), sum(cpu_seconds(p) for p in servers)
        stats = worker.stop()
    worker_pct = 100 * (after[0] - before[0]) / args.seconds
    server_pct = 100 * (after[1] - before[1]) / args.seconds
    return {"backend": backend, "timers": args.items, "insert_s": round(insert_s, 2),
            "table_bytes": size, "bytes_per_timer": round(size / args.items, 1),
            "window_s": args.seconds, "worker_cpu_percent": round(worker_pct, 3),
            "server_cpu_percent": round(server_pct, 3) if servers else None,
            "target_percent": TARGET_PERCENT, "steps_run": stats.get("steps"),
            "analyzed": backend == "postgresql" and not args.no_analyze}


def main() -> None:
    args = parse_args()
    results = run_per_backend("idle_cpu", args.db, lambda backend: run(backend, args))
    print_table(["backend", "timers", "size MB", "B/timer", "worker CPU %", "DB server CPU %",
                 "target %", "ok"],
                [[r["backend"], r["timers"], round(r["table_bytes"] / 1e6, 1),
                  r["bytes_per_timer"], r["worker_cpu_percent"],
                  "-" if r["server_cpu_percent"] is None else r["server_cpu_percent"],
                  r["target_percent"],
                  "yes" if r["worker_cpu_percent"] < TARGET_PERCENT else "NO"]
                 for r in results])
    say("results appended to bench/results/idle_cpu.jsonl")


if __name__ == "__main__":
    main()
