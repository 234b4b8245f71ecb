"""200 signings end to end: real processes, real sockets, a patient autopilot and 10 % faults.

Processes (each ``python -m medsign …`` with the test's folder as working directory and a
``medsign.toml`` written there): the Goskey emulator (``emulate goskey``, trusting the MO's
development CA made beforehand in ``var/keys``), ``serve``, and one worker (SQLite: its
single-writer deployment) or two (PostgreSQL). Through the REST API the test loads an
organisation, 200 patients with 200 appointments, and starts 200 signings with
``Idempotency-Key``. The emulator plays the patients (sign 60 %, refuse 20 %, ignore 20 %, a
fixed seed, deciding at the first status poll) and fails 10 % of platform calls: ``5xx``,
``429`` with ``Retry-After``, connections dropped before the platform sees the call, and
connections dropped after it acted (the answer lost — what idempotency keys are for). An ignored
transaction expires on the platform after ``EXPIRE_AFTER_S`` (``emulate goskey
--expire-after``): the platform answers ``cancelled`` with reason ``expired`` and the service
ends the request in ``expired`` with the platform's expiry as its reason.

The test waits (polling the API, bounded) until every request is final, then checks each
against the decision the emulator recorded, that the platform saw exactly one transaction per
request (repeated sends were answered from the key), one completion per signed transaction, and
that every completed request's evidence package verifies — a sample also independently, with
``medsign.crypto.verify_detached``. A summary is printed and written to
``test-artifacts/signing-e2e-<backend>.json``.
"""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from medsign.crypto import TrustStore, verify_detached
from medsign.signing.signers import development_keys
from tests import factories as f
from tests.e2e.signing.stack import Stack, prometheus_samples

pytestmark = pytest.mark.slow

REQUESTS = 200
WORKERS = {"sqlite": 1, "postgresql": 2}
EXPIRE_AFTER_S = 90.0
SCENARIO_TIMEOUT_S = 300.0
EVIDENCE_CHECKED_INDEPENDENTLY = 8
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
AUTOPILOT = {"sign": 0.6, "refuse": 0.2, "ignore": 0.2, "after_polls": 1, "seed": 20261126}
# 10 % of calls fail, in four ways; "send" loses more answers, so that repeated sends happen
FAULTS = [
    {"method": "*", "error_5xx_rate": 0.03, "rate_429": 0.02, "drop_rate": 0.025,
     "drop_after_rate": 0.025, "retry_after_s": 1, "seed": 7},
    {"method": "send", "error_5xx_rate": 0.02, "rate_429": 0.02, "drop_rate": 0.02,
     "drop_after_rate": 0.04, "retry_after_s": 1, "seed": 8},
]
# The emulator's autopilot seals a "sign" inside the status call that decides it, one archive
# at a time (~0.3 s of CPU each): such a call can wait a long while. Enough slots in the worker
# that every transaction gets its first poll — its decision — early, far from its expiry, and a
# client timeout above that wait.
SETTINGS: dict[str, Any] = {
    "runner": {"concurrency": 96, "lease": "60s", "poll_interval": "0.05s",
               "backoff_base": "0.1s", "backoff_cap": "1s", "max_attempts": 20,
               "shutdown_grace": "10s"},
    "signing": {"poll_interval": "0.2s", "poll_backoff_factor": 1.5, "poll_interval_max": "1s",
                "expiry_grace": "2h"},  # appointments are tomorrow: only the platform expires
    "goskey": {"timeout": "120s"},
    "rate_limits": {"goskey": {"rate": 500, "burst": 100}},
    "logging": {"level": "INFO", "format": "json"},
}
FINAL = {"completed", "cancelled", "expired", "platform_error", "failed"}
REFUSED = "Пациент отказался от подписания в Госключе."
EXPIRED = "Срок подписания на платформе истёк."


