"""The runner's durability, proven with real processes, real sockets and SIGKILL.

Worker processes (``crash_worker``) drive a four-step flow whose every step makes one creating
call to a real HTTP server (``effect_server``). The test kills workers at random moments and
starts replacements until every unit is done, then checks that no unit was lost and that the
server applied each step's effect exactly once: a step whose worker died between its call and
its commit runs again, and the idempotency key makes the repeated call a no-op. The number of
such repeats is printed and written to ``test-artifacts/crash-report.json``. The kill moments
come from a seed in that report; ``MEDSIGN_CRASH_SEED`` replays it (timing still varies).

SQLite runs one worker at a time (its single-writer deployment); PostgreSQL runs two at once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from medsign.db.engine import read_only
from medsign.runner import store
from medsign.runner.store import T
from tests.e2e.runner.crash_worker import KIND, STEPS
from tests.e2e.runner.effect_server import EffectServer

pytestmark = pytest.mark.slow

UNITS = 300
KILLS = 6
CONCURRENCY = 8
LEASE_S = 2.0
WORKERS = {"sqlite": 1, "postgresql": 2}
SCENARIO_TIMEOUT_S = 120.0  # a bound against hanging; a healthy run takes well under a minute
ROOT = Path(__file__).resolve().parents[3]
REPORT = ROOT / "test-artifacts" / "crash-report.json"


# -- processes -----------------------------------------------------------------------------
class Fleet:
    """The worker processes of one test. Every process is reaped, whatever the outcome."""

    def __init__(self, db_url: str, server_url: str, logs: Path, *, grace_s: float = 5.0,
                 concurrency: int = CONCURRENCY) -> None:
        self.command = [sys.executable, "-m", "tests.e2e.runner.crash_worker", "--db", db_url,
                        "--server", server_url, "--concurrency", str(concurrency),
                        "--lease", str(LEASE_S), "--grace", str(grace_s)]
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()

    def start(self) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(self.command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        self.killed.add(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def terminate(self, proc: subprocess.Popen[bytes], *, timeout: float) -> float:
        """SIGTERM ``proc`` and wait for it; return the seconds it took to exit."""
        self.killed.add(proc.pid)  # asked to stop: not an unexpected exit
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker ignored SIGTERM for {timeout}s\n{self.describe()}")
        return time.monotonic() - asked

    def check(self) -> None:
        """Fail at once, with its log, if a worker ended that the test did not stop."""
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None and proc.pid not in self.killed:
                pytest.fail(f"worker {i} exited on its own with {proc.returncode}:\n"
                            f"{self.log_tail(i)}")

    def log_tail(self, i: int, lines: int = 30) -> str:
        text = (self.logs / f"worker-{i}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        return "\n".join(f"worker {i} pid {p.pid}: rc={p.poll()} killed={p.pid in self.killed}"
                         f"\n{self.log_tail(i, 8)}" for i, p in enumerate(self.procs))

    def close(self) -> None:
        for proc in self.alive():
            self.kill(proc)


@pytest.fixture
def server() -> Iterator[EffectServer]:
    srv = EffectServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(db_url: str, server_url: str, **kw: Any) -> Fleet:
        fleets.append(Fleet(db_url, server_url, tmp_path, **kw))
        return fleets[-1]

    yield make
    for fleet in fleets:
        fleet.close()


# -- the database, as the test sees it -----------------------------------------------------
def enqueue(engine: Engine, units: int, **data: Any) -> list[int]:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        return [store.enqueue(conn, kind=KIND, step=STEPS[0], now=now, data=dict(data))
                for _ in range(units)]


def status_counts(engine: Engine) -> dict[str, int]:
    with read_only(engine) as conn:
        rows = conn.execute(select(T.c.status, func.count()).group_by(T.c.status)).all()
    return {status: count for status, count in rows}


def all_rows(engine: Engine) -> list[Any]:
    with read_only(engine) as conn:
        return list(conn.execute(select(T).order_by(T.c.id)).all())


def diagnose(engine: Engine, server: EffectServer, fleet: Fleet) -> Callable[[], str]:
    def describe() -> str:
        open_rows = [r for r in all_rows(engine) if r.status != "done"][:10]
        counters = server.ledger.snapshot()
        counters.pop("order")
        return (f"statuses: {status_counts(engine)}\nserver: {counters}\n"
                "first unfinished rows:\n" + "\n".join(
                    f"  {r.id} {r.status} {r.step} next={r.next_run_at} by={r.locked_by} "
                    f"v={r.lease_version} attempts={r.attempts} error={r.last_error}"
                    for r in open_rows) + f"\n{fleet.describe()}")
    return describe


def wait_until(condition: Callable[[], bool], *, deadline: float, what: str, fleet: Fleet,
               describe: Callable[[], str]) -> None:
    """Poll ``condition`` until it holds; fail with diagnostics at ``deadline``."""
    while not condition():
        fleet.check()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{describe()}")
        time.sleep(0.005)


def report(key: str, entry: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    try:
        everything = json.loads(REPORT.read_text())
    except (OSError, ValueError):
        everything = {}
    everything[key] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    REPORT.write_text(json.dumps(everything, indent=2, ensure_ascii=False) + "\n")
    with capsys.disabled():
        sys.stdout.write(f"\n[crash-report] {key}: {json.dumps(entry)}\n")


def server_counters(server: EffectServer) -> dict[str, Any]:
    counters: dict[str, Any] = httpx.get(f"{server.url}/counters", timeout=10).json()
    return counters


# -- the tests -----------------------------------------------------------------------------
def test_killed_workers_lose_no_unit_and_apply_every_effect_once(
        backend: str, db_url: str, engine: Engine, server: EffectServer,
        fleet_factory: Callable[..., Fleet], capsys: pytest.CaptureFixture[str]) -> None:
    seed = int(os.environ.get("MEDSIGN_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    ids = enqueue(engine, UNITS)
    fleet = fleet_factory(db_url, server.url)
    describe = diagnose(engine, server, fleet)
    started = time.monotonic()
    deadline = started + SCENARIO_TIMEOUT_S

    effects = UNITS * len(STEPS)

    def progressed(calls: int) -> bool:
        seen, applied = server.ledger.totals()
        return seen >= calls or applied == effects

    for _ in range(WORKERS[backend]):
        fleet.start()
    kills, applied_at_kills = 0, []
    for n in range(KILLS):
        # A random moment, measured in progress: after 15-120 more calls reach the server.
        target = server.ledger.totals()[0] + rng.randint(15, 120)
        wait_until(lambda t=target: progressed(t), deadline=deadline,
                   what=f"progress before kill {n + 1}", fleet=fleet, describe=describe)
        alive = fleet.alive()
        victims = alive if n == KILLS // 2 else [rng.choice(alive)]  # once, kill them all
        for proc in victims:
            fleet.kill(proc)
            kills += 1
        applied_at_kills.append(server.ledger.totals()[1])
        for _ in victims:
            fleet.start()
    wait_until(lambda: status_counts(engine).get("done", 0) == UNITS, deadline=deadline,
               what=f"all {UNITS} units done", fleet=fleet, describe=describe)
    elapsed = time.monotonic() - started
    fleet.close()

    counters = server_counters(server)
    rows = all_rows(engine)
    report(backend, {
        "units": UNITS, "steps_per_unit": len(STEPS), "worker_processes": WORKERS[backend],
        "sigkills": kills, "effects_applied_at_each_kill": applied_at_kills,
        "workers_started": len(fleet.procs), "lease_s": LEASE_S,
        "seconds": round(elapsed, 1), "calls": counters["calls"],
        "effects_applied": counters["applied"], "unique_keys": counters["unique_keys"],
        "repeated_calls_dropped": counters["repeats"],
        "repeats_known_from_call_record": counters["repeats_recorded"],
        "requests_cut_short_by_a_kill": counters["cut_short"], "seed": seed}, capsys)

    assert max(applied_at_kills) < effects, "every kill must land while work remains"
    assert counters["repeats"] > 0, "no kill landed between a call and its commit"
    assert {r.status for r in rows} == {"done"} and len(rows) == UNITS
    assert [r.id for r in rows] == ids
    leftovers = [r.id for r in rows if (r.next_run_at, r.locked_by, r.locked_until, r.call_key)
                 != (None, None, None, None)]
    assert leftovers == [], "finished units must keep no timer, lease or call record"
    assert counters["unique_keys"] == counters["applied"] == effects
    assert counters["applied_more_than_once"] == []
    assert all(counters["order"][str(i)] == list(STEPS) for i in ids), "steps applied in order"
    assert counters["calls"] == counters["applied"] + counters["repeats"]
    assert counters["repeats_recorded"] == counters["repeats"], (
        "every repeated call must come from a row that recorded the call before making it")
    assert counters["conflicts"] == 0 and counters["errors"] == []


def test_sigterm_finishes_or_releases_every_step_in_flight(
        backend: str, db_url: str, engine: Engine, server: EffectServer,
        fleet_factory: Callable[..., Fleet], capsys: pytest.CaptureFixture[str]) -> None:
    grace = 2.0
    quick = enqueue(engine, 4, hold=1.0)  # finish within the grace period
    stuck = enqueue(engine, 4, hold=60.0)  # cannot: cancelled and released
    fleet = fleet_factory(db_url, server.url, grace_s=grace)
    describe = diagnose(engine, server, fleet)
    deadline = time.monotonic() + SCENARIO_TIMEOUT_S
    worker = fleet.start()
    wait_until(lambda: all(server.ledger.was_called(u, STEPS[0]) for u in quick + stuck),
               deadline=deadline, what="eight first steps in flight", fleet=fleet,
               describe=describe)

    stopped_in = fleet.terminate(worker, timeout=grace + 10)

    now = datetime.now(UTC)
    rows = {r.id: r for r in all_rows(engine)}
    assert worker.returncode == 0, fleet.describe()
    assert stopped_in < grace + 2.0, f"took {stopped_in:.1f}s to stop with {grace}s of grace"
    assert [i for i, r in rows.items() if r.locked_by or r.locked_until] == [], "no lease left"
    assert all(r.status == "done" or r.next_run_at <= now for r in rows.values())
    assert all(STEPS.index(rows[i].step) >= 1 or rows[i].status == "done" for i in quick)
    assert all(rows[i].step == STEPS[0] and rows[i].call_key for i in stuck)
    assert "released the leases of 4 unfinished steps" in fleet.log_tail(0, 100)

    # A new worker takes the released steps over at once; their repeated calls change nothing.
    restarted = time.monotonic()
    fleet.start()
    wait_until(lambda: status_counts(engine) == {"done": 8}, deadline=deadline,
               what="the released units to finish", fleet=fleet, describe=describe)
    counters = server_counters(server)
    report(f"sigterm-{backend}", {
        "grace_s": grace, "stopped_in_s": round(stopped_in, 2), "released": len(stuck),
        "finished_after_restart_in_s": round(time.monotonic() - restarted, 2),
        "repeated_calls_dropped": counters["repeats"]}, capsys)
    assert counters["applied"] == counters["unique_keys"] == 8 * len(STEPS)
    assert counters["applied_more_than_once"] == []
    assert counters["repeats"] == counters["repeats_recorded"] == len(stuck)
