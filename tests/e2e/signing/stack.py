"""The whole signing installation as real processes on real sockets, for end-to-end tests.

``Stack`` writes a ``medsign.toml`` into a working folder and runs, each in its own process with
that folder as the working directory (so ``var/keys`` — the development keys — is the folder's):
``medsign emulate goskey``, ``medsign migrate``, ``medsign api-token create``, ``medsign serve``
and ``medsign worker`` processes. Logs go to ``<folder>/logs``. ``close`` stops every process it
started with SIGTERM (SIGKILL after a grace period), whatever happened before; ``kill_and_restart``
SIGKILLs one and starts it again with the same arguments, its log continued.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
GOSKEY_TOKEN = "e2e-partner-token"


def toml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def render_toml(config: dict[str, Any]) -> str:
    """Plain TOML for a two-level dict (top-level keys, tables, tables of tables)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]

    def table(name: str, body: dict[str, Any]) -> None:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in body.items() if not isinstance(v, dict))
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for k, v in config.items():
        if isinstance(v, dict):
            table(k, v)
    return "\n".join(lines) + "\n"


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    folder: Path
    db_url: str
    settings: dict[str, Any]
    emulator_args: list[str] = field(default_factory=list)
    goskey_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)
    stopped: set[int] = field(default_factory=set)
    metrics_ports: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs = self.folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.goskey_state = self.folder / "goskey"
        self.keys_dir = self.folder / "var" / "keys"  # bootstrap.DEV_KEYS_DIR under the cwd
        config = {
            "profile": "development",
            "database": {"url": self.db_url},
            "server": {"host": "127.0.0.1", "port": self.api_port},
            **self.settings,
            "goskey": {**self.settings.get("goskey", {}),
                       "base_url": f"http://127.0.0.1:{self.goskey_port}/gov/pep",
                       "token": GOSKEY_TOKEN},
        }
        config["signing"] = {**self.settings.get("signing", {}),
                             "trust_store": str(self.goskey_state / "operator-ca.pem")}
        (self.folder / "medsign.toml").write_text(render_toml(config), encoding="utf-8")

    # -- processes ---------------------------------------------------------------------
    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "medsign", *args]

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        """``env``: variables added to ours (e.g. ``PYTHONPATH`` of another version)."""
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(self.command(*args), cwd=self.folder, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    env={**os.environ, **env} if env else None)
        process = Process(name, proc, log, args, env or {})
        self.processes.append(process)
        return process

    def kill_and_restart(self, process: Process) -> Process:
        """SIGKILL (no goodbye: no lease given back, no answer finished) and start it again;
        the new process takes the old one's place. The caller waits until it answers."""
        self.stopped.add(process.proc.pid)
        process.proc.kill()
        process.proc.wait(timeout=10)
        self.processes.remove(process)
        return self.start(process.name, *process.args, env=process.env)

    def run(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> str:
        """A one-shot command; its stdout (stderr goes to the logs)."""
        with (self.logs / f"{args[0]}.log").open("ab") as err:
            done = subprocess.run(self.command(*args), cwd=self.folder, stdout=subprocess.PIPE,
                                  stderr=err, timeout=timeout, check=False,
                                  env={**os.environ, **env} if env else None)
        if done.returncode != 0:
            raise AssertionError(f"medsign {' '.join(args)} exited with {done.returncode}: "
                                 f"{(self.logs / f'{args[0]}.log').read_text()[-2000:]}")
        return done.stdout.decode()

    def check(self) -> None:
        """Fail with its log if a process ended that nobody stopped."""
        for p in self.processes:
            if p.proc.poll() is not None and p.proc.pid not in self.stopped:
                raise AssertionError(f"{p.name} exited with {p.proc.returncode}:\n{p.tail()}")

    def stop(self, process: Process, *, grace: float = 20.0) -> float:
        """SIGTERM, wait; return the seconds it took. SIGKILL after ``grace``."""
        self.stopped.add(process.proc.pid)
        if process.proc.poll() is not None:
            return 0.0
        asked = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        try:
            process.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.proc.kill()
            process.proc.wait(timeout=10)
        return time.monotonic() - asked

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)

    # -- the pieces, in the order they depend on each other -----------------------------
    def start_emulator(self, *, mo_trust: Path) -> Process:
        process = self.start("emulator", "emulate", "goskey", "--port", str(self.goskey_port),
                             "--token", GOSKEY_TOKEN, "--state-dir", str(self.goskey_state),
                             "--mo-trust", str(mo_trust), *self.emulator_args)
        self.wait_http(f"{self.emulator_url}/_emulator/transactions", "the emulator")
        return process

    def register_people(self, people: list[dict[str, Any]]) -> None:
        """Give the emulated platform the patients' Госуслуги accounts (by phone), whose
        profiles fill the documents (``tests.factories.goskey_person``)."""
        with httpx.Client(base_url=f"{self.emulator_url}/_emulator", timeout=30) as emulator:
            for person in people:
                response = emulator.post("/people", json=person)
                assert response.status_code in (200, 201), response.text

    def start_service(self, workers: int, *, concurrency: int | None = None) -> None:
        """``serve`` and the workers (the schema must be migrated already)."""
        self.start("serve", "serve", "--port", str(self.api_port))
        self.wait_http(f"{self.api_url}/readyz", "the web service")
        for n in range(workers):
            extra = ["--concurrency", str(concurrency)] if concurrency else []
            self.start(f"worker-{n}", "worker", "--metrics-port", str(self.metrics_port(n)),
                       *extra)
        for n in range(workers):
            self.wait_http(f"http://127.0.0.1:{self.metrics_port(n)}/metrics", f"worker {n}")

    def metrics_port(self, n: int) -> int:
        """Where worker ``n`` serves its Prometheus metrics."""
        return self.metrics_ports.setdefault(n, free_port())

    @property
    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.name.startswith("worker-")]

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.goskey_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_http(self, url: str, what: str, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not come up at {url}")
            time.sleep(0.1)

    def wait_until(self, condition: Callable[[], bool], *, timeout: float, what: str,
                   describe: Callable[[], str] = lambda: "", every: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n"
                                     f"{describe()}")
            time.sleep(every)


def prometheus_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """``name{a="b",...} value`` lines of a Prometheus text page."""
    found = []
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_text, value = line[len(name) + 1:].rsplit("} ", 1)
        labels = dict(part.split("=", 1) for part in labels_text.split(",") if part)
        found.append(({k: v.strip('"') for k, v in labels.items()}, float(value)))
    return found