def phone(i: int) -> str:
    return f"+7916{i:07d}"


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})
        self.unseen_writes = 0

    def put_visible(self, path: str, body: dict[str, Any]) -> None:
        """PUT, then wait until a GET sees it. The API commits a write as request-scoped
        dependency exit code, which FastAPI runs *after* the answer has been sent, so the next
        call can miss the write it was told succeeded (seen on PostgreSQL: a 404 for the patient
        just created). Each miss is counted and reported; the loading itself must go on."""
        self.ok("PUT", path, json=body)
        deadline = time.monotonic() + 10
        while self.http.get(path).status_code == 404:
            self.unseen_writes += 1
            assert time.monotonic() < deadline, f"{path} never became visible"
            time.sleep(0.005)

    def ok(self, method: str, path: str, expect: tuple[int, ...] = (200, 201),
           **kw: Any) -> httpx.Response:
        r = self.http.request(method, path, **kw)
        assert r.status_code in expect, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def close(self) -> None:
        self.http.close()

    def requests(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self.ok("GET", "/api/v1/signing-requests", params=params).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


def load(api: Api) -> dict[str, str]:
    """The organisation, 200 patients and appointments; returns appointment id -> phone."""
    api.put_visible("/api/v1/organizations/mo1", f.organization())
    phones = {}
    for i in range(REQUESTS):
        api.put_visible(f"/api/v1/organizations/mo1/patients/p{i}", f.patient(phone=phone(i)))
        api.put_visible(f"/api/v1/organizations/mo1/appointments/a{i}",
                        f.appointment(patient_id=f"p{i}"))
        phones[f"a{i}"] = phone(i)
    return phones


def start_signings(api: Api) -> dict[str, str]:
    """POST a signing request per appointment (two client threads); request id -> appt."""
    def start(i: int) -> tuple[str, str]:
        r = api.ok("POST", f"/api/v1/organizations/mo1/appointments/a{i}/signing-requests",
                   expect=(201,),
                   headers={"Idempotency-Key": f"e2e-start-a{i}"})
        return r.json()["id"], f"a{i}"
    with ThreadPoolExecutor(2) as pool:
        started = dict(pool.map(start, range(REQUESTS)))
    for i in range(3):  # a client that repeats itself gets the same request back
        again = api.ok("POST", f"/api/v1/organizations/mo1/appointments/a{i}/signing-requests",
                       expect=(201,),
                       headers={"Idempotency-Key": f"e2e-start-a{i}"})
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert started[again.json()["id"]] == f"a{i}"
    return started


def emulator_view(stack: Stack) -> dict[str, Any]:
    view: dict[str, Any] = httpx.get(f"{stack.emulator_url}/_emulator/transactions",
                                     timeout=60).json()
    return view


def worker_metrics(stack: Stack) -> dict[str, Any]:
    retries: Counter[str] = Counter()
    transient: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    for n in range(len(stack.workers)):
        text = httpx.get(f"http://127.0.0.1:{stack.metrics_port(n)}/metrics", timeout=10).text
        for labels, value in prometheus_samples(text, "medsign_runner_steps_total"):
            steps[f"{labels['step']}:{labels['outcome']}"] += int(value)
            if labels["outcome"] == "retry":
                retries[labels["step"]] += int(value)
        for labels, value in prometheus_samples(text, "medsign_external_call_seconds_count"):
            if labels["outcome"] == "transient":
                transient[labels["method"]] += int(value)
    return {"step_retries": dict(retries), "transient_calls": dict(transient),
            "steps": dict(sorted(steps.items()))}


def check_evidence(api: Api, rid: str) -> tuple[dict[str, Any], bytes]:
    r = api.ok("GET", f"/api/v1/signing-requests/{rid}/evidence", expect=(200,))
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        report: dict[str, Any] = json.loads(zf.read("verification.json"))
    assert report["platform_archive"]["valid"] is True, report["platform_archive"]
    assert len(report["operator_signatures"]) == 4, report  # two documents, PDF and XML each
    assert all(s["valid"] for s in report["operator_signatures"])
    assert len(report["mo_signatures"]) == 2 and all(s["valid"] for s in report["mo_signatures"])
    return report, r.content


def verify_independently(evidence: bytes, operator: TrustStore, mo: TrustStore) -> int:
    """Every signature in the package, checked here against the two CAs: returns how many."""
    with zipfile.ZipFile(io.BytesIO(evidence)) as zf:
        archive = zf.read("platform-archive.zip")
        mo_files = {n: zf.read(n) for n in zf.namelist() if n.startswith("mo-signatures/")}
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    checked = 0
    for name, content in files.items():
        if name.endswith((" XML.xml", " PDF.pdf")):
            kind = "XML" if name.endswith(" XML.xml") else "PDF"
            seal = files[name.rsplit(" ", 1)[0] + f" подпись к {kind}.p7s"]
            report = verify_detached(content, seal, trust=operator)
            assert "эмулятор" in report.signer_subject
            checked += 1
    for name, signature in mo_files.items():
        covered = files[name.removeprefix("mo-signatures/").removesuffix(" подпись МО.p7s")
                        + ".pdf"]
        report = verify_detached(covered, signature, trust=mo)
        assert "поликлиника" in report.signer_subject
        checked += 1
    return checked


def test_two_hundred_signings_through_real_processes_under_faults(
        backend: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = f.organization()
    stack = Stack(tmp_path, db_url, SETTINGS,
                  emulator_args=["--expire-after", str(EXPIRE_AFTER_S)])
    dev_ca, _, _ = development_keys(stack.keys_dir, code="mo1", name=org["name"],
                                    ogrn=org["ogrn"], inn=org["inn"])
    api: Api | None = None
    try:
        stack.start_emulator(mo_trust=dev_ca)
        stack.run("migrate")
        token = stack.run("api-token", "create", "--name", "e2e").strip()
        stack.start_service(WORKERS[backend])
        api = Api(stack.api_url, token)
        with httpx.Client(base_url=f"{stack.emulator_url}/_emulator", timeout=30) as emulator:
            assert emulator.post("/autopilot", json=AUTOPILOT).status_code == 200
            for fault in FAULTS:
                assert emulator.post("/faults", json=fault).status_code == 200, fault

        loading = time.monotonic()
        phones = load(api)
        stack.register_people([f.goskey_person(f.patient(phone=phone(i)))
                               for i in range(REQUESTS)])
        loaded_in = time.monotonic() - loading
        started_at = time.monotonic()
        rids = start_signings(api)
        created_in = time.monotonic() - started_at

        def states() -> Counter[str]:
            return Counter(r["state"] for r in api.requests())

        def describe() -> str:
            open_ = [r for r in api.requests() if r["state"] not in FINAL][:5]
            return (f"states: {dict(states())}\nunfinished: "
                    + json.dumps([(r["id"], r["state"], r["reason"]) for r in open_],
                                 ensure_ascii=False) + "\n"
                    + "\n".join(f"--- {p.name}\n{p.tail(8)}" for p in stack.processes))

        stack.wait_until(lambda: sum(n for s, n in states().items() if s in FINAL) == REQUESTS,
                         timeout=SCENARIO_TIMEOUT_S, what=f"all {REQUESTS} requests final",
                         describe=describe)
        seconds = time.monotonic() - started_at
        metrics = worker_metrics(stack)
        seen = emulator_view(stack)
        requests = {r["id"]: r for r in api.requests()}

        # -- every request ends as the patient (the autopilot) decided --------------------
        assert set(requests) == set(rids)
        by_phone = Counter(t["phone"] for t in seen["transactions"])
        assert len(seen["transactions"]) == REQUESTS, "one platform transaction per request"
        assert set(by_phone) == set(phones.values()) and set(by_phone.values()) == {1}
        transactions = {t["id"]: t for t in seen["transactions"]}
        mismatches: list[str] = []
        outcome: Counter[str] = Counter()
        for rid, r in requests.items():
            tx = transactions.get(r["transaction_id"] or "")
            if tx is None or tx["phone"] != phones[r["appointment"]]:
                mismatches.append(f"{rid}: transaction {r['transaction_id']} is not its own")
                continue
            expected = {"sign": ("completed", None, "finished", None),
                        "refuse": ("cancelled", REFUSED, "cancelled", "refused"),
                        "ignore": ("expired", EXPIRED, "cancelled", "expired")}.get(
                tx["decision"])
            actual = (r["state"], r["reason"], tx["status"], tx["reason"])
            outcome[f"{tx['decision']} -> {r['state']}"] += 1
            if tx["decision"] is None:
                mismatches.append(f"{rid}: {actual} before the autopilot decided (its first "
                                  "poll came after the platform's expiry: an overloaded run)")
            elif actual != expected:
                mismatches.append(f"{rid} ({tx['decision']}): {actual}, expected {expected}")
        assert not mismatches, "\n".join(mismatches[:20])

        # -- repeats were answered from the key, not made into new transactions -----------
        sends = seen["sends_per_key"]
        keys = [t["idempotency_key"] for t in seen["transactions"]]
        assert len(set(keys)) == REQUESTS and all(k in sends for k in keys)
        assert set(sends) == set(keys), "a send without its request's key"
        repeated_sends = sum(n - 1 for n in sends.values())
        assert repeated_sends > 0, "no answer to a send was lost: the keys went untested"
        finished = [t for t in seen["transactions"] if t["status"] == "finished"]
        assert all(t["calls"].get("complete") == 1 for t in finished), "completed twice"
        extra_uploads = 0
        for t in finished:
            accepted = [u for u in t["uploads"] if u["accepted"]]
            assert len({u["filename"] for u in accepted}) == 2, t["uploads"]
            assert len(t["uploads"]) == len(accepted), "a rejected MO signature"
            extra_uploads += len(accepted) - 2

        # -- evidence of every completed request verifies ---------------------------------
        completed = sorted(rid for rid, r in requests.items() if r["state"] == "completed")
        operator_trust = TrustStore.from_file(stack.goskey_state / "operator-ca.pem")
        mo_trust = TrustStore.from_file(dev_ca)
        independently = 0
        for n, rid in enumerate(completed):
            _, package = check_evidence(api, rid)
            if n % max(1, len(completed) // EVIDENCE_CHECKED_INDEPENDENTLY) == 0:
                independently += verify_independently(package, operator_trust, mo_trust)

        handled = Counter[str]()  # calls that reached the platform's handlers
        for t in seen["transactions"]:
            handled.update({m: n for m, n in t["calls"].items() if m != "send"})
        handled["send"] = sum(sends.values())
        calls = seen["calls"]
        refused = {m: calls.get(m, 0) - handled.get(m, 0) for m in calls}
        lost = {m: metrics["transient_calls"].get(m, 0) - refused[m] for m in calls}
        summary = {
            "backend": backend, "requests": REQUESTS, "worker_processes": WORKERS[backend],
            "seconds_to_all_final": round(seconds, 1),
            "seconds_loading_reference_data": round(loaded_in, 1),
            "seconds_creating_requests": round(created_in, 1),
            "states": dict(Counter(r["state"] for r in requests.values())),
            "decision_to_state": dict(outcome),
            "timeline_s": timeline(requests.values(), seen["transactions"]),
            "platform_calls": calls,
            "faults_before_the_platform_acted": refused,
            "answers_lost_after_it_acted": lost,
            "repeated_sends_deduplicated": repeated_sends,
            "extra_uploads_after_lost_answers": extra_uploads,
            "evidence_packages_verified": len(completed),
            "api_writes_not_yet_visible_after_their_2xx": api.unseen_writes,
            "signatures_verified_independently": independently,
            **metrics,
            "autopilot": AUTOPILOT, "faults": FAULTS, "expire_after_s": EXPIRE_AFTER_S,
        }
        report(backend, summary, capsys)
        assert sum(metrics["step_retries"].values()) > 0, "the faults caused no retries"
        # a call is repeated only when its answer was lost after the platform acted
        assert repeated_sends == lost["send"], (repeated_sends, lost)
        assert extra_uploads == 0, "an MO signature accepted twice: the upload key was ignored"

        stop_times = [stack.stop(w) for w in stack.workers]
        assert all(w.proc.returncode == 0 for w in stack.workers), [w.tail() for w in
                                                                      stack.workers]
        assert max(stop_times) < 15, stop_times
    finally:
        if api is not None:
            api.close()
        stack.close()


def timeline(requests: Any, transactions: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds from the first request's creation to the last of each kind of ending."""
    decisions = {t["id"]: t["decision"] for t in transactions}
    start = min(datetime.fromisoformat(r["created_at"]) for r in requests)
    last: dict[str, float] = {}
    for r in requests:
        ended = datetime.fromisoformat(r["completed_at"] or r["updated_at"])
        key = f"last_{decisions.get(r['transaction_id'])}"
        last[key] = max(last.get(key, 0.0), round((ended - start).total_seconds(), 1))
    return dict(sorted(last.items()))


def report(backend: str, summary: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **summary}
    (ARTIFACTS / f"signing-e2e-{backend}.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    short = {k: summary[k] for k in ("seconds_to_all_final", "timeline_s", "states",
                                     "step_retries", "repeated_sends_deduplicated",
                                     "extra_uploads_after_lost_answers")}
    with capsys.disabled():
        sys.stdout.write(f"\n[signing-e2e] {backend}: {json.dumps(short, ensure_ascii=False)}\n")
