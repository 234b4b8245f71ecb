"""The production topology as real processes: nginx (the shipped site, TLS with a test CA) in
front of two ``medsign serve`` and two ``medsign worker`` on PostgreSQL, with the Goskey
emulator — and a МИС that keeps working through it while the test breaks things.

``Load`` is that МИС, in a thread: patient, appointment, signing, read back, again and again,
following the documented retry (``docs/deployment.md``): a write answered 502/503/504 or cut
off is repeated with the same ``Idempotency-Key`` (after ``Retry-After`` when given, else after
0.2, 0.4, 0.8, 1.6 s; up to five attempts); a read is never repeated. Each phase of a
test runs under its own load and reports what the clients saw; ``settle`` then waits until
every signing started in any phase has completed and checks that the platform saw each
exactly once.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from medsign.signing.signers import development_keys
from tests import factories as f
from tests.e2e.deploy.deploy_files import nginx_config
from tests.e2e.processes import free_port
from tests.e2e.signing.stack import Process, Stack

RETRYABLE = {502, 503, 504}
WRITE_ATTEMPTS = 5
RETRY_PAUSE_S = 0.2
SETTINGS: dict[str, Any] = {
    "runner": {"concurrency": 32, "lease": "15s", "poll_interval": "0.05s",
               "backoff_base": "0.1s", "backoff_cap": "1s", "shutdown_grace": "10s",
               "max_attempts": 50},
    "signing": {"poll_interval": "0.2s", "poll_backoff_factor": 1.5, "poll_interval_max": "1s"},
    "rate_limits": {"goskey": {"rate": 500, "burst": 100}},
    "server": {"trusted_proxies": ["127.0.0.1/32"]},
}
AUTOPILOT = {"sign": 1.0, "refuse": 0.0, "ignore": 0.0, "after_polls": 1, "seed": 1}


class WriteFailed(Exception):
    pass


@dataclass
class Seen:
    """What the clients of one phase saw."""

    served: int = 0
    failed_reads: list[str] = field(default_factory=list)
    retried_writes: list[str] = field(default_factory=list)
    failed_writes: list[str] = field(default_factory=list)
    signings: int = 0

    def report(self) -> dict[str, Any]:
        return {"requests_served": self.served, "signings_started": self.signings,
                "reads_failed": len(self.failed_reads),
                "writes_retried": len(self.retried_writes),
                "writes_failed": len(self.failed_writes),
                "examples": (self.failed_reads + self.failed_writes + self.retried_writes)[:5]}


class Client:
    """A МИС client through nginx that follows the documented retry for writes."""

    def __init__(self, base: str, token: str, ca: Path) -> None:
        self.http = httpx.Client(base_url=base, timeout=60,
                                 verify=ssl.create_default_context(cafile=str(ca)),
                                 headers={"Authorization": f"Bearer {token}"})
        self.seen = Seen()
        self.lock = threading.Lock()

    def get(self, path: str) -> httpx.Response:
        try:
            r = self.http.get(path)
        except httpx.TransportError as exc:
            self._note("failed_reads", f"GET {path}: {exc!r}")
            raise
        if r.status_code >= 500:
            self._note("failed_reads", f"GET {path}: {r.status_code}")
        else:
            self._note(None, "")
        return r

    def write(self, method: str, path: str, *, key: str, **kw: Any) -> httpx.Response:
        outcome = ""
        for attempt in range(WRITE_ATTEMPTS):
            pause = RETRY_PAUSE_S * 2 ** attempt
            try:
                r = self.http.request(method, path, headers={"Idempotency-Key": key}, **kw)
                if r.status_code not in RETRYABLE and r.status_code < 500:
                    self._note(None, "")
                    return r
                outcome = f"{r.status_code} {r.text[:200]}"
                pause = float(r.headers.get("Retry-After", pause))
            except httpx.TransportError as exc:
                outcome = repr(exc)
            self._note("retried_writes", f"{method} {path} #{attempt}: {outcome}")
            time.sleep(pause)
        self._note("failed_writes", f"{method} {path}: {outcome}")
        raise WriteFailed(f"{method} {path}: {outcome}")

    def _note(self, kind: str | None, what: str) -> None:
        with self.lock:
            if kind is None:
                self.seen.served += 1
            else:
                getattr(self.seen, kind).append(what)

    def close(self) -> None:
        self.http.close()


class Topology:
    def __init__(self, folder: Path, db_url: str, nginx: str, *,
                 settings: dict[str, Any] | None = None,
                 autopilot: dict[str, Any] | None = None) -> None:
        """``settings``: sections merged over ``SETTINGS``; ``autopilot``: how the emulated
        patients behave (``AUTOPILOT``: everyone signs at the first poll)."""
        self.https_port, self.second_port = free_port(), free_port()
        merged = {**SETTINGS, **{name: {**SETTINGS.get(name, {}), **section}
                                 for name, section in (settings or {}).items()}}
        self.stack = Stack(folder, db_url, {**merged, "server": {
            **merged["server"], "public_url": f"https://localhost:{self.https_port}"}})
        self.autopilot = autopilot or AUTOPILOT
        self.org = f.organization()
        self.front = folder / "nginx"
        self.front.mkdir()
        self.nginx_binary = nginx
        self.config = nginx_config(self.front, upstreams=[self.stack.api_port, self.second_port],
                                   https_port=self.https_port, http_port=free_port())
        self.nginx: subprocess.Popen[bytes] | None = None
        self.client: Client | None = None
        self.started: dict[str, str] = {}  # signing id -> phone
        self.next_patient = 0
        self.reports: dict[str, dict[str, Any]] = {}
        self.version_env: dict[str, str] = {}

    # -- bringing it up ------------------------------------------------------------------
    def up(self) -> None:
        stack = self.stack
        dev_ca, _, _ = development_keys(stack.keys_dir, code="mo1", name=self.org["name"],
                                        ogrn=self.org["ogrn"], inn=self.org["inn"])
        stack.start_emulator(mo_trust=dev_ca)
        stack.run("migrate")
        token = stack.run("api-token", "create", "--name", "topology").strip()
        stack.start_service(2)
        stack.processes[-3].name = "serve-a"  # start_service: serve, worker-0, worker-1
        self.start_serve("serve-b", self.second_port)
        with (self.front / "logs" / "stdout.log").open("ab") as out:
            self.nginx = subprocess.Popen([self.nginx_binary, "-p", str(self.front),
                                           "-c", str(self.config)],
                                          stdout=out, stderr=subprocess.STDOUT)
        self.client = Client(f"https://localhost:{self.https_port}", token,
                             self.front / "tls" / "ca.crt")
        self._wait_https()
        with httpx.Client(base_url=f"{stack.emulator_url}/_emulator", timeout=30) as emulator:
            assert emulator.post("/autopilot", json=self.autopilot).status_code == 200
        r = self.client.write("PUT", "/api/v1/organizations/mo1", key="org", json=self.org)
        assert r.status_code in (200, 201), r.text

    def start_serve(self, name: str, port: int) -> Process:
        process = self.stack.start(name, "serve", "--port", str(port), env=self.version_env)
        self.stack.wait_http(f"http://127.0.0.1:{port}/healthz", name)
        return process

    def process(self, name: str) -> Process:
        return next(p for p in reversed(self.stack.processes) if p.name == name)

    def restart(self, name: str, *, kill: bool = False) -> float:
        """Stops the process (SIGTERM, or SIGKILL with ``kill``) and starts it again — in
        the current version — as systemd's ``Restart=always`` would; waits until it answers.
        Returns how long the stop took."""
        old = self.process(name)
        if kill:
            self.stack.stopped.add(old.proc.pid)
            old.proc.kill()
            old.proc.wait(timeout=10)
            took = 0.0
        else:
            took = self.stack.stop(old)
            assert_clean_exit(old)
        self.stack.processes.remove(old)
        if name.startswith("serve"):
            self.start_serve(name, self.port_of(name))
        else:
            n = int(name.rsplit("-", 1)[1])
            self.stack.start(name, *old.args, env=self.version_env)
            self.stack.wait_http(f"http://127.0.0.1:{self.stack.metrics_port(n)}/metrics", name)
        return took

    def port_of(self, name: str) -> int:
        return self.stack.api_port if name == "serve-a" else self.second_port

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.nginx is not None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        self.stack.close()

    # -- the МИС under load --------------------------------------------------------------
    @contextmanager
    def load(self, phase: str, *, clients: int = 2) -> Iterator[Seen]:
        """Runs the МИС in ``clients`` threads for the body of the ``with``; records what
        they saw as the phase's report."""
        client = self.client
        assert client is not None
        client.seen = Seen()
        stop = threading.Event()
        problems: list[BaseException] = []

        def run() -> None:
            while not stop.is_set():
                try:
                    self.one_signing(client)
                except (WriteFailed, httpx.TransportError):
                    pass  # counted by the client
                except BaseException as exc:  # noqa: BLE001 — reported after the phase
                    problems.append(exc)
                    return
        threads = [threading.Thread(target=run, name=f"load-{phase}-{n}") for n in range(clients)]
        for t in threads:
            t.start()
        try:
            yield client.seen
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        if problems:
            raise problems[0]
        self.reports[phase] = client.seen.report()

    def one_signing(self, client: Client) -> None:
        with client.lock:
            i = self.next_patient
            self.next_patient += 1
        phone = f"+7917{i:07d}"
        patient = f.patient(phone=phone)
        self.stack.register_people([f.goskey_person(patient)])
        assert client.write("PUT", f"/api/v1/organizations/mo1/patients/t{i}", key=f"p-t{i}",
                            json=patient).status_code in (200, 201)
        assert client.write("PUT", f"/api/v1/organizations/mo1/appointments/t{i}",
                            key=f"a-t{i}", json=f.appointment(patient_id=f"t{i}")
                            ).status_code in (200, 201)
        r = client.write("POST", f"/api/v1/organizations/mo1/appointments/t{i}/signing-requests",
                         key=f"s-t{i}")
        assert r.status_code == 201, r.text
        with client.lock:
            self.started[r.json()["id"]] = phone
            client.seen.signings += 1
        client.get(f"/api/v1/signing-requests/{r.json()['id']}")

    # -- the end -------------------------------------------------------------------------
    def settle(self, *, timeout: float = 240) -> dict[str, Any]:
        """Waits until every signing completed; checks the platform saw each exactly once.
        Returns the final report (also the phases')."""
        assert self.client is not None
        http = self.client.http

        def states() -> Counter[str]:
            found: Counter[str] = Counter()
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = http.get("/api/v1/signing-requests", params=params).json()
                found.update(r["state"] for r in page["items"] if r["id"] in self.started)
                cursor = page["next_cursor"]
                if not cursor:
                    return found
        self.stack.wait_until(lambda: states()["completed"] == len(self.started),
                              timeout=timeout, what="every signing completed",
                              describe=lambda: f"{dict(states())} of {len(self.started)}\n"
                              + "\n".join(f"--- {p.name}\n{p.tail(6)}"
                                          for p in self.stack.processes))
        seen = httpx.get(f"{self.stack.emulator_url}/_emulator/transactions", timeout=60).json()
        mine = [t for t in seen["transactions"] if t["phone"] in set(self.started.values())]
        per_phone = Counter(t["phone"] for t in mine)
        repeated = sorted(p for p, n in per_phone.items() if n > 1)
        lost = sorted(set(self.started.values()) - set(per_phone))
        unfinished = [t["id"] for t in mine if t["status"] != "finished"]
        return {"phases": self.reports, "signings": len(self.started),
                "work_lost": len(lost) + len(unfinished), "sent_twice": len(repeated),
                "details": {"lost": lost[:5], "repeated": repeated[:5],
                            "unfinished": unfinished[:5]}}

    def _wait_https(self) -> None:
        assert self.client is not None and self.nginx is not None
        deadline = time.monotonic() + 30
        while True:
            if self.nginx.poll() is not None:
                raise AssertionError(f"nginx exited with {self.nginx.returncode}")
            try:
                if self.client.http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("nginx did not answer over HTTPS")
            time.sleep(0.1)


