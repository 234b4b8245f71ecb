"""Signing throughput: complete signing transactions per second, GOST signatures included.

A Goskey emulator (its own process, in memory; zero latency unless ``--latency-ms``) whose
autopilot patient signs at the first status poll, and one ``medsign worker`` process (SQLite;
``--workers N`` for more, sharing the file) with ``--concurrency 16`` and tiny poll intervals.
N requests (default 200)
are created in bulk through the REST API before the workers start; the rate is N divided by
the time from the first ``sent`` to the last ``completed`` (both from the requests' history).
Every transaction does the real work: the emulator renders two PDFs and seals 2×2+1 files (its
operator's GOST signatures); the worker, in one step, downloads the archive, verifies its four
operator signatures and signs the two PDFs as the MO, then uploads both signatures (the
emulator verifies them) and completes.

Options:

- ``--requests N`` (200): signing requests created before the workers start;
- ``--concurrency C`` (16): runner steps in flight per worker process — each transaction has
  one step at a time, so up to C transactions are in flight in each worker;
- ``--workers W`` (1): worker processes sharing the SQLite file;
- ``--latency-ms L`` (0): the emulator waits L ms before answering each platform call (its
  ``latency_ms`` fault, ``POST /_emulator/faults``), as a distant platform would; production's
  figure is ``--latency-ms 100 --concurrency 200`` (200 transactions in flight);
- ``--signer pure|openssl`` (pure): the MO's signing back end;
- ``--profile [--keep-profiles DIR]``: run the processes under cProfile and print a summary
  (every thread; see ``_profiled.py``);
- ``--timeout S`` (600): give up when not all requests complete in S seconds.

Printed: transactions/s, CPU milliseconds per transaction of the emulator and of all worker
processes (user + system time of each process over the run, read from ``/proc``), and the mean
wall time of each runner step and platform call. Target: ≥ 20/s at zero latency. One JSON line
per run is appended to ``bench/results/signing_throughput.jsonl``. Usage::

    .venv/bin/python bench/signing_throughput.py [--requests N] [--concurrency 16]
        [--workers 1] [--latency-ms 0] [--signer pure|openssl]
        [--profile [--keep-profiles DIR]]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _support import (
    MedsignProcess,
    append_result,
    cpu_seconds,
    free_port,
    print_table,
    say,
    start_medsign,
    wait_http,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsign import bootstrap
from medsign.accounts import api_clients
from medsign.config import load_settings
from medsign.crypto import native as native_hash
from medsign.crypto import openssl_gost_available
from medsign.db.engine import make_engine, read_only
from medsign.db.migrate import upgrade
from medsign.db.models import DocumentRow, SigningEventRow, SigningRequestRow
from medsign.signing.signers import development_keys

TARGET_PER_S = 20.0
TOKEN = "bench-partner-token"
ORG = {"name": "ГБУЗ «Городская поликлиника № 1»", "address": "г. Москва, ул. Ленина, д. 1",
       "ogrn": "1027700132195", "inn": "7707083893", "kpp": "770701001",
       "timezone": "Europe/Moscow", "partner": {
           "department_id": "7f1c0d3e-0000-4000-8000-000000000001",
           "templates": {"medical_intervention": "tpl-ids", "personal_data": "tpl-pd"}}}
# What to show from the profiles: (label, file name, function) — line numbers ignored
FOCUS = [
    ("GOST signing, whole CMS (medsign.crypto.cms)", "cms.py", "sign"),
    ("  k·G, fixed-base comb (medsign.crypto.ec)", "ec.py", "multiply_base"),
    ("  z·Q for a key without a table (4-bit window)", "ec.py", "_multiply"),
    ("  comb tables built for repeated public keys", "ec.py", "_comb_table"),
    ("  DER encoding (asn1crypto dump)", "core.py", "dump"),
    ("GOST verification (medsign.crypto.verify)", "verify.py", "verify_detached"),
    ("archive checks (signing.archive.verify_archive)", "archive.py", "verify_archive"),
    ("MO counter-signature (signing.countersign)", "countersign.py", "countersign"),
    ("PDF rendering (emulator render_pdf)", "render.py", "render_pdf"),
    ("  cutting DejaVu down to the working set (once)", "render.py", "_cut"),
    ("  laying the text out and writing the PDF (pdf.writer)", "writer.py", "render"),
    ("emulator: check of an uploaded MO signature", "operator.py", "verify"),
    ("Streebog digests", "gost.py", "streebog"),
    ("worker: HTTP calls to the platform (httpx)", "_client.py", "send"),
    ("worker: flow loads the request (ORM)", "repository.py", "load_for_step"),
    ("worker: flow applies a transition (ORM, audit)", "flow.py", "apply"),
    ("runner: rate limiter (a write per call)", "ratelimit.py", "reserve"),
    ("runner: claim", "worker.py", "_claim"),
    ("runner: group commit", "worker.py", "_flush"),
    ("SQLite commits", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
]
IDLE = ("poll' of 'select", "acquire' of '_thread", "get' of '_queue", "sleep", "wait")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (they share the SQLite file; its single-writer "
                        "lock orders their writes)")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="the emulator's delay before answering each platform call (e.g. 100 "
                        "with --concurrency 200: a distant platform, 200 in flight)")
    p.add_argument("--signer", choices=("pure", "openssl"), default="pure",
                   help="the MO's signing back end (the emulator always seals in Python)")
    p.add_argument("--profile", action="store_true",
                   help="run both processes under cProfile (slower) and print a summary")
    p.add_argument("--keep-profiles", type=Path, default=None, metavar="DIR",
                   help="with --profile: also copy the raw .prof files (pstats) to DIR")
    p.add_argument("--timeout", type=float, default=600.0)
    return p.parse_args()


def children_cpu_seconds(pid: int) -> float:
    """CPU time of the waited-for children of a process (``cutime + cstime``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def processes() -> Iterator[list[MedsignProcess]]:
    started: list[MedsignProcess] = []
    try:
        yield started
    finally:
        for proc in reversed(started):
            proc.stop()


def write_config(folder: Path, db_url: str, goskey_port: int, concurrency: int,
                 signer: str) -> Path:
    text = f"""profile = "development"
[database]
url = "{db_url}"
[runner]
concurrency = {concurrency}
lease = "60s"
poll_interval = "0.01s"
claim_batch = 32
backoff_base = "0.1s"
backoff_cap = "1s"
max_attempts = 20
[signing]
poll_interval = "0.01s"
poll_backoff_factor = 1.5
poll_interval_max = "0.2s"
trust_store = "{folder / 'operator-ca.pem'}"
signer = "{signer}"
[goskey]
base_url = "http://127.0.0.1:{goskey_port}/gov/pep"
token = "{TOKEN}"
[rate_limits.goskey]
rate = 100000
burst = 100000
[logging]
level = "WARNING"
"""
    path = folder / "medsign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _phone(i: int) -> str:
    return f"+7916{i:07d}"


def seed(folder: Path, requests: int) -> None:
    """Organisation, patients, appointments and N signing requests, through the REST API."""
    from fastapi.testclient import TestClient
    container = bootstrap.build(load_settings(folder / "medsign.toml"))
    with Session(container.engine) as db:
        token = api_clients.create(db, name="bench", organizations=None, actor="bench",
                                   now=datetime.now(UTC)).token
        db.commit()
    starts = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with TestClient(container.app()) as api:
        api.headers["Authorization"] = f"Bearer {token}"
        assert api.put("/api/v1/organizations/mo1", json=ORG).status_code in (200, 201)
        for i in range(requests):
            patient = {"organization": "mo1", "last_name": "Иванов", "first_name": "Иван",
                       "birth_date": "1980-05-17", "phone": _phone(i)}
            assert api.put(f"/api/v1/organizations/mo1/patients/p{i}",
                           json=patient).status_code in (200, 201)
            appointment = {"organization": "mo1", "patient": f"p{i}", "starts_at": starts,
                           "doctor": {"name": "Петрова А. С."},
                           "service_name": "Приём врача-терапевта", "consents": [
                               {"kind": "medical_intervention", "signing_method": "electronic"},
                               {"kind": "personal_data", "signing_method": "electronic"}]}
            r = api.put(f"/api/v1/organizations/mo1/appointments/a{i}", json=appointment)
            assert r.status_code in (200, 201), r.text
            r = api.post(f"/api/v1/organizations/mo1/appointments/a{i}/signing-requests")
            assert r.status_code == 201, r.text
    container.engine.dispose()


def step_latencies(text: str) -> dict[str, dict[str, float]]:
    """Mean wall milliseconds of each runner step and of each platform call, from the
    worker's Prometheus histograms (``_sum`` / ``_count``)."""
    sums: dict[tuple[str, str], list[float]] = {}
    for line in text.splitlines():
        for metric, kind, label in (("medsign_runner_step_seconds", "step", "step"),
                                    ("medsign_external_call_seconds", "call", "method")):
            for suffix, slot in (("_sum{", 0), ("_count{", 1)):
                if line.startswith(metric + suffix):
                    labels, value = line[len(metric) + len(suffix):].rsplit("} ", 1)
                    name = dict(p.split("=", 1) for p in labels.split(","))[label].strip('"')
                    sums.setdefault((kind, name), [0.0, 0.0])[slot] += float(value)
    out: dict[str, dict[str, float]] = {"step": {}, "call": {}}
    for (kind, name), (total, count) in sorted(sums.items()):
        if count:
            out[kind][name] = round(total / count * 1000, 1)
    return out


def progress(engine: Any) -> dict[str, int]:
    with read_only(engine) as conn:
        rows = conn.execute(select(SigningRequestRow.state, func.count())
                            .group_by(SigningRequestRow.state)).all()
    return {state: n for state, n in rows}


def span(engine: Any) -> tuple[datetime, datetime]:
    """The first ``sent`` and the last ``completed`` moment in the requests' history."""
    with read_only(engine) as conn:
        first = conn.execute(select(func.min(SigningEventRow.at))
                             .where(SigningEventRow.to_state == "sent")).scalar_one()
        last = conn.execute(select(func.max(SigningEventRow.at))
                            .where(SigningEventRow.to_state == "completed")).scalar_one()
    return _aware(first), _aware(last)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="medsign-bench-signing-"))
    try:
        return _run(folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    db_url = f"sqlite:///{folder / 'medsign.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    goskey_port = free_port()
    write_config(folder, db_url, goskey_port, args.concurrency, args.signer)
    dev_ca, _, _ = development_keys(folder / "var" / "keys", code="mo1", name=ORG["name"],
                                    ogrn=ORG["ogrn"], inn=ORG["inn"])
    people = folder / "goskey-people.json"  # each patient's Госуслуги account (see seed)
    people.write_text(json.dumps([
        {"phone": _phone(i), "last_name": "Иванов", "first_name": "Иван",
         "birth_date": "1980-05-17", "gender": "M"} for i in range(args.requests)]),
        encoding="utf-8")
    with processes() as procs:
        emulator = start_medsign(folder, "emulator", [
            "emulate", "goskey", "--port", str(goskey_port), "--token", TOKEN,
            "--mo-trust", str(dev_ca), "--people", str(people)], profile=args.profile)
        procs.append(emulator)
        control = f"http://127.0.0.1:{goskey_port}/_emulator"
        wait_http(f"{control}/transactions", emulator)
        (folder / "operator-ca.pem").write_bytes(httpx.get(f"{control}/ca.pem").content)
        r = httpx.post(f"{control}/autopilot", json={"sign": 1, "refuse": 0, "ignore": 0,
                                                      "after_polls": 1, "seed": 1})
        assert r.status_code == 200, r.text
        if args.latency_ms:
            r = httpx.post(f"{control}/faults", json={"method": "*",
                                                       "latency_ms": args.latency_ms})
            assert r.status_code == 200, r.text
        say(f"seeding {args.requests} signing requests …")
        seed(folder, args.requests)

        metrics_ports = []
        for i in range(args.workers):
            metrics_ports.append(free_port())
            worker = start_medsign(folder, "worker" if i == 0 else f"worker{i + 1}",
                           ["worker", "--concurrency", str(args.concurrency),
                            "--metrics-port", str(metrics_ports[-1])], profile=args.profile)
            procs.append(worker)
            wait_http(f"http://127.0.0.1:{metrics_ports[-1]}/metrics", worker)
        metrics_port = metrics_ports[0]
        cpu0 = {p.name: cpu_seconds(p.popen.pid) for p in procs}
        children0 = {p.name: children_cpu_seconds(p.popen.pid) for p in procs}
        wall0 = time.monotonic()
        deadline = wall0 + args.timeout
        while (done := progress(engine)).get("completed", 0) < args.requests:
            stuck = {s: n for s, n in done.items() if s in ("failed", "cancelled")}
            if stuck or time.monotonic() > deadline:
                raise RuntimeError(f"not all completed: {done}\n"
                                   f"{(folder / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.05)
        wall = time.monotonic() - wall0
        cpu = {p.name: round(cpu_seconds(p.popen.pid) - cpu0[p.name], 2) for p in procs}
        children = {p.name: round(children_cpu_seconds(p.popen.pid) - children0[p.name], 2)
                    for p in procs}
        latencies = step_latencies(
            httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text)
        first, last = span(engine)
        for proc in reversed(procs):
            proc.stop()
        stored = storage(engine, folder / "medsign.db")
        profiles = {p.name: summarize(p.profile, cpu[p.name]) for p in procs if p.profile}
        if args.keep_profiles is not None:
            args.keep_profiles.mkdir(parents=True, exist_ok=True)
            for p in procs:
                if p.profile is not None and p.profile.exists():
                    shutil.copy(p.profile, args.keep_profiles / p.profile.name)
    engine.dispose()
    seconds = (last - first).total_seconds()
    n = args.requests
    # all worker processes together, under "workers"
    cpu["workers"] = round(sum(v for k, v in cpu.items() if k.startswith("worker")), 2)
    children["workers"] = round(sum(v for k, v in children.items()
                                    if k.startswith("worker")), 2)
    return {"requests": n, "concurrency": args.concurrency, "workers": args.workers,
            "latency_ms": args.latency_ms, "mo_signer": args.signer,
            "profiled": args.profile, "openssl_gost": openssl_gost_available(),
            "native_streebog": native_hash.streebog(b"", 32) is not None,
            "seconds_first_sent_to_last_completed": round(seconds, 2),
            "transactions_per_s": round(n / seconds, 2), "target_per_s": TARGET_PER_S,
            "wall_seconds_from_worker_ready": round(wall, 2),
            "cpu_seconds": cpu,
            "cpu_ms_per_transaction": {k: round(v / n * 1000, 1) for k, v in cpu.items()},
            # processes they started and waited for (``openssl cms`` with --signer openssl)
            "children_cpu_ms_per_transaction": {k: round(v / n * 1000, 1)
                                                for k, v in children.items()},
            "mean_ms": latencies,
            # what one signed transaction leaves in the database (docs/operations.md, capacity)
            "stored_bytes_per_transaction": {k: round(v / n) for k, v in stored.items()},
            "profiles": profiles}


def storage(engine: Any, db_file: Path) -> dict[str, int]:
    """The documents' bytes (the platform's archive, the MO's signatures) and the whole
    SQLite file (rows, history, audit, indexes) once the WAL is folded in."""
    with read_only(engine) as conn:
        documents = conn.execute(select(func.coalesce(func.sum(DocumentRow.size), 0))
                                 ).scalar_one()
    engine.dispose()  # the workers have stopped: nobody else holds the file
    with closing(sqlite3.connect(db_file)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"documents": int(documents), "database_file": db_file.stat().st_size}


def summarize(path: Path | None, cpu_s: float) -> dict[str, Any]:
    """The focus lines and the top functions by own time, as shares of the process's CPU time
    over the run (``/proc``; it includes the profiler's overhead, like the profile does).

    Only finished calls are exact: a thread still alive at exit (an idle pool thread) has its
    open frames timed against another thread's clock, so those are dropped (idle waits, and
    anything longer than the whole run)."""
    if path is None or not path.exists():
        return {}
    raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    focus = {}
    for label, filename, function in FOCUS:
        found = [(calls, cumulative) for (f, _, fn), (_, calls, _, cumulative, _) in raw.items()
                 if Path(f).name == filename and fn == function]
        if found:
            calls, cumulative = max(found, key=lambda x: x[1])
            focus[label] = {"calls": calls, "cumulative_s": round(cumulative, 2),
                            "share": round(cumulative / cpu_s, 3) if cpu_s else 0}
    busy = [(k, v) for k, v in raw.items()
            if not any(i in k[2] for i in IDLE) and 0 <= v[2] <= cpu_s]
    top = sorted(busy, key=lambda x: -x[1][2])[:12]
    return {"process_cpu_s": round(cpu_s, 2), "focus": focus,
            "top_own_time": [{"function": f"{Path(f).name}:{line}({fn})" if f != "~" else fn,
                              "calls": v[1], "own_s": round(v[2], 2),
                              "cumulative_s": round(v[3], 2)}
                             for (f, line, fn), v in top]}


def print_profiles(result: dict[str, Any]) -> None:
    for name, prof in result["profiles"].items():
        if not prof:
            continue
        say(f"\n{name}: {prof['process_cpu_s']} CPU s during the run, profiler included "
            "(cProfile in every thread, timed by per-thread CPU time; compare the shares)")
        print_table(["where", "calls", "cumulative CPU s", "share"],
                    [[label, v["calls"], v["cumulative_s"], f"{v['share']:.0%}"]
                     for label, v in prof["focus"].items()])
        say("")
        print_table(["top by own time", "calls", "own s", "cumulative s"],
                    [[t["function"][:70], t["calls"], t["own_s"], t["cumulative_s"]]
                     for t in prof["top_own_time"]])


def unit_costs(rounds: int = 9) -> list[dict[str, Any]]:
    """Milliseconds per operation, measured in this process without a profiler, and how many
    of each one transaction needs: the CPU budget of a transaction, by what it is made of."""
    from medsign.config import SigningSettings
    from medsign.crypto import (
        TrustStore,
        issue_certificate,
        load_signer,
        make_ca,
        save_pem,
        verify_detached,
    )
    from medsign.crypto.signers import PureSigner
    from medsign.integrations.goskey.emulator import archive as emulated
    from medsign.integrations.goskey.emulator.config import EmulatorConfig
    from medsign.integrations.goskey.emulator.model import Document
    from medsign.integrations.goskey.emulator.profile import profile_for
    from medsign.integrations.goskey.emulator.render import Sheet, render_pdf, render_xml
    from medsign.signing.archive import verify_archive

    def median_ms(action: Any, clock: Any = time.thread_time) -> float:
        """CPU time of this thread (steady on a shared machine); wall time for a subprocess."""
        action()
        times = []
        for _ in range(rounds):
            t = clock()
            action()
            times.append(clock() - t)
        return round(sorted(times)[len(times) // 2] * 1000, 1)

    now = datetime.now(UTC)
    ca = make_ca("УЦ", organization="УЦ")
    keys = issue_certificate(ca, common_name="Оператор", organization="Оператор")
    signer = PureSigner(keys)
    trust = TrustStore.from_certificates([ca.certificate_der])
    font = EmulatorConfig(token="x").resolve_font()
    sheets = [Sheet(Document(template_id=f"t{i}", title=title, doc_type="med_permission",
                             services=["Приём врача-терапевта"],
                             executor={"nameExecutor": ORG["name"],
                                       "regAdrExecutor": ORG["address"]}),
                    profile_for("+79160000000"), "tx", now)
              for i, title in enumerate(["ИДС на медицинское вмешательство",
                                         "Согласие на обработку персональных данных"])]
    rendered = [emulated.Rendered(s.document.title, render_xml(s), render_pdf(s, font=font))
                for s in sheets]
    archive = emulated.build_archive(rendered, signer.sign)
    pdf = rendered[0].pdf
    signature = signer.sign(pdf)
    limits = SigningSettings(max_uncompressed_bytes=100 * 1024**2, max_compression_ratio=100)
    rows = [
        ("emulator", "render one PDF (DejaVu Sans, pdf.writer)", median_ms(
            lambda: render_pdf(sheets[0], font=font)), 2),
        ("emulator", "GOST seal, pure Python (PDF, XML, whole archive)", median_ms(
            lambda: signer.sign(pdf)), 5),
        ("emulator", "check an uploaded MO signature (one verify)", median_ms(
            lambda: verify_detached(pdf, signature, trust=trust)), 2),
        ("worker", "verify the archive (4 operator signatures)", median_ms(
            lambda: verify_archive(archive, expected_documents=2, trust=trust, limits=limits,
                                   at=now)), 1),
        ("worker", "MO signature, pure Python (signing.signer = pure)", median_ms(
            lambda: signer.sign(pdf)), 2),
    ]
    if openssl_gost_available():
        folder = Path(tempfile.mkdtemp(prefix="medsign-bench-keys-"))
        try:
            save_pem(keys, folder / "k.pem", folder / "c.pem")
            openssl = load_signer("openssl", key_file=folder / "k.pem",
                                  certificate_file=folder / "c.pem")
            rows.append(("worker", "MO signature, openssl cms + GOST engine (wall time)",
                         median_ms(lambda: openssl.sign(pdf), time.perf_counter), 2))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return [{"process": p, "operation": op, "ms": ms, "per_transaction": n,
             "ms_per_transaction": round(ms * n, 1)} for p, op, ms, n in rows]


def main() -> None:
    args = parse_args()
    say("measuring what a transaction is made of …")
    costs = unit_costs()
    result = run(args)
    result["unit_costs"] = costs
    append_result("signing_throughput", result)
    print_table(["requests", "workers", "in flight", "latency ms", "MO signer", "profiled",
                 "seconds", "tx/s", "target", "ok", "emulator CPU ms/tx", "worker CPU ms/tx",
                 "+ its children"],
                [[result["requests"], result["workers"], result["concurrency"],
                  result["latency_ms"], result["mo_signer"], result["profiled"],
                  result["seconds_first_sent_to_last_completed"],
                  result["transactions_per_s"], result["target_per_s"],
                  # the target is for the zero-latency emulator
                  "n/a" if result["latency_ms"] else
                  "yes" if result["transactions_per_s"] >= TARGET_PER_S else "NO",
                  result["cpu_ms_per_transaction"].get("emulator"),
                  result["cpu_ms_per_transaction"].get("workers"),
                  result["children_cpu_ms_per_transaction"].get("workers")]])
    say(f"OpenSSL GOST engine: {result['openssl_gost']}; native Streebog (gostprov): "
        f"{result['native_streebog']}; load average at the end: see the JSON line")
    say("\nmean wall time, ms — runner steps: " + ", ".join(
        f"{k} {v}" for k, v in result["mean_ms"]["step"].items())
        + "\n                      platform calls: " + ", ".join(
        f"{k} {v}" for k, v in result["mean_ms"]["call"].items()))
    stored = result["stored_bytes_per_transaction"]
    say(f"\nstored per transaction: documents {stored['documents']} B, whole database file "
        f"{stored['database_file']} B (SQLite, WAL checkpointed)")
    say("\nwhat one transaction costs, measured in this process (median of 9, CPU time):")
    print_table(["process", "operation", "ms", "× per tx", "ms per tx"],
                [[c["process"], c["operation"], c["ms"], c["per_transaction"],
                  c["ms_per_transaction"]] for c in costs])
    print_profiles(result)
    say("results appended to bench/results/signing_throughput.jsonl")


if __name__ == "__main__":
    main()
