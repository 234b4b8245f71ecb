"""Notification throughput: N day-before invitations due at once, against MAX's rate limit.

N linked patients (default 3000), each with an appointment whose invitation is due now, are
created in-process through the services (``patients.upsert`` with the MAX user id, then
``appointments.upsert``, whose ``notifications.sync`` schedules the ``max.notify`` items). The
MAX emulator is a real process (``medsign emulate max``, in memory) limited to ``--limit``
requests per second (default 30, the platform's documented limit); its users exist and have
started the bot, and its update queue is drained before the run. Then one ``medsign worker``
process sends everything (long polling on, as in a default installation).

Measured from the emulator's counters (``GET /_emulator/stats``, sampled every 0.1 s):

- sustained rate: messages per second between the 10 % and 90 % marks (start-up and the tail
  excluded), and overall from the first to the last message;
- 429 answers during the run (``too_many_requests``), requests per method;
- that every invitation went out exactly once (``messages_sent`` = N, every notification
  ``sent``, no failed item).

The worker's bucket is ``rate_limits.max`` from its configuration — the default unless
``--rate``/``--burst`` are given (passed as ``MEDSIGN_RATE_LIMITS__MAX__RATE``/``__BURST``).
``--unlimited`` lifts the emulator's limit (``--no-rate-limit``) and raises the worker's bucket
to 100 000/s: the raw sending speed. Target with the limit: ≥ 95 % of it and zero 429s.
One JSON line per run goes to ``bench/results/notifications.jsonl``. Usage::

    .venv/bin/python bench/notifications.py [--db sqlite|postgresql] [--count 3000]
        [--limit 30] [--rate R --burst B] [--unlimited] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _support import (
    MedsignProcess,
    append_result,
    bench_database,
    free_port,
    print_table,
    say,
    start_medsign,
    wait_http,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsign.clinic import appointments, patients
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.clinic.patients import PatientInput
from medsign.config import load_settings
from medsign.db.engine import make_engine, read_only
from medsign.db.models import NotificationRow, WorkItemRow
from medsign.domain.organizations import NO_QUIET_HOURS
from medsign.notifications.service import NOTIFY_KIND, NotificationPolicy
from medsign.records import organizations
from medsign.records.organizations import OrganizationInput
from medsign.records.scope import Scope
from medsign.signing.signers import development_keys

TOKEN = "bench-bot-token-0123456789"
TARGET_SHARE = 0.95
UNLIMITED_BUCKET = 100_000
SCOPE = Scope(actor="bench")
ORG = OrganizationInput(
    name="ГБУЗ «Городская поликлиника № 1»", address="г. Москва, ул. Ленина, д. 1",
    ogrn="1027700132195", inn="7707083893", kpp="770701001", timezone="Europe/Moscow",
    quiet_hours="00:00-00:00", partner_department_id="7f1c0d3e-0000-4000-8000-000000000001",
    template_ids={"medical_intervention": "tpl-ids", "personal_data": "tpl-pd"})


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--limit", type=float, default=30.0,
                   help="the emulator's requests per second (the platform's 30 by default)")
    p.add_argument("--rate", type=float, help="the worker's rate_limits.max.rate")
    p.add_argument("--burst", type=int, help="the worker's rate_limits.max.burst")
    p.add_argument("--unlimited", action="store_true",
                   help="no limit at the emulator, a huge bucket at the worker")
    p.add_argument("--concurrency", type=int, help="worker --concurrency (default: config)")
    p.add_argument("--timeout", type=float, default=900.0)
    return p.parse_args()


# -- the MAX side --------------------------------------------------------------------------
async def make_users(base: str, count: int) -> list[int]:
    """``count`` MAX users who have started the bot (32 at a time through the side door)."""
    async with httpx.AsyncClient(base_url=f"{base}/_emulator", timeout=30) as control:
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> int:
            async with gate:
                user = (await control.post("/users", json={
                    "name": f"Пациент {i}", "phone": phone(i)})).json()
                r = await control.post(f"/users/{user['user_id']}/start", json={})
                r.raise_for_status()
                return int(user["user_id"])
        return list(await asyncio.gather(*(one(i) for i in range(count))))


def phone(i: int) -> str:
    return f"+7916{i:07d}"


def drain_updates(base: str, limit: float | None) -> None:
    """Acknowledge the users' ``bot_started`` updates (the service never sees them), with the
    limit lifted meanwhile; reinstating it gives a fresh, full bucket."""
    control = f"{base}/_emulator/config"
    httpx.post(control, json={"rate_limit_rps": None}, timeout=10).raise_for_status()
    marker = None
    with httpx.Client(base_url=base, headers={"Authorization": TOKEN}, timeout=30) as api:
        while True:
            params: dict[str, Any] = {"timeout": 0, "limit": 100}
            if marker is not None:
                params["marker"] = marker
            body = api.get("/updates", params=params).json()
            marker = body["marker"]
            if not body["updates"]:
                break
    httpx.post(control, json={"rate_limit_rps": limit}, timeout=10).raise_for_status()


def stats(base: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{base}/_emulator/stats", timeout=10).json()
    return found


# -- the service side ------------------------------------------------------------------------
def seed(db_url: str, users: list[int]) -> float:
    """Linked patients with appointments whose invitations are due now; seconds it took."""
    started = time.perf_counter()
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    policy = NotificationPolicy(offset=timedelta(hours=24), min_lead=timedelta(hours=1),
                                default_quiet_hours=NO_QUIET_HOURS,
                                callback_ttl=timedelta(hours=48),
                                goskey_bot_url="https://max.ru/id7708416300_gosbot")
    starts = now + timedelta(hours=23)  # a day-before moment already passed: due now
    consents = [ConsentInput("medical_intervention", "electronic"),
                ConsentInput("personal_data", "electronic")]
    with Session(engine) as db:
        organizations.upsert(db, scope=SCOPE, code="mo1", data=ORG, now=now)
        db.commit()
        for i, user_id in enumerate(users):
            patients.upsert(db, scope=SCOPE, organization="mo1", external_id=f"p{i}", now=now,
                            policy=policy,
                            data=PatientInput(organization="mo1", last_name="Иванов",
                                              first_name="Иван", middle_name=None,
                                              birth_date=date(1980, 5, 17), phone=phone(i),
                                              max_user_id=user_id))
            appointments.upsert(db, scope=SCOPE, organization="mo1", external_id=f"a{i}",
                                now=now, policy=policy,
                                data=AppointmentInput(
                                    organization="mo1", patient=f"p{i}", starts_at=starts,
                                    doctor_name="Петрова А. С.",
                                    service_name="Приём врача-терапевта", status="scheduled",
                                    consents=consents))
            if i % 500 == 499:
                db.commit()
        db.commit()
    with read_only(engine) as conn:
        due = conn.execute(select(func.count()).select_from(WorkItemRow).where(
            WorkItemRow.kind == NOTIFY_KIND, WorkItemRow.status == "scheduled",
            WorkItemRow.next_run_at <= datetime.now(UTC))).scalar_one()
    engine.dispose()
    if due != len(users):
        raise RuntimeError(f"{due} invitations due instead of {len(users)}")
    return time.perf_counter() - started


def write_config(folder: Path, db_url: str, max_port: int) -> None:
    # The worker also runs the signing flow, which needs some trusted CA to start (without a
    # trust store it refuses to start instead of only warning); a development CA will do.
    ca, _, _ = development_keys(folder / "keys", code="mo1", name=ORG.name, ogrn=ORG.ogrn,
                                inn=ORG.inn)
    (folder / "medsign.toml").write_text(f"""profile = "development"