def assert_clean_exit(process: Process) -> None:
    """Exited by itself after SIGTERM: status 0, or the signal re-raised after a clean
    shutdown (uvicorn does so; systemd counts SIGTERM as success) — not SIGKILLed after the
    grace period."""
    code = process.proc.returncode
    assert code in (0, -signal.SIGTERM), f"{process.name} exited with {code}:\n{process.tail()}"


def new_version(folder: Path, *, down_revision: str) -> dict[str, str]:
    """The next version of medsign: this package with one more migration (a new table), put
    first on ``PYTHONPATH``. Returns the environment that runs it."""
    target = folder / "medsign"
    shutil.copytree(Path(__file__).resolve().parents[3] / "medsign", target,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (target / "db" / "migrations" / "versions" / "9999_upgrade_probe.py").write_text(
        f'''"""upgrade probe (a migration only the topology test's next version has)

Revision ID: 9999
Revises: {down_revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("upgrade_probe", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("work_items", sa.Column("upgrade_probe", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("work_items", "upgrade_probe")
    op.drop_table("upgrade_probe")
''', encoding="utf-8")
    return {"PYTHONPATH": str(folder)}


def write_report(name: str, report: dict[str, Any]) -> None:
    artifacts = Path(__file__).resolve().parents[3] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / f"{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                            encoding="utf-8")
