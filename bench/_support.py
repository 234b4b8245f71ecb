"""Helpers shared by the runner benchmarks: throw-away databases, worker processes, output.

The benchmarks are plain scripts (``python bench/<name>.py``); this module sits beside them and
is imported as ``_support``. Nothing here is part of the ``medsign`` package.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from medsign.db.engine import make_engine
from medsign.db.migrate import upgrade

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
ADMIN_PG = os.environ.get("MEDSIGN_BENCH_PG_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class BenchDb:
    backend: str
    url: str
    sqlite_file: Path | None = None


@contextmanager
def bench_database(backend: str) -> Iterator[BenchDb]:
    """A freshly migrated database, removed afterwards."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="medsign-bench-"))
        path = folder / "bench.db"
        db = BenchDb("sqlite", f"sqlite:///{path}", path)
        _migrate(db.url)
        try:
            yield db
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"medsign_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(ADMIN_PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = BenchDb("postgresql", make_url(ADMIN_PG).set(database=name)
                 .render_as_string(hide_password=False))
    try:
        _migrate(db.url)
        yield db
    finally:
        drop_pg_database(admin, name)
        admin.dispose()


def drop_pg_database(admin: Engine, name: str) -> None:
    """Drop database ``name`` (through an AUTOCOMMIT ``admin`` engine), ending its sessions."""
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def database_bytes(engine: Engine) -> int:
    """Bytes used by the ``work_items`` table and its indexes."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # no transaction: a checkpoint cannot run inside one
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'work_items' "
                           "OR name LIKE 'ix_work_items%'")
            return int(cursor.fetchone()[0] or 0)
        finally:
            raw.close()
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_total_relation_size('work_items')")).scalar_one())


class WorkerProcess:
    """``bench/_worker.py`` in its own process: it prepares, says ``ready``, waits for ``go``."""

    def __init__(self, db_url: str, flow: str, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "_worker.py"), "--db", db_url, "--flow", flow, *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.strip() == "ready":
                return
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode} before ready")
        raise TimeoutError("worker did not get ready")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """SIGTERM, wait, and return the statistics the worker printed on exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else {}


def start_workers(db_url: str, flow: str, count: int, *extra: str) -> list[WorkerProcess]:
    workers = [WorkerProcess(db_url, flow, *extra) for _ in range(count)]
    for w in workers:
        w.wait_ready()
    return workers


@dataclass
class MedsignProcess:
    """A ``medsign`` command in its own process, its output in ``<folder>/<name>.log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    profile: Path | None = None  # where ``_profiled.py`` writes its cProfile data

    def check(self) -> None:
        """Fail, with the end of its log, if the process has exited."""
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n"
                               f"{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def start_medsign(folder: Path, name: str, args: list[str], *,
                  env: dict[str, str] | None = None,
                  profile: bool = False) -> MedsignProcess:
    """``python -m medsign ARGS`` in ``folder`` (under cProfile with ``profile``)."""
    out = folder / f"{name}.prof" if profile else None
    prefix = [str(BENCH / "_profiled.py"), str(out)] if out else ["-m", "medsign"]
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        popen = subprocess.Popen([sys.executable, *prefix, *args], cwd=folder, env=env,
                                 stdout=sink, stderr=subprocess.STDOUT)
    return MedsignProcess(name, popen, log, out)


def wait_http(url: str, proc: MedsignProcess, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200 while ``proc`` stays alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{proc.name} did not come up at {url}")


_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS


def run_per_backend(name: str, db: str,
                    run: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """``run`` on SQLite, PostgreSQL or both (``db``: sqlite|postgresql|both), each result
    appended to ``bench/results/<name>.jsonl``."""
    results = []
    for backend in ("sqlite", "postgresql") if db == "both" else (db,):
        result = run(backend)
        append_result(name, result)
        results.append(result)
    return results


def append_result(name: str, record: dict[str, Any]) -> Path:
    """Append one JSON line to ``bench/results/<name>.jsonl``."""
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{name}.jsonl"
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "host": platform.node(),
             "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2),
             "python": platform.python_version(), **record}
    with target.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return target


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    say("\n".join(lines))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()
