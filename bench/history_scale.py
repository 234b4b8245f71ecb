"""History scale: list and page latency, and runner steps/s, with years of history loaded.

For each size N it creates a fresh database, migrates it with the project's migrations,
bulk-loads N signing requests with their history in realistic proportions (generated inside
the database: ``INSERT … SELECT`` over ``generate_series`` on PostgreSQL, over a recursive CTE
on SQLite, one transaction per table), runs ``VACUUM ANALYZE`` (``ANALYZE`` on SQLite),
starts a real ``medsign serve`` and times every list endpoint and page one request after
another (one client), then measures the
runner's steps/s with the N rows present in ``work_items``. Prints one table per size and a
summary against the smallest size; appends one JSON line per run to
``bench/results/history_scale.jsonl`` (and ``--json FILE``). Usage::

    .venv/bin/python bench/history_scale.py [--db postgresql|sqlite] [--sizes 10k,1M,10M]
        [--samples 200] [--keep] [--json FILE]
    .venv/bin/python bench/history_scale.py --db postgresql --sizes 10M --load-only
    .venv/bin/python bench/history_scale.py --db postgresql --sizes 10M --reuse URL

``--load-only`` loads and keeps a database (the 10M load takes the better part of an hour);
``--reuse`` then measures it as often as wanted, migrated to the code being measured;
``--compare FILE`` summarises against an earlier run's ``--json`` (the 10k base).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from _support import (
    ADMIN_PG,
    append_result,
    cpu_seconds,
    drop_pg_database,
    percentile,
    print_table,
    say,
    start_workers,
)
from _worker import TRIVIAL_STEPS, Trivial
from patient_app import CSRF_INPUT, _find, _ok, served
from runner_throughput import WORKERS, enqueue
from sqlalchemy import Engine, create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from medsign.accounts import api_clients, patient_accounts, staff
from medsign.accounts.patient_accounts import Mailing, NewAccount
from medsign.clinic import appointments
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.db.engine import make_engine, read_only
from medsign.db.migrate import upgrade
from medsign.db.models import DocumentRow, SigningRequestRow, WorkItemRow
from medsign.demo import ORGANIZATION
from medsign.domain.patient_accounts import PersonDetails
from medsign.domain.search import name_key
from medsign.records import organizations
from medsign.records.scope import Scope
from medsign.runner.store import T
from medsign.signing import alerts
from medsign.signing import repository as signing_repository
from medsign.signing.service import Cursor

SCOPE = Scope(actor="bench")
MOSCOW = ZoneInfo("Europe/Moscow")  # the organisations' time zone (``ORGANIZATION``)
ORGANIZATIONS = 20
DOCTORS = 40  # per organisation: appointments name doctors doc-0 … doc-39
# A region's flow is the same whatever the size: a signing request every ``STEP_S`` seconds
# (some 9 600 a day), so that ten million are ``HISTORY`` of it, a million some four months
# and ten thousand a day. A day's pages (a day's appointments, a day's audit) then hold the
# same at every size, and the sizes compare years of history, not a day's fullness.
HISTORY = timedelta(days=3 * 365)
STEP_S = int(HISTORY.total_seconds()) // 10_000_000
PASSWORD = "Bench-History-2026"  # passes the password rules (no demo passwords here)
PATIENT_LOGIN = "bench-patient"
P95_BOUND_MS = 50.0
RATIO_BOUND = 2.0
RUNNER_ITEMS = 2000

# Name pools (male, female); a patient's search_name is name_key of his name, as the records
# service stores it (``clinic.patients``).
LAST = [("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"),
        ("Попов", "Попова"), ("Васильев", "Васильева"), ("Петров", "Петрова"),
        ("Соколов", "Соколова"), ("Михайлов", "Михайлова"), ("Новиков", "Новикова"),
        ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"), ("Волков", "Волкова"),
        ("Алексеев", "Алексеева"), ("Лебедев", "Лебедева"), ("Семёнов", "Семёнова"),
        ("Егоров", "Егорова"), ("Павлов", "Павлова"), ("Козлов", "Козлова"),
        ("Степанов", "Степанова"), ("Николаев", "Николаева"), ("Орлов", "Орлова"),
        ("Андреев", "Андреева"), ("Макаров", "Макарова"), ("Никитин", "Никитина"),
        ("Захаров", "Захарова"), ("Зайцев", "Зайцева"), ("Соловьёв", "Соловьёва"),
        ("Борисов", "Борисова"), ("Яковлев", "Яковлева"), ("Григорьев", "Григорьева"),
        ("Романов", "Романова")]
FIRST = [("Александр", "Анна"), ("Дмитрий", "Мария"), ("Максим", "Елена"),
         ("Сергей", "Ольга"), ("Андрей", "Татьяна"), ("Алексей", "Наталья"),
         ("Артём", "Ирина"), ("Илья", "Екатерина"), ("Кирилл", "Светлана"),
         ("Михаил", "Юлия"), ("Никита", "Анастасия"), ("Матвей", "Дарья"),
         ("Роман", "Людмила"), ("Егор", "Галина"), ("Иван", "Валентина"),
         ("Павел", "Надежда"), ("Владимир", "Вера"), ("Николай", "Алёна")]
MIDDLE = [("Александрович", "Александровна"), ("Сергеевич", "Сергеевна"),
          ("Иванович", "Ивановна"), ("Петрович", "Петровна"), ("Андреевич", "Андреевна"),
          ("Дмитриевич", "Дмитриевна"), ("Николаевич", "Николаевна"),
          ("Владимирович", "Владимировна"), ("Михайлович", "Михайловна"),
          ("Алексеевич", "Алексеевна"), ("Юрьевич", "Юрьевна")]
SERVICES = ["Приём врача-терапевта", "Приём врача-кардиолога", "Приём врача-невролога",
            "Ультразвуковое исследование", "Приём врача-офтальмолога"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("postgresql", "postgres", "sqlite"), default="postgresql")
    p.add_argument("--sizes", default="10k,1M", help="signing requests per run, e.g. 10k,1M,10M")
    p.add_argument("--samples", type=int, default=200, help="timed requests per row")
    p.add_argument("--keep", action="store_true", help="keep each database (print its URL)")
    p.add_argument("--compare", metavar="FILE[,FILE…]",
                   help="summarise with the results earlier runs wrote with --json (e.g. the "
                        "10k base of a --reuse of 10M); several runs of one size are summarised "
                        "by each row's median")
    p.add_argument("--load-only", action="store_true",
                   help="load and keep each database, measure nothing (then --reuse it)")
    p.add_argument("--reuse", metavar="URL[,URL]",
                   help="measure a database kept by --keep/--load-only (one size): migrate it "
                        "to the current code's head, skip the load; with --side-by-side, one "
                        "database of each of the two --sizes")
    p.add_argument("--side-by-side", action="store_true",
                   help="measure the two --reuse databases in turns, row by row (each by its "
                        "own server) and the runner alternately: compares the sizes under the "
                        "same minutes of a shared machine")
    p.add_argument("--json", help="also write all results to this file")
    return p.parse_args()


def parse_size(raw: str) -> int:
    raw = raw.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
    return int(float(raw[:-1] if factor > 1 else raw) * factor)


# -- the database ----------------------------------------------------------------------------

@dataclass
class Database:
    backend: str
    url: str
    drop: Callable[[], None]


@contextmanager
def fresh_database(backend: str, size: int, keep: bool) -> Iterator[Database]:
    """A freshly migrated database named after the size; dropped afterwards unless ``keep``."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"medsign-history-{size}-"))
        db = Database("sqlite", f"sqlite:///{folder / 'history.db'}",
                      lambda: shutil.rmtree(folder, ignore_errors=True))
    else:
        name = f"medsign_history_{size}_{os.getpid()}"
        admin = create_engine(ADMIN_PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            drop_pg_database(admin, name)
            admin.dispose()
        db = Database("postgresql", make_url(ADMIN_PG).set(database=name)
                      .render_as_string(hide_password=False), drop)
    try:
        engine = make_engine(db.url)
        upgrade(engine)
        engine.dispose()
        yield db
    finally:
        if keep:
            say(f"kept: {db.url}")
        else:
            db.drop()


# -- bulk load: one INSERT … SELECT per table, columns computed from the series number n -----

class Dialect:
    """The few SQL spellings that differ between the two databases."""

    def __init__(self, backend: str, end: datetime) -> None:
        self.pg = backend == "postgresql"
        self.end = int(end.timestamp())

    def source(self, count: int) -> tuple[str, str]:
        """(prefix before INSERT, FROM clause) of a series n = 1 … count."""
        if self.pg:
            return "", f"FROM generate_series(1::bigint, {count}::bigint) AS s(n)"
        return (f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
                f"WHERE n < {count}) ", "FROM s")

    def at(self, seconds_before_end: str) -> str:
        """A naive UTC timestamp, ``seconds_before_end`` seconds before the history's end."""
        epoch = f"({self.end} - ({seconds_before_end}))"
        if self.pg:
            return f"(to_timestamp({epoch}) AT TIME ZONE 'UTC')"
        return f"strftime('%Y-%m-%d %H:%M:%S.000000', {epoch}, 'unixepoch')"

    def pad(self, expr: str, width: int) -> str:
        return f"lpad(({expr})::text, {width}, '0')" if self.pg \
            else f"printf('%0{width}d', {expr})"

    def json(self, value: Any) -> str:
        literal = "'" + json.dumps(value, ensure_ascii=False).replace("'", "''") + "'"
        return f"{literal}::json" if self.pg else literal

    @property
    def false(self) -> str:
        return "false" if self.pg else "0"

    def blob(self, hex_digits: str) -> str:
        return f"'\\x{hex_digits}'::bytea" if self.pg else f"x'{hex_digits}'"

    def date(self, days_expr: str) -> str:
        return f"(date '1940-01-01' + ({days_expr})::int)" if self.pg \
            else f"date('1940-01-01', '+' || ({days_expr}) || ' days')"


def pick(values: Sequence[str], index: str) -> str:
    """``values[index % len(values)]`` in SQL (a CASE, so both databases read it)."""
    arms = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE ({index}) % {len(values)} {arms} END)"


