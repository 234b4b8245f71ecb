"""The patient app «К врачу» over HTTP: its offline cache, password login, PIN unlock, home.

Starts ``medsign serve`` as a real process on a free port over a freshly migrated database
with one organisation, one patient with a few appointments and a patient account with a
password (``accounts.patient_accounts.create``, the administrator's path), then measures
with ``httpx``, each phase sequential and short:

1. the shell's offline cache: the files ``/app/sw.js`` precaches, fetched one by one;
2. full login by password (``GET /app/login`` for the CSRF token, timed ``POST /app/login``);
3. quick login by PIN on a bound device (a P-256 key signing as WebCrypto does, raw r‖s):
   challenge + unlock, one device in a row, then C devices at once;
4. the app's start screen ``GET /app/home`` with a session, 1 client, then C at once.

Prints one table per database and appends one JSON line per database to
``bench/results/patient_app.jsonl``. Usage::

    .venv/bin/python bench/patient_app.py [--db sqlite|postgresql|both] [--logins 10]
        [--unlocks 20] [--home 200] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _support import (
    MedsignProcess,
    bench_database,
    cpu_seconds,
    free_port,
    percentile,
    print_table,
    run_per_backend,
    say,
    start_medsign,
    wait_http,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from medsign.accounts import patient_accounts
from medsign.accounts.patient_accounts import Mailing, NewAccount
from medsign.clinic import appointments, patients
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.clinic.patients import PatientInput
from medsign.db.engine import make_engine
from medsign.demo import ORGANIZATION
from medsign.domain.app_devices import signed_message
from medsign.domain.patient_accounts import PersonDetails
from medsign.records import organizations
from medsign.records.scope import Scope

SCOPE = Scope(actor="bench")
ORG = "bench"
EMAIL = "bench.patient@example.org"
PASSWORD = "Bench-Patient-2026"  # passes the password rules (no demo passwords here)
PIN = "2468"
BORN = date(1985, 3, 14)
PERSON = PersonDetails(last_name="Иванова", first_name="Мария", middle_name="Петровна",
                       birth_date=BORN, snils=None, phone="+79990000001")
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
PRECACHE = re.compile(r"var PRECACHE = (\[.*?\]);", re.S)
DEVICE_COOKIE = "medsign_app_device"
DOCTOR = "Петрова Анна Сергеевна"
VISIT = f"Врач: {DOCTOR}"  # once per appointment on the start screen


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    p.add_argument("--appointments", type=int, default=5, help="the patient's appointments")
    p.add_argument("--logins", type=int, default=10, help="sequential password logins")
    p.add_argument("--unlocks", type=int, default=20,
                   help="PIN unlocks, in a row and again spread over the C devices")
    p.add_argument("--home", type=int, default=200,
                   help="GET /app/home, by 1 client and again spread over C clients")
    p.add_argument("--clients", type=int, default=4, help="concurrent devices / clients (C)")
    return p.parse_args()


# -- the stand -----------------------------------------------------------------------------

def seed(db_url: str, count: int) -> None:
    """One organisation, the patient with ``count`` appointments, the patient's account."""
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    with Session(engine) as db:
        organizations.upsert(db, scope=SCOPE, code=ORG, data=ORGANIZATION, now=now)
        patients.upsert(db, scope=SCOPE, organization=ORG, external_id="p1", now=now,
                        data=PatientInput(organization=None, last_name=PERSON.last_name,
                                          first_name=PERSON.first_name,
                                          middle_name=PERSON.middle_name,
                                          birth_date=BORN, phone=PERSON.phone,
                                          max_user_id=None))
        for i in range(count):
            appointments.upsert(db, scope=SCOPE, organization=ORG, external_id=f"a{i}", now=now,
                                policy=None,
                                data=AppointmentInput(
                organization=ORG, patient="p1", starts_at=now + timedelta(days=1, hours=2 + i),
                doctor_name=DOCTOR, service_name="Приём врача-терапевта",
                status="scheduled",
                consents=[ConsentInput("medical_intervention", "electronic"),
                          ConsentInput("personal_data", "electronic")]))
        patient_accounts.create(
            db, new=NewAccount(login="bench-patient", email=EMAIL, full_name="",
                               password=PASSWORD, person=PERSON),
            mailing=Mailing(enabled=False, ttl=timedelta(hours=1), link_base=""),
            allow_demo_password=False, actor="bench", now=now)
        db.commit()
    engine.dispose()


