"""Nothing is sent to the platform twice, under SIGKILLs and faults, through real processes.

The Goskey emulator (its state in a directory), ``serve`` and two ``worker`` processes on one
database. Through the REST API the test starts ``REQUESTS`` signings; the emulator plays the
patients (signs most, refuses some) and fails platform calls in every way it knows: ``5xx``,
``429``, connections dropped before the platform sees a call, answers lost after it acted, and
calls held past the client's timeout before the platform acts on them (the client's retry may
overtake the original). The signings start in ``KILLS`` waves; after each, once the platform has
served ``CALLS_BETWEEN_KILLS`` more calls, the test SIGKILLs — in turn a worker, the emulator,
the web service, the other worker — and starts the process again.

Then, counted at the emulator for every transaction: one ``send`` created it, each MO
signature was accepted once (repeats were answered from the key), one ``complete``. Every
request is final, as its patient decided, and the evidence package of every completed request
verifies with OpenSSL's GOST engine (``openssl cms -verify -engine gost``) against the two
trust stores: the operator's seals over each document and the MO's signature over each PDF.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from medsign.signing.signers import development_keys
from tests import factories as f
from tests.e2e.signing.stack import Process, Stack
from tests.e2e.signing.test_signing_e2e import Api, check_evidence
from tests.unit.crypto.crypto_support import openssl_binary

pytestmark = pytest.mark.slow

REQUESTS = 48
KILLS = 8
CALLS_BETWEEN_KILLS = 20
SCENARIO_TIMEOUT_S = 240.0
VICTIMS = ("worker-0", "emulator", "serve", "worker-1")
AUTOPILOT = {"sign": 0.85, "refuse": 0.15, "ignore": 0, "after_polls": 4, "seed": 90210}
HOLD = {"timeout_s": 6}  # past the client's timeout of 4 s
CREATING = {"error_5xx_rate": 0.05, "rate_429": 0.03, "drop_rate": 0.03,
            "drop_after_rate": 0.15, "timeout_rate": 0.05, "retry_after_s": 1, **HOLD}
FAULTS = [{"method": "*", "error_5xx_rate": 0.04, "rate_429": 0.03, "drop_rate": 0.02,
           "drop_after_rate": 0.02, "retry_after_s": 1, "seed": 11},
          *({"method": m, **CREATING, "seed": n} for n, m in
            enumerate(("send", "upload", "complete"), start=12))]
SETTINGS: dict[str, Any] = {
    "runner": {"concurrency": 16, "lease": "5s", "poll_interval": "0.1s",
               "backoff_base": "0.2s", "backoff_cap": "1s", "max_attempts": 60,
               "shutdown_grace": "2s"},
    "signing": {"poll_interval": "0.5s", "poll_backoff_factor": 1.5, "poll_interval_max": "1s",
                "expiry_grace": "2h"},
    "goskey": {"timeout": "4s"},
    "rate_limits": {"goskey": {"rate": 500, "burst": 100}},
    "logging": {"level": "INFO", "format": "json"},
}
FINAL = {"completed", "cancelled", "expired", "platform_error", "failed"}
MO_SIGNATURES = 2  # the factory's appointment has two consents, counter-signed as PDFs


def load(api: Api) -> dict[str, str]:
    """The organisation, a patient and an appointment each; returns appointment -> phone."""
    api.put_visible("/api/v1/organizations/mo1", f.organization())
    phones = {}
    for i in range(REQUESTS):
        phones[f"a{i}"] = f"+7917{i:07d}"
        api.put_visible(f"/api/v1/organizations/mo1/patients/p{i}",
                        f.patient(phone=phones[f"a{i}"]))
        api.put_visible(f"/api/v1/organizations/mo1/appointments/a{i}",
                        f.appointment(patient_id=f"p{i}"))
    return phones


class Chaos:
    """The stack, the emulator's switches and the kills."""

    def __init__(self, stack: Stack, api: Api) -> None:
        self.stack, self.api = stack, api
        self.kills: Counter[str] = Counter()
        self.restart_seconds: list[float] = []

    def arm_emulator(self) -> None:
        """Autopilot and faults live in the emulator's memory: set again after each start."""
        with httpx.Client(base_url=f"{self.stack.emulator_url}/_emulator", timeout=30) as http:
            assert http.post("/autopilot", json=AUTOPILOT).status_code == 200
            for fault in FAULTS:
                r = http.post("/faults", json=fault)
                assert r.status_code == 200, r.text

    def platform(self) -> dict[str, Any] | None:
        try:
            view: dict[str, Any] = httpx.get(
                f"{self.stack.emulator_url}/_emulator/transactions", timeout=30).json()
        except httpx.TransportError:
            return None  # being restarted
        return view

    def calls(self) -> int:
        view = self.platform()
        return sum(view["calls"].values()) if view else 0

    def states(self) -> Counter[str] | None:
        try:
            return Counter(r["state"] for r in self.api.requests())
        except httpx.TransportError:
            return None  # the web service is being restarted

    def all_final(self) -> bool:
        states = self.states()
        return states is not None and sum(n for s, n in states.items() if s in FINAL) == REQUESTS

    def kill(self, name: str) -> None:
        victim = next(p for p in self.stack.processes if p.name == name)
        at = time.monotonic()
        started = self.stack.kill_and_restart(victim)
        self.kills[name] += 1
        self.wait_up(started)
        self.restart_seconds.append(round(time.monotonic() - at, 1))

    def wait_up(self, process: Process) -> None:
        stack = self.stack
        if process.name == "emulator":
            stack.wait_http(f"{stack.emulator_url}/_emulator/transactions", "the emulator")
            self.arm_emulator()
        elif process.name == "serve":
            stack.wait_http(f"{stack.api_url}/readyz", "the web service")
        else:
            n = int(process.name.removeprefix("worker-"))
            stack.wait_http(f"http://127.0.0.1:{stack.metrics_port(n)}/metrics", process.name)

    def run(self, appointments: list[str]) -> dict[str, str]:
        """A wave of signings, then a kill once the platform has served more calls, in turn,
        so that every kill meets work in flight. Returns request id -> appointment."""
        started: dict[str, str] = {}
        wave = -(-len(appointments) // KILLS)
        for n in range(KILLS):
            started |= self.start_signings(appointments[n * wave:(n + 1) * wave])
            target = self.calls() + CALLS_BETWEEN_KILLS
            self.stack.wait_until(lambda: self.calls() >= target,  # noqa: B023 (used now)
                                  timeout=SCENARIO_TIMEOUT_S,
                                  what=f"progress before kill {n + 1}", describe=self.describe)
            self.kill(VICTIMS[n % len(VICTIMS)])
        return started

    def start_signings(self, appointments: list[str]) -> dict[str, str]:
        started = {}
        for appointment in appointments:
            r = self.api.ok("POST",
                            f"/api/v1/organizations/mo1/appointments/{appointment}/signing-requests",
                            expect=(201,), headers={"Idempotency-Key": f"chaos-{appointment}"})
            started[r.json()["id"]] = appointment
        return started

    def describe(self) -> str:
        return (f"states: {dict(self.states() or {})}; kills: {dict(self.kills)}\n"
                + "\n".join(f"--- {p.name}\n{p.tail(8)}" for p in self.stack.processes))


def openssl_verifies(folder: Path, content: bytes, signature: bytes, ca: Path) -> bool:
    """``openssl cms -verify -engine gost -binary -inform DER`` of a detached signature."""
    (folder / "content").write_bytes(content)
    (folder / "signature.p7s").write_bytes(signature)
    done = subprocess.run([openssl_binary(), "cms", "-verify", "-engine", "gost", "-binary",
                           "-inform", "DER", "-in", str(folder / "signature.p7s"),
                           "-content", str(folder / "content"), "-CAfile", str(ca),
                           "-out", str(folder / "out")], capture_output=True, timeout=60,
                          check=False)
    return done.returncode == 0 and (folder / "out").read_bytes() == content


def verify_with_openssl(evidence: bytes, folder: Path, *, operator_ca: Path,
                        mo_ca: Path) -> int:
    """Every signature of one evidence package through OpenSSL; returns how many."""
    with zipfile.ZipFile(io.BytesIO(evidence)) as zf:
        archive = zf.read("platform-archive.zip")
        mo_files = {n: zf.read(n) for n in zf.namelist() if n.startswith("mo-signatures/")}
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    checked = []
    for name, content in files.items():
        for kind in ("XML", "PDF"):
            if name.endswith(f" {kind}.{kind.lower()}"):
                seal = files[name.rsplit(" ", 1)[0] + f" подпись к {kind}.p7s"]
                checked.append((name, openssl_verifies(folder, content, base64.b64decode(seal),
                                                       operator_ca)))
    for name, signature in mo_files.items():
        pdf = name.removeprefix("mo-signatures/").removesuffix(" подпись МО.p7s") + ".pdf"
        checked.append((name, openssl_verifies(folder, files[pdf], signature, mo_ca)))
    assert checked and all(ok for _, ok in checked), checked
    return len(checked)


def check_platform_counts(transactions: list[dict[str, Any]]) -> dict[str, int]:
    """Per transaction: one send created it, one accepted upload per signature, one
    complete. Returns the totals (repeats answered from the keys included)."""
    totals: Counter[str] = Counter()
    wrong = []
    for t in transactions:
        tally = t["tally"]
        accepted = tally.get("uploads_accepted", {})
        expected = ({"uploads": MO_SIGNATURES, "complete": 1} if t["status"] == "finished"
                    else {"uploads": 0, "complete": 0})
        seen = {"uploads": len(accepted), "complete": tally.get("completes_accepted", 0)}
        if (tally["sends_created"] != 1 or seen != expected
                or any(n != 1 for n in accepted.values()) or tally.get("uploads_rejected")):
            wrong.append((t["id"], t["status"], tally))
        totals.update({k: v for k, v in tally.items() if isinstance(v, int)})
        totals.update({"transactions": 1, "uploads_accepted": sum(accepted.values())})
    assert not wrong, json.dumps(wrong[:5], ensure_ascii=False)
    return dict(totals)


def test_nothing_is_sent_twice_under_sigkills_and_faults(
        backend: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = f.organization()
    stack = Stack(tmp_path, db_url, SETTINGS)
    mo_ca, _, _ = development_keys(stack.keys_dir, code="mo1", name=org["name"],
                                   ogrn=org["ogrn"], inn=org["inn"])
    api: Api | None = None
    try:
        stack.start_emulator(mo_trust=mo_ca)
        stack.run("migrate")
        token = stack.run("api-token", "create", "--name", "chaos").strip()
        stack.start_service(2)
        api = Api(stack.api_url, token)
        chaos = Chaos(stack, api)
        chaos.arm_emulator()
        phones = load(api)
        stack.register_people([f.goskey_person(f.patient(phone=p)) for p in phones.values()])

        appointment_of = chaos.run(sorted(phones))
        stack.wait_until(chaos.all_final, timeout=SCENARIO_TIMEOUT_S,
                         what=f"all {REQUESTS} requests final", describe=chaos.describe)

        # -- every request is final, as its patient decided ---------------------------------
        view = chaos.platform()
        assert view is not None
        requests = {r["id"]: r for r in api.requests()}
        assert set(requests) == set(appointment_of) and len(requests) == REQUESTS
        by_id = {t["id"]: t for t in view["transactions"]}
        assert len(by_id) == REQUESTS, "one platform transaction per request"
        mismatches = []
        for rid, r in requests.items():
            tx = by_id.get(r["transaction_id"] or "")
            expected = {"sign": "completed", "refuse": "cancelled"}.get(tx["decision"]) \
                if tx is not None and tx["phone"] == phones[appointment_of[rid]] else None
            if r["state"] != expected:
                mismatches.append((rid, r["state"], r["reason"], tx and tx["decision"]))
        assert not mismatches, mismatches[:10]

        # -- counted at the emulator: one send, one upload per signature, one complete -----
        totals = check_platform_counts(view["transactions"])
        sends = view["sends_per_key"]
        assert set(sends) == {t["idempotency_key"] for t in view["transactions"]}

        # -- the evidence of every completed request verifies with OpenSSL's GOST engine ----
        completed = sorted(rid for rid, r in requests.items() if r["state"] == "completed")
        operator_ca = stack.goskey_state / "operator-ca.pem"
        scratch = tmp_path / "openssl"
        scratch.mkdir()
        verified = 0
        for rid in completed:
            _, package = check_evidence(api, rid)
            verified += verify_with_openssl(package, scratch, operator_ca=operator_ca,
                                            mo_ca=mo_ca)

        summary = {"backend": backend, "requests": REQUESTS,
                   "states": dict(Counter(r["state"] for r in requests.values())),
                   "kills": dict(chaos.kills), "restart_seconds": chaos.restart_seconds,
                   "platform_calls": view["calls"],
                   "send_calls_with_key": sum(sends.values()), **totals,
                   "evidence_packages": len(completed), "signatures_verified_by_openssl":
                   verified}
        with capsys.disabled():
            sys.stdout.write(f"\n[signing-chaos] {json.dumps(summary, ensure_ascii=False)}\n")
        replays = sum(totals.get(k, 0) for k in ("sends_replayed", "uploads_replayed",
                                                 "completes_replayed"))
        assert replays > 0, "no repeat reached the platform: the keys went untested"
        assert completed, "no request completed"
    finally:
        if api is not None:
            api.close()
        stack.close()