[database]
url = "{db_url}"
[signing]
trust_store = "{ca}"
[max]
base_url = "http://127.0.0.1:{max_port}"
token = "{TOKEN}"
updates = "polling"
[goskey]
base_url = "http://127.0.0.1:9/gov/pep"
token = "unused-by-this-benchmark"
[logging]
level = "WARNING"
format = "text"
""", encoding="utf-8")


def outcome(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    with read_only(engine) as conn:
        states = dict(conn.execute(select(NotificationRow.state, func.count())
                                   .group_by(NotificationRow.state)).all())
        items = dict(conn.execute(select(WorkItemRow.status, func.count())
                                  .where(WorkItemRow.kind == NOTIFY_KIND)
                                  .group_by(WorkItemRow.status)).all())
    engine.dispose()
    return {**{f"notifications_{k}": v for k, v in states.items()},
            **{f"items_{k}": v for k, v in items.items()}}


# -- measuring ----------------------------------------------------------------------------------
@dataclass
class Samples:
    points: list[tuple[float, int]] = field(default_factory=list)

    def at_count(self, count: float) -> float:
        """The moment (interpolated) when ``count`` messages had been sent."""
        previous = self.points[0]
        for point in self.points:
            if point[1] >= count:
                t0, c0 = previous
                t1, c1 = point
                return t1 if c1 == c0 else t0 + (t1 - t0) * (count - c0) / (c1 - c0)
            previous = point
        return self.points[-1][0]

    def rate_between(self, low: float, high: float) -> float:
        return (high - low) / max(1e-9, self.at_count(high) - self.at_count(low))


def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = None if args.unlimited else args.limit
    rate = UNLIMITED_BUCKET if args.unlimited else args.rate
    burst = UNLIMITED_BUCKET if args.unlimited else args.burst
    defaults = load_settings(None, env={}).rate_limits.max
    bucket = {"rate": rate if rate is not None else defaults.rate,
              "burst": burst if burst is not None else defaults.burst}
    folder = Path(tempfile.mkdtemp(prefix="medsign-bench-notify-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    worker_env = dict(env)
    if rate is not None:
        worker_env["MEDSIGN_RATE_LIMITS__MAX__RATE"] = str(rate)
    if burst is not None:
        worker_env["MEDSIGN_RATE_LIMITS__MAX__BURST"] = str(burst)
    procs: list[MedsignProcess] = []
    with bench_database(args.db) as db:
        try:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            emulator_args = ["emulate", "max", "--port", str(port), "--token", TOKEN]
            emulator_args += ["--no-rate-limit"] if limit is None else ["--rate-limit",
                                                                          str(limit)]
            procs.append(start_medsign(folder, "max", emulator_args, env=env))
            wait_http(f"{base}/_emulator/stats", procs[-1])
            t = time.perf_counter()
            users = asyncio.run(make_users(base, args.count))
            say(f"{args.count} MAX users started the bot in {time.perf_counter() - t:.1f} s")
            drain_updates(base, limit)
            seconds = seed(db.url, users)
            say(f"{args.count} linked patients with due invitations seeded in {seconds:.1f} s")
            write_config(folder, db.url, port)
            before = stats(base)
            worker_args = ["worker"] + (["--concurrency", str(args.concurrency)]
                                        if args.concurrency else [])
            launched = time.perf_counter()
            procs.append(start_medsign(folder, "worker", worker_args, env=worker_env))
            samples = Samples()
            deadline = launched + args.timeout
            while True:
                now = time.perf_counter()
                sent = stats(base)["messages_sent"] - before["messages_sent"]
                samples.points.append((now, sent))
                if sent >= args.count or now > deadline:
                    break
                procs[-1].check()
                time.sleep(0.1)
            time.sleep(1.0)  # anything more (a duplicate) would show up now
            after = stats(base)
        finally:
            for proc in reversed(procs):
                proc.stop()
        result = outcome(db.url)
    sent = after["messages_sent"] - before["messages_sent"]
    first = samples.at_count(1)
    last = samples.at_count(args.count)
    requests = {k: v - before["requests"].get(k, 0) for k, v in after["requests"].items()
                if v - before["requests"].get(k, 0)}
    return {
        "db": args.db, "count": args.count, "emulator_limit_rps": limit,
        "worker_bucket": bucket, "concurrency": args.concurrency,
        "messages_sent": sent,
        "sustained_per_s": round(samples.rate_between(0.1 * args.count, 0.9 * args.count), 2),
        "overall_per_s": round((args.count - 1) / max(1e-9, last - first), 2),
        "startup_s": round(first - launched, 2), "send_s": round(last - first, 2),
        "http_429": after["too_many_requests"] - before["too_many_requests"],
        "requests": requests, **result,
        "share_of_limit": round(samples.rate_between(0.1 * args.count, 0.9 * args.count)
                                / limit, 3) if limit else None,
    }


def main() -> None:
    args = parse_args()
    record = run(args)
    ok = record["messages_sent"] == args.count and record.get(
        "notifications_sent") == args.count
    target = None
    if record["emulator_limit_rps"]:
        target = (record["share_of_limit"] >= TARGET_SHARE and record["http_429"] == 0)
    record.update(all_sent_once=ok, target_met=target)
    print_table(["db", "limit/s", "bucket", "sent", "sustained/s", "overall/s", "429s",
                 "share", "start-up s"],
                [[record["db"], record["emulator_limit_rps"] or "none",
                  f"{record['worker_bucket']['rate']:g}/{record['worker_bucket']['burst']}",
                  record["messages_sent"], record["sustained_per_s"], record["overall_per_s"],
                  record["http_429"], record["share_of_limit"] or "-", record["startup_s"]]])
    say(f"requests: {record['requests']}")
    say(f"every invitation sent exactly once: {ok}; target (≥ {TARGET_SHARE:.0%} of the limit, "
        f"no 429): {target}")
    path = append_result("notifications", record)
    say(f"appended to {path}")


if __name__ == "__main__":
    main()
