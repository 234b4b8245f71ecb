"""API latency: ``GET /api/v1/signing-requests/{id}`` under 100 concurrent keep-alive clients.

Starts ``medsign serve`` (uvicorn) as a real process on a free port over a freshly migrated
database, creates the signing requests through the API, then lets C clients (one shared
``httpx.AsyncClient``, keep-alive) read random ones for D seconds after a short warm-up.
Prints p50/p95/p99 latency and requests per second with the CPU time of the server and of the
load generator, and appends one JSON line to ``bench/results/api_latency.jsonl``. Usage::

    .venv/bin/python bench/api_latency.py [--db sqlite|postgresql|both] [--requests 1000]
        [--clients 100] [--duration 20] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _support import (
    append_result,
    bench_database,
    cpu_seconds,
    free_port,
    percentile,
    print_table,
    say,
)
from sqlalchemy.orm import Session

from medsign.accounts import api_clients
from medsign.db.engine import make_engine
from medsign.signing.signers import development_keys

# Valid requisites (checksums pass) for the one organisation of the benchmark.
ORGANIZATION = {"name": "ГБУЗ «Городская поликлиника № 1»", "address": "г. Москва, ул. Ленина, 1",
                "ogrn": "1027700132195", "inn": "7707083893", "kpp": "770701001",
                "timezone": "Europe/Moscow"}
PATIENTS = 50
SEED_CLIENTS = 8


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    p.add_argument("--requests", type=int, default=1000, help="signing requests to create")
    p.add_argument("--clients", type=int, default=100, help="concurrent clients")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of measured load")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load")
    p.add_argument("--profile", help="run the server under cProfile, into FILE.<db>")
    return p.parse_args()


def issue_token(db_url: str) -> str:
    engine = make_engine(db_url)
    with Session(engine) as db:
        new = api_clients.create(db, name="bench", organizations=None, actor="bench",
                                 now=datetime.now(UTC))
        db.commit()
    engine.dispose()
    return new.token


@contextmanager
def served(db_url: str, profile: str | None) -> Iterator[tuple[str, int]]:
    """``medsign serve`` in a scratch directory; yields its base URL and process id."""
    folder = Path(tempfile.mkdtemp(prefix="medsign-api-bench-"))
    # serve builds the evidence endpoint's trust store at start-up and cannot start with an
    # empty one; any CA certificate will do for reading signing requests.
    ca, _, _ = development_keys(folder / "keys", code="bench", name=ORGANIZATION["name"],
                                ogrn=ORGANIZATION["ogrn"], inn=ORGANIZATION["inn"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    env.update(MEDSIGN_DATABASE__URL=db_url, MEDSIGN_SIGNING__TRUST_STORE=str(ca))
    port = free_port()
    runner = ["-m", "cProfile", "-o", profile] if profile else []
    argv = [sys.executable, *runner, "-m", "medsign", "serve", "--host", "127.0.0.1",
            "--port", str(port)]
    with (folder / "serve.log").open("w") as log:
        proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, folder / "serve.log")
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGINT if profile else signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"medsign serve exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("medsign serve did not get ready in 60 s")


async def seed(base: str, token: str, count: int) -> list[str]:
    """One organisation, some patients, ``count`` appointments, each sent for signing."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        _ok(await http.put("/api/v1/organizations/bench", json=ORGANIZATION))
        for i in range(PATIENTS):
            _ok(await http.put(f"/api/v1/organizations/bench/patients/p{i}", json={
                "organization": "bench", "last_name": "Иванова", "first_name": "Анна",
                "birth_date": "1980-05-17", "phone": f"+7999{i:07d}"}))
        queue = list(range(count))
        ids: list[str] = []

        async def worker() -> None:
            while queue:
                i = queue.pop()
                starts = datetime.now(UTC) + timedelta(days=2, minutes=i)
                _ok(await http.put(f"/api/v1/organizations/bench/appointments/a{i}", json={
                    "organization": "bench", "patient": f"p{i % PATIENTS}",
                    "starts_at": starts.isoformat(), "doctor": {"name": "Петрова А. С."},
                    "service_name": "Приём врача-терапевта",
                    "consents": [{"kind": "medical_intervention", "signing_method": "electronic"},
                                 {"kind": "personal_data", "signing_method": "electronic"}]}))
                r = _ok(await http.post(
                    f"/api/v1/organizations/bench/appointments/a{i}/signing-requests"))
                ids.append(r.json()["id"])
        await asyncio.gather(*(worker() for _ in range(SEED_CLIENTS)))
    return ids


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{response.request.method} {response.request.url}: "
                           f"{response.status_code} {response.text[:300]}")
    return response


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    answered: int = 0  # warm-up included: what the server's CPU time is divided by


