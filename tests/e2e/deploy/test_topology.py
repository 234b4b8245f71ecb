"""The production topology of ``deploy/``: nginx (TLS with a test CA, the shipped site) in
front of two ``medsign serve`` processes and two ``medsign worker`` processes on PostgreSQL,
with the Goskey emulator.

Signings are started through nginx by clients that follow the documented retry
(``docs/deployment.md``: a POST answered 502/503/504 or cut off is repeated with the same
``Idempotency-Key``). Under that load one ``serve`` is SIGKILLed. Every client call must end
well — reads without any retry (nginx moves them to the other process), writes at most with
the documented one — and every signing must complete exactly once on the platform.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from medsign.signing.signers import development_keys
from tests import factories as f
from tests.e2e.deploy.deploy_files import nginx_config, tool
from tests.e2e.processes import free_port
from tests.e2e.signing.stack import Stack

pytestmark = pytest.mark.slow

REQUESTS = 60
KILL_AFTER = 15  # started signings before one serve is killed
RETRYABLE = {502, 503, 504}
SETTINGS: dict[str, Any] = {
    "runner": {"concurrency": 32, "lease": "30s", "poll_interval": "0.05s",
               "backoff_base": "0.1s", "backoff_cap": "1s", "shutdown_grace": "10s"},
    "signing": {"poll_interval": "0.2s", "poll_backoff_factor": 1.5, "poll_interval_max": "1s"},
    "rate_limits": {"goskey": {"rate": 500, "burst": 100}},
    "server": {"trusted_proxies": ["127.0.0.1/32"]},
}
AUTOPILOT = {"sign": 1.0, "refuse": 0.0, "ignore": 0.0, "after_polls": 1, "seed": 1}


class Client:
    """A МИС client through nginx that follows the documented retry for writes."""

    def __init__(self, base: str, token: str, ca: Path) -> None:
        self.http = httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(ca)),
                                 timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})
        self.failed_reads: list[str] = []
        self.retried_writes: list[str] = []
        self.lock = threading.Lock()

    def get(self, path: str) -> httpx.Response:
        try:
            r = self.http.get(path)
        except httpx.TransportError as exc:
            with self.lock:
                self.failed_reads.append(f"GET {path}: {exc!r}")
            raise
        if r.status_code in RETRYABLE:
            with self.lock:
                self.failed_reads.append(f"GET {path}: {r.status_code}")
        return r

    def write(self, method: str, path: str, *, key: str, **kw: Any) -> httpx.Response:
        for attempt in range(3):
            try:
                r = self.http.request(method, path, headers={"Idempotency-Key": key}, **kw)
                if r.status_code not in RETRYABLE:
                    return r
                outcome = str(r.status_code)
            except httpx.TransportError as exc:
                outcome = repr(exc)
            with self.lock:
                self.retried_writes.append(f"{method} {path} #{attempt}: {outcome}")
            time.sleep(0.2)
        raise AssertionError(f"{method} {path}: still failing after the documented retry")


@pytest.fixture
def nginx_binary() -> str:
    return tool("nginx")


def test_signing_through_nginx_survives_a_killed_serve(backend: str, db_url: str,
                                                        tmp_path: Path, nginx_binary: str) -> None:
    if backend != "postgresql":
        pytest.skip("the production topology runs on PostgreSQL")
    org = f.organization()
    https_port, second_port = free_port(), free_port()
    stack = Stack(tmp_path, db_url, {**SETTINGS, "server": {
        **SETTINGS["server"], "public_url": f"https://localhost:{https_port}"}})
    dev_ca, _, _ = development_keys(stack.keys_dir, code="mo1", name=org["name"],
                                    ogrn=org["ogrn"], inn=org["inn"])
    front = tmp_path / "nginx"
    front.mkdir()
    config = nginx_config(front, upstreams=[stack.api_port, second_port],
                          https_port=https_port, http_port=free_port())
    nginx: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    try:
        stack.start_emulator(mo_trust=dev_ca)
        stack.run("migrate")
        token = stack.run("api-token", "create", "--name", "topology").strip()
        stack.start_service(2)
        second = stack.start("serve-b", "serve", "--port", str(second_port))
        stack.wait_http(f"http://127.0.0.1:{second_port}/readyz", "the second web service")
        with (front / "logs" / "stdout.log").open("ab") as out:
            nginx = subprocess.Popen([nginx_binary, "-p", str(front), "-c", str(config)],
                                     stdout=out, stderr=subprocess.STDOUT)
        client = Client(f"https://localhost:{https_port}", token, front / "tls" / "ca.crt")
        _wait_https(client, nginx)
        assert client.get("/readyz").status_code == 200
        redirect = httpx.get(f"http://127.0.0.1:{_http_port(front)}/api/v1/ping",
                             follow_redirects=False)
        assert redirect.status_code == 301
        assert redirect.headers["location"].startswith("https://")

        with httpx.Client(base_url=f"{stack.emulator_url}/_emulator", timeout=30) as emulator:
            assert emulator.post("/autopilot", json=AUTOPILOT).status_code == 200
        _load(client)
        stack.register_people([f.goskey_person(f.patient(phone=_phone(i)))
                               for i in range(REQUESTS)])

        started: dict[str, str] = {}
        killed = threading.Event()
        first = next(p for p in stack.processes if p.name == "serve")

        def start(i: int) -> None:
            path = f"/api/v1/organizations/mo1/appointments/a{i}/signing-requests"
            r = client.write("POST", path, key=f"topology-a{i}")
            assert r.status_code == 201, r.text
            started[f"a{i}"] = r.json()["id"]
            client.get(f"/api/v1/signing-requests/{r.json()['id']}")  # a read under load too
            if len(started) >= KILL_AFTER and not killed.is_set():
                killed.set()
                stack.stopped.add(first.proc.pid)
                first.proc.kill()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(start, range(REQUESTS)))
        assert killed.is_set() and first.proc.wait(timeout=10) is not None
        assert client.failed_reads == [], client.failed_reads
        assert len(client.retried_writes) <= 4, client.retried_writes  # only those cut off
        assert len(set(started.values())) == REQUESTS
        sys.stdout.write(f"\nserve killed after {KILL_AFTER} signings; writes retried: "
                         f"{len(client.retried_writes)} {client.retried_writes}\n")

        def states() -> Counter[str]:
            return Counter(client.get(f"/api/v1/signing-requests/{rid}").json()["state"]
                           for rid in started.values())
        stack.wait_until(lambda: states()["completed"] == REQUESTS, timeout=180,
                         what="every signing completed", describe=lambda: str(states()))
        seen = httpx.get(f"{stack.emulator_url}/_emulator/transactions", timeout=30).json()
        phones = Counter(t["phone"] for t in seen["transactions"])
        assert sorted(phones) == sorted(_phone(i) for i in range(REQUESTS))
        assert set(phones.values()) == {1}, "a signing was sent twice"
        completions = Counter(t["status"] for t in seen["transactions"])
        assert completions == {"finished": REQUESTS}, completions
        assert second.proc.poll() is None
    finally:
        if client is not None:
            client.http.close()
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        stack.close()


def _phone(i: int) -> str:
    return f"+7916{i:07d}"


def _load(client: Client) -> None:
    assert client.write("PUT", "/api/v1/organizations/mo1", key="org",
                        json=f.organization()).status_code in (200, 201)
    for i in range(REQUESTS):
        body = f.patient(phone=_phone(i))
        assert client.write("PUT", f"/api/v1/organizations/mo1/patients/p{i}", key=f"p{i}",
                            json=body).status_code in (200, 201)
        assert client.write("PUT", f"/api/v1/organizations/mo1/appointments/a{i}", key=f"a{i}",
                            json=f.appointment(patient_id=f"p{i}")).status_code in (200, 201)


def _http_port(front: Path) -> int:
    site = (front / "site.conf").read_text()
    return int(site.split("listen 127.0.0.1:", 1)[1].split(";", 1)[0])


def _wait_https(client: Client, nginx: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        if nginx.poll() is not None:
            raise AssertionError(f"nginx exited with {nginx.returncode}")
        try:
            if client.http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("nginx did not answer over HTTPS")
        time.sleep(0.1)