@contextmanager
def served(db_url: str) -> Iterator[tuple[str, MedsignProcess]]:
    """``medsign serve`` in a scratch directory; yields its base URL and process."""
    folder = Path(tempfile.mkdtemp(prefix="medsign-app-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    env.update(MEDSIGN_DATABASE__URL=db_url, MEDSIGN_SERVER__PUBLIC_URL=base)
    proc = start_medsign(folder, "serve", ["serve", "--host", "127.0.0.1", "--port", str(port)],
                         env=env)
    try:
        wait_http(f"{base}/readyz", proc)
        yield base, proc
    finally:
        proc.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _ok(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in (statuses or (200,)):
        raise RuntimeError(f"{response.request.method} {response.request.url}: "
                           f"{response.status_code} {response.text[:300]}")
    return response


def _find(pattern: re.Pattern[str], page: httpx.Response) -> str:
    found = pattern.search(page.text)
    if found is None:
        raise RuntimeError(f"{page.request.url}: no {pattern.pattern!r} in the page")
    return found.group(1)


# -- the phases ----------------------------------------------------------------------------

async def offline_cache(http: httpx.AsyncClient) -> dict[str, Any]:
    """What the service worker stores at install: the list in ``/app/sw.js``, each fetched."""
    worker = _ok(await http.get("/app/sw.js"))
    urls: list[str] = json.loads(_find(PRECACHE, worker))
    body = wire = 0
    for url in urls:
        r = _ok(await http.get(url))
        body += len(r.content)
        wire += r.num_bytes_downloaded
    return {"files": len(urls), "bytes": body, "wire_bytes": wire,
            "sw_js_bytes": len(worker.content)}


async def login(base: str) -> tuple[httpx.AsyncClient, float]:
    """A fresh browser logs in by password; returns it (with its session) and the POST's
    seconds."""
    http = httpx.AsyncClient(base_url=base, timeout=60)
    token = _find(CSRF_INPUT, _ok(await http.get("/app/login")))
    started = time.perf_counter()
    r = await http.post("/app/login", data={"email": EMAIL, "password": PASSWORD,
                                            "csrf_token": token})
    took = time.perf_counter() - started
    if r.status_code != 303 or r.headers.get("location") != "/app/welcome":
        raise RuntimeError(f"login failed: {r.status_code} {r.text[:300]}")
    return http, took


@dataclass
class Device:
    """A bound browser: its device key, cookie and an anonymous CSRF token for unlocking."""

    base: str
    key: ec.EllipticCurvePrivateKey
    device_id: str
    cookies: dict[str, str]  # the device cookie and the anonymous CSRF cookie
    csrf: str

    async def unlock(self, http: httpx.AsyncClient) -> float:
        """Challenge, sign, unlock with the PIN: the seconds both requests took."""
        http.cookies.clear()  # the session the last unlock started ends: the app closed
        for name, value in self.cookies.items():
            http.cookies.set(name, value)
        headers = {"X-CSRF-Token": self.csrf}
        started = time.perf_counter()
        got = _ok(await http.post("/app/api/device/challenge", json={}, headers=headers)).json()
        der = self.key.sign(signed_message(got["device_id"], got["challenge"]),
                            ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        answer = await http.post("/app/api/device/unlock", headers=headers, json={
            "challenge": got["challenge"], "signature": signature.rstrip(b"=").decode(),
            "pin": PIN})
        took = time.perf_counter() - started
        if _ok(answer).json().get("next") != "/app/home":
            raise RuntimeError(f"unlock: {answer.text[:300]}")
        return took


async def bind(base: str) -> Device:
    """Log in, create the PIN with a new device key (as ``/app/welcome`` does), end the
    session and take an anonymous CSRF token from the unlock screen."""
    http, _ = await login(base)
    try:
        token = _find(CSRF_META, _ok(await http.get("/app/welcome")))
        key = ec.generate_private_key(ec.SECP256R1())
        spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        r = _ok(await http.post("/app/api/device/bind", headers={"X-CSRF-Token": token},
                                json={"public_key": base64.b64encode(spki).decode(),
                                      "pin": PIN}))
        device_id = r.json()["device_id"]
    finally:
        await http.aclose()
    async with httpx.AsyncClient(base_url=base, timeout=60) as anonymous:
        anonymous.cookies.set(DEVICE_COOKIE, device_id)
        page = _ok(await anonymous.get("/app/unlock"))
        csrf = _find(CSRF_META, page)
        return Device(base, key, device_id, dict(anonymous.cookies.items()), csrf)


async def home(http: httpx.AsyncClient, visits: int) -> float:
    """The start screen, which must list every one of the patient's ``visits``."""
    started = time.perf_counter()
    r = await http.get("/app/home")
    took = time.perf_counter() - started
    if r.status_code != 200 or r.text.count(VISIT) != visits:
        raise RuntimeError(f"/app/home: {r.status_code}, not the patient's appointments: "
                           f"{r.text[:300]}")
    return took


@dataclass
class Timed:
    """Latencies of one phase and the server's CPU seconds over it."""

    seconds: list[float]
    wall: float
    server_cpu: float

    def row(self, what: str, clients: int) -> dict[str, Any]:
        lat = sorted(self.seconds)
        return {"what": what, "clients": clients, "n": len(lat),
                "p50_ms": round(percentile(lat, 50) * 1000, 1),
                "p95_ms": round(percentile(lat, 95) * 1000, 1),
                "max_ms": round(lat[-1] * 1000, 1),
                "per_s": round(len(lat) / self.wall, 1),
                "server_cpu_ms": round(1000 * self.server_cpu / len(lat), 2)}


async def timed(pid: int, jobs: list[Callable[[], Awaitable[list[float]]]]) -> Timed:
    """Run ``jobs`` at once (each a client's sequential loop); the server's CPU around it."""
    cpu, started = cpu_seconds(pid), time.perf_counter()
    results = await asyncio.gather(*(job() for job in jobs))
    wall = time.perf_counter() - started
    return Timed([s for r in results for s in r], wall, cpu_seconds(pid) - cpu)


async def measure(base: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    c = args.clients
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        cache = await offline_cache(http)

    async def logins() -> list[float]:
        took = []
        for _ in range(args.logins):
            http, seconds = await login(base)
            await http.aclose()
            took.append(seconds)
        return took

    rows = [(await timed(pid, [logins])).row("password login (POST)", 1)]

    devices = [await bind(base) for _ in range(c)]

    def unlocking(device: Device, count: int) -> Callable[[], Awaitable[list[float]]]:
        async def loop() -> list[float]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                return [await device.unlock(http) for _ in range(count)]
        return loop

    rows.append((await timed(pid, [unlocking(devices[0], args.unlocks)]))
                .row("PIN unlock (challenge+unlock)", 1))
    rows.append((await timed(pid, [unlocking(d, max(1, args.unlocks // c)) for d in devices]))
                .row("PIN unlock (challenge+unlock)", c))

    sessions = [(await login(base))[0] for _ in range(c)]

    def browsing(http: httpx.AsyncClient, count: int) -> Callable[[], Awaitable[list[float]]]:
        async def loop() -> list[float]:
            return [await home(http, args.appointments) for _ in range(count)]
        return loop

    try:
        # the first request of a session pays for its warm-up
        await home(sessions[0], args.appointments)
        rows.append((await timed(pid, [browsing(sessions[0], args.home)]))
                    .row("GET /app/home", 1))
        rows.append((await timed(pid, [browsing(s, max(1, args.home // c)) for s in sessions]))
                    .row("GET /app/home", c))
    finally:
        for s in sessions:
            await s.aclose()
    return {"offline_cache": cache, "phases": rows}


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"{backend}: {args.logins} logins, {args.unlocks} PIN unlocks, {args.home} home "
        f"screens, C = {args.clients} …")
    with bench_database(backend) as db:
        seed(db.url, args.appointments)
        with served(db.url) as (base, proc):
            result = asyncio.run(measure(base, proc.popen.pid, args))
    return {"db": backend, "appointments": args.appointments, **result}


def main() -> None:
    args = parse_args()
    for record in run_per_backend("patient_app", args.db, lambda b: run(b, args)):
        cache = record["offline_cache"]
        say(f"\n{record['db']}: offline cache (sw.js precache) {cache['files']} files, "
            f"{cache['bytes']:,} bytes ({cache['wire_bytes']:,} on the wire); "
            f"sw.js itself {cache['sw_js_bytes']:,} bytes")
        print_table(["what", "C", "n", "p50 ms", "p95 ms", "max ms", "per s", "server CPU ms/op"],
                    [[p["what"], p["clients"], p["n"], p["p50_ms"], p["p95_ms"], p["max_ms"],
                      p["per_s"], p["server_cpu_ms"]] for p in record["phases"]])
    say("Figures are per run (a few seconds each, a shared 2-core machine): compare runs "
        "made one after another. Password login and PIN unlock are dominated by Argon2.")


if __name__ == "__main__":
    main()