def gendered(pool: Sequence[tuple[str, str]], n: str, salt: int, *,
             key: bool = False) -> str:
    """A name part of person n: male for even n; ``key``: as ``name_key`` stores it."""
    fold = name_key if key else (lambda s: s)
    index = f"({n}) * {salt} / 2"
    return (f"(CASE WHEN ({n}) % 2 = 0 THEN {pick([fold(m) for m, _ in pool], index)} "
            f"ELSE {pick([fold(f) for _, f in pool], index)} END)")


def person(n: int) -> tuple[str, str, str]:
    """The name the SQL gives patient n, computed here (the portal account finds it)."""
    g = 0 if n % 2 == 0 else 1
    return (LAST[n * 7 // 2 % len(LAST)][g], FIRST[n * 13 // 2 % len(FIRST)][g],
            MIDDLE[n * 3 // 2 % len(MIDDLE)][g])


def born(n: int) -> date:
    return date(1940, 1, 1) + timedelta(days=(n * 37) % 25000)


def phone_of(patient: int) -> str:
    return f"+7900{patient:07d}"


def request_id(n: str, d: Dialect) -> str:
    return f"'00000000-0000-4000-8000-' || {d.pad(n, 12)}"


@dataclass(frozen=True)
class Shape:
    """Where row n of each table sits: ``STEP_S`` apart, newest last."""

    requests: int

    @property
    def patients(self) -> int:
        return max(1, self.requests // 3)

    @property
    def in_progress(self) -> int:
        return max(1, self.requests // 200)

    @property
    def step(self) -> int:  # seconds between consecutive requests
        return STEP_S

    def created(self, n: str) -> str:  # seconds before the end of history
        return f"(({self.requests} - ({n})) * {self.step})"

    def patient(self, n: str) -> str:
        return f"((({n}) - 1) % {self.patients} + 1)"

    def organization(self, patient: str) -> str:
        return f"(({patient}) % {ORGANIZATIONS} + 1)"

    def state(self, n: str) -> str:
        """Most completed; some cancelled (refused), expired, failed; the newest in progress."""
        recent = f"({n}) > {self.requests - self.in_progress}"
        # a multiplicative hash: spread within every organisation too (n ≡ p mod 20)
        pct = f"(({n}) * 7919 % 1000 / 10)"
        return (f"(CASE WHEN {recent} THEN {pick(['sent', 'new', 'patient_signed'], n)} "
                f"ELSE (CASE WHEN {pct} < 86 THEN 'completed' WHEN {pct} < 91 THEN 'cancelled' "
                f"WHEN {pct} < 96 THEN 'expired' WHEN {pct} < 98 THEN 'platform_error' "
                f"ELSE 'failed' END) END)")


@dataclass(frozen=True)
class Table:
    name: str
    rows: int
    columns: dict[str, str]


def tables(shape: Shape, d: Dialect) -> list[Table]:
    """Every bulk-loaded table, in load order (foreign keys first)."""
    n, r = "n", shape.requests
    pat = shape.patient("n")
    org = shape.organization(pat)
    state = shape.state("n")
    created = d.at(shape.created("n"))
    starts = d.at(f"{shape.created('n')} - 86400 - (n % 10) * 1800")
    ev_req = "((n - 1) / 5 + 1)"
    ev_k = "((n - 1) % 5)"
    two_req = "((n - 1) / 2 + 1)"
    three_req = "((n - 1) / 3 + 1)"
    three_org = shape.organization(shape.patient(three_req))
    ev_state = shape.state(ev_req)
    active = f"(n > {r - shape.in_progress})"
    return [
        Table("patients", shape.patients, {
            "id": n, "external_id": "'p' || n", "organization_id": shape.organization(n),
            "last_name": gendered(LAST, n, 7), "first_name": gendered(FIRST, n, 13),
            "middle_name": gendered(MIDDLE, n, 3), "birth_date": d.date("n * 37 % 25000"),
            "phone": f"'+7900' || {d.pad(n, 7)}", "max_reachable": d.false,
            "created_at": d.at(shape.created("n * 3 - 2")),
            "updated_at": d.at(shape.created("n * 3 - 2")),
            "search_name": f"{gendered(LAST, n, 7, key=True)} || ' ' || "
                           f"{gendered(FIRST, n, 13, key=True)} || ' ' || "
                           f"{gendered(MIDDLE, n, 3, key=True)}"}),
        Table("appointments", r, {
            "id": n, "external_id": "'a' || n", "organization_id": org, "patient_id": pat,
            "starts_at": starts, "timezone": "'Europe/Moscow'",
            "doctor_name": "'Петрова А. С.'", "service_name": pick(SERVICES, "n"),
            "status": "(CASE WHEN n % 31 = 0 THEN 'cancelled' ELSE 'scheduled' END)",
            "reschedule_count": "n % 3 / 2", "created_at": created, "updated_at": created,
            "doctor_external_id": f"'doc-' || (n / {ORGANIZATIONS} % {DOCTORS})"}),
        Table("consents", 2 * r, {
            "id": n, "appointment_id": two_req,
            "kind": "(CASE WHEN n % 2 = 1 THEN 'medical_intervention' ELSE 'personal_data' END)",
            "signing_method": "'electronic'",
            "state": f"(CASE {shape.state(two_req)} WHEN 'completed' THEN 'signed' "
                     f"WHEN 'cancelled' THEN 'declined' ELSE 'pending' END)",
            "updated_at": d.at(shape.created(two_req))}),
        Table("signing_requests", r, {
            "id": request_id(n, d), "appointment_id": n, "appointment_starts_at": starts,
            "organization_id": org,
            "patient_id": pat, "consent_kinds": d.json(["medical_intervention",
                                                        "personal_data"]),
            "phone": f"'+7900' || {d.pad(pat, 7)}",
            "initiated_by": pick(["api", "api", "api", "doctor", "patient"], "n"),
            "state": state, "transaction_id": "'tx-' || n", "uploaded_file_ids": d.json([]),
            "failed_from": f"(CASE WHEN {state} = 'failed' THEN 'sent' END)",
            "reason": f"(CASE WHEN {state} = 'cancelled' THEN 'Пациент отказался' END)",
            "completed_at": f"(CASE WHEN {state} = 'completed' THEN "
                            f"{d.at(shape.created('n') + ' - 1200')} END)",
            "created_at": created, "updated_at": d.at(shape.created("n") + " - 1200")}),
        Table("signing_events", 5 * r, {
            "id": n, "signing_request_id": request_id(ev_req, d),
            "at": d.at(f"{shape.created(ev_req)} - {ev_k} * 240"),
            "from_state": f"(CASE {ev_k} WHEN 0 THEN NULL WHEN 1 THEN 'new' WHEN 2 THEN 'sent' "
                          f"WHEN 3 THEN 'patient_signed' ELSE 'countersigned' END)",
            "to_state": f"(CASE {ev_k} WHEN 0 THEN 'new' WHEN 1 THEN 'sent' "
                        f"WHEN 2 THEN 'patient_signed' WHEN 3 THEN 'countersigned' "
                        f"ELSE {ev_state} END)",
            "actor": "'runner'", "details": d.json({})}),
        Table("documents", 2 * r, {
            "id": n, "signing_request_id": request_id(two_req, d),
            "kind": f"(CASE WHEN n % 2 = 1 THEN '{signing_repository.ARCHIVE}' "
                    f"ELSE '{signing_repository.MO_SIGNATURE}' END)",
            "name": "(CASE WHEN n % 2 = 1 THEN 'platform-archive.zip' ELSE 'consent.pdf.sig' END)",
            "media_type": "'application/octet-stream'", "content": d.blob("504b0304"),
            "sha256": f"{d.pad('n', 64)}", "size": "4",
            "created_at": d.at(shape.created(two_req) + " - 900")}),
        Table("audit_log", 3 * r, {  # ids from the sequence: the set-up wrote entries already
            "at": d.at(f"{shape.created(three_req)} - (n - 1) % 3 * 600"),
            "actor": "(CASE WHEN n % 3 = 1 THEN 'api:mis' ELSE 'runner' END)",
            "action": f"(CASE (n - 1) % 3 WHEN 0 THEN 'signing.new' WHEN 1 THEN 'signing.sent' "
                      f"ELSE 'signing.' || {shape.state(three_req)} END)",
            "subject_type": "'signing_request'", "subject_id": request_id(three_req, d),
            "organization_code": f"'org' || {d.pad(three_org, 2)}",
            "details": d.json({})}),
        Table("notifications", r, {
            "id": n, "appointment_id": n, "patient_id": pat,
            "state": "(CASE WHEN n % 10 < 8 THEN 'sent' WHEN n % 10 = 8 THEN 'skipped' "
                     "ELSE 'undeliverable' END)",
            "scheduled_for": created, "token": "'bench-token-' || n",
            "token_expires_at": d.at(shape.created("n") + " - 86400"),
            "sent_at": f"(CASE WHEN n % 10 < 8 THEN {created} END)",
            "created_at": created, "updated_at": created,
            "signing_request_id": request_id(n, d)}),
        # One runner item per request. The history's are done (a signing item or an
        # invitation's), a failed request's has failed; every request still on its way has a
        # scheduled signing item that its polls keep changing (``polled_now`` moves them to
        # the time of measuring), except one in a thousand that nothing has moved for two
        # hours and one in a thousand whose item ended without moving it (both stalled).
        Table("work_items", r, {
            "id": n,
            "kind": f"(CASE WHEN n % 2 = 0 OR {active} OR {state} = 'failed' THEN 'signing' "
                    f"ELSE 'max.notify' END)",
            "ref": request_id(n, d),
            "status": f"(CASE WHEN {state} = 'failed' THEN 'failed' "
                      f"WHEN {active} AND n % 1000 <> 500 THEN 'scheduled' ELSE 'done' END)",
            "step": f"(CASE WHEN {active} THEN 'poll' WHEN n % 2 = 0 THEN 'complete' "
                    f"ELSE 'send' END)",
            "data": d.json({}),
            # timers a day or more ahead: never due during the bench
            "next_run_at": f"(CASE WHEN {active} AND n % 1000 <> 500 THEN "
                           f"{d.at('-86400 - n % 86400')} END)",
            "lease_version": "1", "attempts": "1", "created_at": created,
            "updated_at": f"(CASE WHEN {active} THEN "
                          f"{d.at('(CASE WHEN n % 1000 = 0 THEN 7200 ELSE n % 900 END)')} "
                          f"ELSE {created} END)",
            "finished_at": f"(CASE WHEN {active} AND n % 1000 <> 500 THEN NULL "
                           f"ELSE {created} END)"}),
    ]


def load(db: Database, size: int, end: datetime) -> dict[str, float]:
    """Organisations through the service, then every table server-side; returns seconds per
    table (and ``analyze``)."""
    engine = make_engine(db.url)
    with Session(engine) as session:
        for i in range(1, ORGANIZATIONS + 1):
            organizations.upsert(session, scope=SCOPE, code=f"org{i:02d}", now=end,
                                 data=replace(ORGANIZATION, name=f"ГБУЗ «Поликлиника № {i}»"))
        session.commit()
        ids = session.scalars(text("SELECT id FROM organizations ORDER BY id")).all()
    assert list(ids) == list(range(1, ORGANIZATIONS + 1)), ids
    d = Dialect(db.backend, end)
    timings: dict[str, float] = {}
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if not d.pg:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-262144")
        for table in tables(Shape(size), d):
            prefix, source = d.source(table.rows)
            sql = (f"{prefix}INSERT INTO {table.name} ({', '.join(table.columns)}) "
                   f"SELECT {', '.join(table.columns.values())} {source}")
            started = time.perf_counter()
            cursor.execute(sql)
            if d.pg and table.columns.get("id") == "n":  # later inserts continue after n
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                               f"{table.rows})")
            raw.commit()
            took = time.perf_counter() - started
            timings[table.name] = took
            say(f"  {table.name:<17} {table.rows:>11,} rows  {took:7.1f} s  "
                f"{table.rows / took:>11,.0f} rows/s")
        started = time.perf_counter()
        if not d.pg:
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    # What autovacuum does to freshly inserted tables before anyone looks: statistics, and the
    # visibility map (without it every index-only scan reads the table too).
    if d.pg:
        vacuum_analyze(engine)
    timings["analyze"] = time.perf_counter() - started
    say(f"  {'VACUUM ANALYZE' if d.pg else 'ANALYZE'} {timings['analyze']:.1f} s")
    engine.dispose()
    return timings


# -- people: tokens, staff users, a patient's account -----------------------------------------

@dataclass
class People:
    unlimited_token: str
    limited_token: str  # org01 only
    patient_phone: str
    patient_last_name: str
    middle_cursor: str
    middle_day: date
    middle_request: str


def people(db: Database, shape: Shape, end: datetime) -> People:
    engine = make_engine(db.url)
    with Session(engine) as session:
        run = os.getpid()  # a reused database keeps the clients of earlier runs
        unlimited = api_clients.create(session, name=f"bench-all-{run}", organizations=None,
                                       actor="bench", now=end)
        limited = api_clients.create(session, name=f"bench-org01-{run}",
                                     organizations=["org01"], actor="bench", now=end)
        session.commit()
        if staff.find(session, "bench-admin") is not None:  # a reused database
            return _people(session, shape, unlimited.token, limited.token)
        staff.create(session, user=staff.NewUser(login="bench-admin", full_name="Бенч Админ",
                                                 role="admin", organization=None,
                                                 password=PASSWORD),
                     allow_demo_password=False, actor="bench", now=end)
        staff.create(session, user=staff.NewUser(login="bench-doctor", full_name="Петрова А. С.",
                                                 role="doctor", organization="org01",
                                                 password=PASSWORD),
                     allow_demo_password=False, actor="bench", now=end)
        staff.set_doctor_id(session, login="bench-doctor", doctor_id="doc-1", actor="bench",
                            now=end)
        clinic_day(session, end)
        number = ORGANIZATIONS
        last, first, middle = person(number)
        patient_accounts.create(
            session, new=NewAccount(login=PATIENT_LOGIN, email=None, full_name="",
                                    password=PASSWORD,
                                    person=PersonDetails(last_name=last, first_name=first,
                                                         middle_name=middle,
                                                         birth_date=born(number), snils=None,
                                                         phone=phone_of(number))),
            mailing=Mailing(enabled=False, ttl=timedelta(hours=1), link_base=""),
            allow_demo_password=False, actor="bench", now=end)
        session.commit()
        found = _people(session, shape, unlimited.token, limited.token)
    engine.dispose()
    return found


# The measured МО's day, the same at every size: the history's own appointments of one day
# grow with the history (half a one a day at 10k), a clinic's day does not. With it the
# board's pages are full at every size, and its rows compare history, not page fullness.
CLINIC_DAY = 60


def clinic_day(session: Session, end: datetime) -> None:
    """``CLINIC_DAY`` appointments of org01 on ``end``'s day (Moscow), from 08:00 every ten
    minutes, one in four the bench doctor's, through the service; every other one with a
    request under way and its scheduled polls (written as the loader writes them)."""
    day = end.astimezone(MOSCOW).replace(hour=8, minute=0, second=0, microsecond=0)
    for k in range(CLINIC_DAY):
        patient = ORGANIZATIONS * (k + 1)  # org01's patients: n % 20 = 0
        row, _ = appointments.upsert(
            session, scope=SCOPE, organization="org01", external_id=f"day-{k}", now=end,
            policy=None, data=AppointmentInput(
                organization="org01", patient=f"p{patient}",
                starts_at=day + timedelta(minutes=10 * k), doctor_name="Петрова А. С.",
                service_name=SERVICES[k % len(SERVICES)], status="scheduled",
                doctor_external_id="doc-1" if k % 4 == 0 else f"doc-{k % DOCTORS}",
                consents=[ConsentInput("medical_intervention", "electronic"),
                          ConsentInput("personal_data", "electronic")]))
        if k % 2 == 0:
            request_id, sent = f"00000000-0000-4000-9000-{k:012d}", end - timedelta(hours=1)
            session.execute(insert(SigningRequestRow).values(
                id=request_id, appointment_id=row.id,
                organization_id=row.organization_id, patient_id=row.patient_id,
                consent_kinds=["medical_intervention", "personal_data"],
                phone=phone_of(patient), initiated_by="api", state="sent", uploaded_file_ids=[],
                created_at=sent, updated_at=sent))
            session.execute(insert(WorkItemRow).values(  # its polls, as the loader's are
                kind="signing", ref=request_id, status="scheduled", step="poll", data={},
                next_run_at=end + timedelta(days=1), lease_version=1, attempts=1,
                created_at=sent, updated_at=end))


def signed_archive() -> bytes:
    """A platform archive as the pages read it: a ZIP with a signed PDF and its signature."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Согласие на медицинское вмешательство.pdf", b"%PDF-1.4 bench\n")
        archive.writestr("Согласие на медицинское вмешательство.pdf.sig", b"\x30\x00")
    return buffer.getvalue()


def _people(session: Session, shape: Shape, unlimited: str, limited: str) -> People:
    """Patient 20 belongs to org01 (organisation = patient % 20 + 1); the middle request is
    where the deep pages start. The loader's archives are four bytes; the measured patient's
    are real ZIPs, so that the patient's pages open them as they would (a reused database's
    too)."""
    session.execute(
        update(DocumentRow)
        .where(DocumentRow.kind == signing_repository.ARCHIVE,
               DocumentRow.signing_request_id.in_(select(SigningRequestRow.id).where(
                   SigningRequestRow.patient_id == ORGANIZATIONS)))
        .values(content=(archive := signed_archive()), size=len(archive),
                sha256=hashlib.sha256(archive).hexdigest()))
    session.commit()
    last = person(ORGANIZATIONS)[0]
    middle_n = shape.requests // 2
    middle_id = request_id_of(middle_n)
    created = created_at(session, middle_id)
    return People(unlimited, limited, phone_of(ORGANIZATIONS), last,
                  Cursor(created, middle_id).encode(), created.date(), middle_id)


def request_id_of(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def created_at(session: Session, request: str) -> datetime:
    found = session.execute(text("SELECT created_at FROM signing_requests WHERE id = :i"),
                            {"i": request}).scalar_one()
    found = datetime.fromisoformat(found) if isinstance(found, str) else found
    return cast(datetime, found).replace(tzinfo=UTC)


def polled_now(db: Database, end: datetime) -> None:
    """The open work as a live region has it at the time of measuring: every scheduled item
    moved forward by the time since the newest poll (as if the polls had gone on while the
    bench loaded, or since the last measurement of a kept database), and the alert scan run
    once."""
    engine = make_engine(db.url)
    with read_only(engine) as conn:  # the newest poll: the history's end, or the last shift
        newest = conn.execute(select(func.max(T.c.updated_at))
                              .where(T.c.status == "scheduled")).scalar_one() or end
    newest = datetime.fromisoformat(newest) if isinstance(newest, str) else newest
    seconds = int((datetime.now(UTC) - newest.replace(tzinfo=UTC)).total_seconds())
    shifted = ("updated_at + make_interval(secs => :s)" if db.backend == "postgresql"
               else "strftime('%Y-%m-%d %H:%M:%S.000000', updated_at, '+' || :s || ' seconds')")
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE work_items SET updated_at = {shifted} "
                          f"WHERE status = 'scheduled'"), {"s": seconds})
    with Session(engine) as session:  # the alert scan's minute (the bench runs no worker)
        alerts.watch(session, now=datetime.now(UTC))
        session.commit()
    # what autovacuum does after so many changed rows: fresh statistics, visible pages
    if db.backend == "postgresql":
        vacuum_analyze(engine, "work_items")
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE work_items"))
    engine.dispose()


def vacuum_analyze(engine: Engine, table: str = "") -> None:
    """PostgreSQL's VACUUM ANALYZE, outside a transaction as it must be."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {table}".strip())


# -- the server and the timed rows --------------------------------------------------------------

def logged_in(base: str, page: str, form: dict[str, str]) -> httpx.Client:
    """A browser that logged in through the login form at ``page``."""
    http = httpx.Client(base_url=base, timeout=120)
    token = _find(CSRF_INPUT, _ok(http.get(page)))
    r = http.post(page, data={**form, "csrf_token": token})
    if r.status_code != 303:
        raise RuntimeError(f"login at {page} failed: {r.status_code} {r.text[:300]}")
    return http


@dataclass
class Row:
    group: str
    name: str
    url: str
    client: str  # which logged-in client asks
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    found: int = 0  # API: items on the page; pages: bytes of HTML (shows the page is not empty)
    server_cpu_s: float = 0.0  # the serve process's CPU over the timed requests


def rows_for(p: People, end: datetime) -> list[Row]:
    month_from = datetime.combine(p.middle_day, datetime.min.time(), UTC) - timedelta(days=30)
    day_from = datetime.combine(p.middle_day, datetime.min.time(), UTC)
    created = {"created_from": month_from.isoformat(), "created_to": day_from.isoformat()}
    appointment = {"appointment_from": day_from.isoformat(),
                   "appointment_to": (day_from + timedelta(days=1)).isoformat()}
    api = "/api/v1/signing-requests"
    rows: list[Row] = []
    for client, org in (("api-all", "org05"), ("api-org01", "org01")):
        for name, query in [
            ("first page", {}), ("deep page (middle)", {"cursor": p.middle_cursor}),
            ("state=completed", {"state": "completed"}),
            ("state=failed", {"state": "failed"}),
            ("state=failed, deep", {"state": "failed", "cursor": p.middle_cursor}),
            (f"organization={org}", {"organization": org}),
            (f"organization={org}, deep", {"organization": org, "cursor": p.middle_cursor}),
            ("created month", created), ("appointment day", appointment),
        ]:
            rows.append(Row(client, name, f"{api}?{urlencode(query)}" if query else api, client))
    phone = f"8 {p.patient_phone[2:5]} {p.patient_phone[5:8]}-{p.patient_phone[8:10]}-" \
            f"{p.patient_phone[10:]}"
    today = end.astimezone(MOSCOW).date().isoformat()  # the clinic day's (``clinic_day``)
    for name, url in [
        ("overview + queue", "/console"),
        ("requests", "/console/requests"),
        ("requests deep (middle)", "/console/requests?" + urlencode({"cursor": p.middle_cursor})),
        ("requests search name", "/console/requests?" + urlencode({"q": p.patient_last_name})),
        ("requests search phone", "/console/requests?" + urlencode({"q": phone})),
        ("requests state=failed", "/console/requests?state=failed"),
        ("requests org + day", "/console/requests?" + urlencode(
            {"organization": "org07", "day": p.middle_day.isoformat()})),
        ("alerts", "/console/requests?view=alerts"),
        ("stuck", "/console/requests?view=stuck"),
        ("requests live list", "/console/requests/list"),
        ("notifications", "/console/notifications"),
        ("notifications filtered", "/console/notifications?" + urlencode(
            {"state": "sent", "organization": "org03", "day": p.middle_day.isoformat()})),
        ("audit", "/console/audit"),
        ("audit by subject", "/console/audit?" + urlencode({"subject": p.middle_request})),
        ("audit by action + day", "/console/audit?" + urlencode(
            {"action": "signing.failed", "day": p.middle_day.isoformat()})),
        ("patients", "/console/patients"),
        ("patients search", "/console/patients?" + urlencode({"q": p.patient_last_name})),
    ]:
        rows.append(Row("console", name, url, "admin"))
    for name, url in [("board: my patients today", "/doctor"),
                      ("board: all today", "/doctor?who=all"),
                      ("board: a day", "/doctor?" + urlencode({"who": "all", "date": today})),
                      ("board: name search", "/doctor?" + urlencode(
                          {"who": "all", "q": p.patient_last_name}))]:
        rows.append(Row("doctor", name, url, "doctor"))
    rows.append(Row("patient", "portal home", "/portal", "patient"))
    rows.append(Row("patient", "portal documents", "/portal/documents", "patient"))
    return rows


def clients_of(base: str, p: People) -> dict[str, httpx.Client]:
    """The logged-in clients of the rows (``Row.client``)."""
    return {
        "api-all": httpx.Client(base_url=base, timeout=120,
                                headers={"Authorization": f"Bearer {p.unlimited_token}"}),
        "api-org01": httpx.Client(base_url=base, timeout=120,
                                  headers={"Authorization": f"Bearer {p.limited_token}"}),
        "admin": logged_in(base, "/login", {"login": "bench-admin", "password": PASSWORD}),
        "doctor": logged_in(base, "/login", {"login": "bench-doctor", "password": PASSWORD}),
        "patient": logged_in(base, "/portal/login", {"login": PATIENT_LOGIN,
                                                     "password": PASSWORD}),
    }


def sample(row: Row, http: httpx.Client, server_pid: int, count: int, *, warm: int = 0) -> None:
    """``count`` timed requests of ``row`` one after another (after ``warm`` unmeasured ones,
    which warm the caches), and the server's CPU over them."""
    for _ in range(warm):
        http.get(row.url)
    cpu0 = cpu_seconds(server_pid)
    for _ in range(count):
        started = time.perf_counter()
        try:
            r = http.get(row.url)
            outcome = "ok" if r.status_code == 200 else str(r.status_code)
            if outcome == "ok":
                row.found = len(r.json()["items"]) if row.client.startswith("api") \
                    else len(r.content)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        took = time.perf_counter() - started
        if outcome == "ok":
            row.latencies.append(took)
        else:
            row.errors[outcome] = row.errors.get(outcome, 0) + 1
    row.server_cpu_s += cpu_seconds(server_pid) - cpu0


def measure(base: str, server_pid: int, p: People, rows: list[Row], samples: int) -> None:
    """Each row's requests one after another; also the server's CPU time per request, which
    depends less on the other load of a shared machine than the latency does (on PostgreSQL
    the database's own CPU is not in it)."""
    clients = clients_of(base, p)
    try:
        for row in rows:
            sample(row, clients[row.client], server_pid, samples, warm=2)
            _said(row, samples)
    finally:
        for http in clients.values():
            http.close()


def _said(row: Row, samples: int, size: str = "") -> None:
    say(f"{size}  {row.group:<9} {row.name:<28} p50 {_p(row, 50):8.1f} ms  "
        f"p95 {_p(row, 95):8.1f} ms  server CPU {_cpu_ms(row, samples):6.1f} ms/req"
        + (f"  errors {row.errors}" if row.errors else ""))


def _cpu_ms(row: Row, samples: int) -> float:
    return round(1000 * row.server_cpu_s / samples, 1)


def _p(row: Row, q: float) -> float:
    return round(percentile(sorted(row.latencies), q) * 1000, 1) if row.latencies else -1.0


# -- runner steps/s -----------------------------------------------------------------------------

def runner_steps(db: Database) -> dict[str, Any]:
    """``runner_throughput``'s trivial items through real worker processes, with the loaded
    ``work_items`` present; counts only the benchmark's own kind."""
    engine = make_engine(db.url)
    with engine.begin() as conn:  # a reused database holds an earlier run's
        conn.execute(T.delete().where(T.c.kind == Trivial.kind))
    enqueue(engine, RUNNER_ITEMS)
    mine = T.c.kind == Trivial.kind
    workers = start_workers(db.url, "trivial", WORKERS[db.backend])
    cpu0 = {w.pid: cpu_seconds(w.pid) for w in workers}
    started = datetime.now(UTC)
    for w in workers:
        w.go()
    deadline = time.monotonic() + 600
    while True:
        with read_only(engine) as conn:
            done = conn.execute(select(func.count()).where(mine, T.c.status == "done")
                                ).scalar_one()
        if done >= RUNNER_ITEMS:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done}/{RUNNER_ITEMS} items done after 600 s")
        time.sleep(0.05)
    with read_only(engine) as conn:
        last: datetime = conn.execute(select(func.max(T.c.finished_at)).where(mine)).scalar_one()
    cpu = sum(cpu_seconds(w.pid) - cpu0[w.pid] for w in workers)
    for w in workers:
        w.stop()
    engine.dispose()
    seconds = (last - started).total_seconds()
    steps = RUNNER_ITEMS * len(TRIVIAL_STEPS)
    return {"workers": len(workers), "steps": steps, "seconds": round(seconds, 3),
            "steps_per_s": round(steps / seconds, 1), "worker_cpu_s": round(cpu, 2)}


# -- one size, and the summary -------------------------------------------------------------------

def run_size(backend: str, size: int, args: argparse.Namespace) -> dict[str, Any] | None:
    shape = Shape(size)
    if args.reuse:
        db, end = reused(backend, size, args.reuse)
        return _measure(db, size, shape, end, args, load_s=0.0, timings={})
    end = datetime.now(UTC).replace(microsecond=0)
    say(f"{backend}, {size:,} signing requests: loading …")
    with fresh_database(backend, size, args.keep or args.load_only) as db:
        started = time.perf_counter()
        timings = load(db, size, end)
        load_s = time.perf_counter() - started
        say(f"  loaded in {load_s:.1f} s")
        if args.load_only:
            return None
        return _measure(db, size, shape, end, args, load_s=load_s, timings=timings)


def reused(backend: str, size: int, url: str) -> tuple[Database, datetime]:
    """A kept database, migrated to the code being measured, and the end of its history."""
    say(f"{backend}, {size:,} signing requests: reusing {url}")
    db = Database(backend, url, lambda: None)
    engine = make_engine(db.url)
    upgrade(engine)  # the loaded history, under the indexes of the code being measured
    with Session(engine) as session:
        end = created_at(session, request_id_of(size))  # the newest request is the end
    engine.dispose()
    return db, end


def _measure(db: Database, size: int, shape: Shape, end: datetime, args: argparse.Namespace,
             *, load_s: float, timings: dict[str, float]) -> dict[str, Any]:
    p = people(db, shape, end)
    rows = rows_for(p, end)
    polled_now(db, end)
    load_before = round(os.getloadavg()[0], 2)
    with served(db.url) as (base, proc):
        measure(base, proc.popen.pid, p, rows, args.samples)
    say("  runner: trivial steps with the history present …")
    runner = runner_steps(db)
    say(f"  runner {runner['steps_per_s']} steps/s")
    return _result(db, size, args.samples, rows, runner, load_before,
                   load_s=load_s, timings=timings)


def _result(db: Database, size: int, samples: int, rows: list[Row], runner: dict[str, Any],
            load_before: float, *, load_s: float = 0.0,
            timings: dict[str, float] | None = None) -> dict[str, Any]:
    return {"db": db.backend, "size": size, "samples": samples, "load_s": round(load_s, 1),
            "load_by_table_s": {k: round(v, 2) for k, v in (timings or {}).items()},
            "rows": [{"group": r.group, "name": r.name, "url": r.url,
                      "p50_ms": _p(r, 50), "p95_ms": _p(r, 95), "max_ms": _p(r, 100),
                      "ok": len(r.latencies),
                      "found": r.found, "server_cpu_ms": _cpu_ms(r, samples),
                      "errors": r.errors} for r in rows],
            "runner": runner, "loadavg_1m_before": load_before}


# --side-by-side: each row's samples in this many turns per size; the runner this many times.
TURNS = 5
RUNNER_TURNS = 3


def side_by_side(backend: str, sizes: list[int], urls: list[str],
                 args: argparse.Namespace) -> list[dict[str, Any]]:
    """Two kept databases measured in turns, each by its own ``medsign serve``: every row's
    samples in ``TURNS`` chunks, one size then the other, and the runner ``RUNNER_TURNS``
    times each, alternating (the median run is kept). A shared machine's slower and faster
    minutes then fall on both sizes alike; one size after the other, a row's p95 moved by
    half between runs minutes apart, and the ratio with it."""
    sides = []
    for size, url in zip(sizes, urls, strict=True):
        db, end = reused(backend, size, url)
        p = people(db, Shape(size), end)
        polled_now(db, end)
        sides.append((db, size, p, rows_for(p, end)))
    load_before = round(os.getloadavg()[0], 2)
    chunks = [args.samples // TURNS + (k < args.samples % TURNS) for k in range(TURNS)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(served(db.url)) for db, *_ in sides]
        clients = [clients_of(base, p) for (base, _), (_, _, p, _) in zip(servers, sides,
                                                                          strict=True)]
        for http in (h for side in clients for h in side.values()):
            stack.callback(http.close)
        pids = [proc.popen.pid for _, proc in servers]
        for n in range(len(sides[0][3])):
            turn = [(rows[n], side[rows[n].client], pid)
                    for (*_, rows), side, pid in zip(sides, clients, pids, strict=True)]
            for row, http, pid in turn:
                sample(row, http, pid, 0, warm=2)
            for count in chunks:
                for row, http, pid in turn:
                    sample(row, http, pid, count)
            for (_, size, _, _), (row, _, _) in zip(sides, turn, strict=True):
                _said(row, args.samples, f"{size:>11,}")
    runs: list[list[dict[str, Any]]] = [[] for _ in sides]
    for _ in range(RUNNER_TURNS):
        for i, (db, size, _, _) in enumerate(sides):
            runs[i].append(runner_steps(db))
            say(f"  runner at {size:,}: {runs[i][-1]['steps_per_s']} steps/s")
    results = []
    for (db, size, _, rows), mine in zip(sides, runs, strict=True):
        kept = sorted(mine, key=lambda r: r["steps_per_s"])[len(mine) // 2]
        runner = {**kept, "runs_steps_per_s": [r["steps_per_s"] for r in mine]}
        results.append(_result(db, size, args.samples, rows, runner, load_before))
    return results


def combined(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per size, smallest first: several runs of a size (``--compare`` with runs
    made one after another, 10k and 10M taking turns, so that both meet the machine's
    quieter and busier minutes) give each row's median figures and the median steps/s."""
    by_size: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        by_size.setdefault(result["size"], []).append(result)
    merged = []
    for _, runs in sorted(by_size.items()):
        first = runs[0]
        rows = []
        for n, row in enumerate(first["rows"]):
            same = [run["rows"][n] for run in runs]
            assert all(r["name"] == row["name"] for r in same), "runs of different rows"
            rows.append({**row, **{k: median(r[k] for r in same)
                                   for k in ("p50_ms", "p95_ms", "server_cpu_ms")},
                         "errors": {k: v for r in same for k, v in r["errors"].items()}})
        runner = {**first["runner"],
                  "steps_per_s": median(run["runner"]["steps_per_s"] for run in runs)}
        merged.append({**first, "rows": rows, "runner": runner, "runs": len(runs)})
    return merged


def summarize(results: list[dict[str, Any]]) -> None:
    results = combined(results)
    base = results[0]
    base_p95 = {(r["group"], r["name"]): r["p95_ms"] for r in base["rows"]}
    for result in results:
        runs = f", median of {result['runs']} runs" if result["runs"] > 1 else ""
        say(f"\n{result['db']}, {result['size']:,} signing requests (loaded in "
            f"{result['load_s']:.0f} s{runs}), p95 vs {base['size']:,}:")
        table = []
        for r in result["rows"]:
            ratio = r["p95_ms"] / b if (b := base_p95.get((r["group"], r["name"]))) else 0.0
            flags = [f for f, bad in (("p95>50ms", r["p95_ms"] > P95_BOUND_MS),
                                      ("ratio>2", ratio > RATIO_BOUND),
                                      ("errors", bool(r["errors"]))) if bad]
            table.append([r["group"], r["name"], r["found"], r["p50_ms"], r["p95_ms"],
                          r["server_cpu_ms"], round(ratio, 2), " ".join(flags) or "ok"])
        runner_ratio = result["runner"]["steps_per_s"] / base["runner"]["steps_per_s"]
        table.append(["runner", "steps/s", "", result["runner"]["steps_per_s"], "", "",
                      round(runner_ratio, 2), "ok" if runner_ratio >= 0.8 else "below 80 %"])
        print_table(["group", "row", "items/bytes", "p50 ms", "p95 ms", "CPU ms", "ratio",
                     "flags"],
                    table)


def main() -> None:
    args = parse_args()
    backend = "postgresql" if args.db == "postgres" else args.db
    sizes = [parse_size(raw) for raw in args.sizes.split(",")]
    urls = args.reuse.split(",") if args.reuse else []
    if args.side_by_side:
        if len(sizes) != 2 or len(urls) != 2:
            raise SystemExit("--side-by-side measures two kept databases: give both sizes in "
                             "--sizes and both addresses in --reuse, in the same order")
        results = side_by_side(backend, sizes, urls, args)
        for result in results:
            append_result("history_scale", result)
    elif args.reuse and (len(sizes) != 1 or len(urls) != 1):
        raise SystemExit("--reuse measures one kept database: give its size alone in --sizes")
    else:
        results = []
        for size in sizes:
            measured = run_size(backend, size, args)
            if measured is None:
                continue
            append_result("history_scale", measured)
            results.append(measured)
    if not results:
        return
    if args.compare:  # with earlier runs: the summary's base is the smallest size
        earlier = [r for name in args.compare.split(",")
                   for r in json.loads(Path(name).read_text())]
        summarize([*earlier, *results])
    else:
        summarize(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1))
    say("results appended to bench/results/history_scale.jsonl")


if __name__ == "__main__":
    main()