async def load(base: str, token: str, ids: list[str], clients: int, warmup: float,
               duration: float) -> Load:
    result = Load()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        start = time.perf_counter()
        measure_from, stop_at = start + warmup, start + warmup + duration

        async def client(seed: int) -> None:
            rng = random.Random(seed)
            while (now := time.perf_counter()) < stop_at:
                try:
                    r = await http.get(f"/api/v1/signing-requests/{rng.choice(ids)}")
                    outcome = "ok" if r.status_code == 200 else str(r.status_code)
                    result.answered += 1
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                if now >= measure_from:
                    if outcome == "ok":
                        result.latencies.append(time.perf_counter() - now)
                    else:
                        result.errors[outcome] = result.errors.get(outcome, 0) + 1
        await asyncio.gather(*(client(i) for i in range(clients)))
    return result


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with bench_database(backend) as db:
        token = issue_token(db.url)
        profile = f"{args.profile}.{backend}" if args.profile else None
        with served(db.url, profile) as (base, server_pid):
            started = time.perf_counter()
            ids = asyncio.run(seed(base, token, args.requests))
            seed_s = time.perf_counter() - started
            server_cpu, own_cpu = cpu_seconds(server_pid), time.process_time()
            result = asyncio.run(load(base, token, ids, args.clients, args.warmup,
                                      args.duration))
            server_cpu = cpu_seconds(server_pid) - server_cpu
            own_cpu = time.process_time() - own_cpu
    window = args.warmup + args.duration
    lat = sorted(result.latencies)
    if not lat:
        raise RuntimeError(f"no successful request: {result.errors}")
    return {"db": backend, "requests_created": len(ids), "seed_s": round(seed_s, 1),
            "clients": args.clients, "duration_s": args.duration,
            "requests": len(lat), "errors": result.errors,
            "rps": round(len(lat) / args.duration, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p95_ms": round(percentile(lat, 95) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1),
            "max_ms": round(lat[-1] * 1000, 1),
            # CPU over warm-up + measurement, as a share of one core: who is the bottleneck
            "server_cpu_pct": round(100 * server_cpu / window, 1),
            "client_cpu_pct": round(100 * own_cpu / window, 1),
            # the server's cost of one answer; unlike req/s it hardly depends on other load
            "server_cpu_ms_per_request": round(1000 * server_cpu / result.answered, 2)}


def main() -> None:
    args = parse_args()
    backends = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    rows = []
    for backend in backends:
        say(f"{backend}: creating {args.requests} signing requests, then {args.clients} "
            f"clients for {args.duration:g} s …")
        record = run(backend, args)
        record["loadavg_1m"] = round(os.getloadavg()[0], 2)  # as append_result records it
        append_result("api_latency", record)
        rows.append([record[k] for k in ("db", "requests", "rps", "p50_ms", "p95_ms",
                                         "p99_ms", "max_ms", "server_cpu_pct",
                                         "server_cpu_ms_per_request", "client_cpu_pct")]
                    + [sum(record["errors"].values()), record["loadavg_1m"]])
    print_table(["db", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                 "server CPU %", "CPU ms/req", "client CPU %", "errors", "load 1m"], rows)


if __name__ == "__main__":
    main()
