"""The whole installation as real processes on real sockets, for the patient-path tests.

Four processes, each started the way an operator starts it (``python -m medsign …``, working
directory = the test's folder with its ``medsign.toml``):

- ``emulate max`` (webhooks over plain http allowed, retries 100× faster, state on disk);
- ``emulate goskey`` (state on disk; trusts the MO's development CA);
- ``serve`` (API + MAX webhook) and ``worker``, both on the movable test clock
  (``MEDSIGN_TEST_CLOCK_FILE``) — and so is the MAX emulator, as the real platform's and the
  service's clocks agree.

Every process can be SIGKILLed and started again on the same state; ``close`` reaps them all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from medsign.signing.signers import development_keys
from tests import factories as f
from tests.dbs import admin_pg_url
from tests.e2e.processes import (
    Proc,
    check_alive,
    describe,
    free_port,
    wait_answering,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[3]
MAX_TOKEN = "e2e-bot-token-0123456789abcdef"
GOSKEY_TOKEN = "e2e-partner-token-0123456789"
SECRET = "e2e_webhook-secret-0123456789"
BOT = "medsign_e2e_bot"
GOSKEY_BOT_URL = "https://max.ru/id7708416300_gosbot"
PHONE = "+79991234567"


@dataclass
class Database:
    """A database of its own for one test: a SQLite file, or a fresh PostgreSQL database."""

    url: str
    _drop: Callable[[], None] | None = None

    @classmethod
    def create(cls, backend: str, folder: Path) -> Database:
        if backend == "sqlite":
            return cls(f"sqlite:///{folder / 'medsign.db'}")
        name = f"medsign_e2e_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_pg_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
        url = make_url(admin_pg_url()).set(database=name).render_as_string(hide_password=False)
        return cls(url, drop)

    def drop(self) -> None:
        if self._drop is not None:
            self._drop()


@dataclass
class Stack:
    folder: Path
    backend: str
    updates: str
    database: Database
    max_options: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    token: str = ""
    _clients: list[httpx.Client] = field(default_factory=list)

    # -- setting up --------------------------------------------------------------------------
    def prepare(self) -> None:
        self.ports = {name: free_port() for name in ("serve", "max", "goskey")}
        self.clock_file.write_text("0")
        org = f.organization()
        ca, _, _ = development_keys(self.folder / "var" / "keys", code="mo1",
                                    name=org["name"], ogrn=org["ogrn"], inn=org["inn"])
        (self.folder / "medsign.toml").write_text(self.config(), encoding="utf-8")
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        py = [sys.executable, "-m", "medsign"]
        plain = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
        clocked = {**plain, "MEDSIGN_TEST_CLOCK_FILE": str(self.clock_file),
                   "PYTHONUNBUFFERED": "1"}
        self.procs = {
            "max": Proc("max", [*py, "emulate", "max", "--port", str(self.ports["max"]),
                                "--token", MAX_TOKEN, "--bot-username", BOT,
                                "--state-dir", str(self.folder / "max-state"),
                                "--insecure-webhooks", "--webhook-time-scale", "0.01",
                                *self.max_options], self.folder, clocked, logs),
            "goskey": Proc("goskey", [*py, "emulate", "goskey", "--port",
                                      str(self.ports["goskey"]), "--token", GOSKEY_TOKEN,
                                      "--state-dir", str(self.goskey_state),
                                      "--mo-trust", str(ca)], self.folder, plain, logs),
            "serve": Proc("serve", [*py, "serve"], self.folder, clocked, logs),
            "worker": Proc("worker", [*py, "worker"], self.folder, clocked, logs),
        }
        self.cli("migrate")
        self.token = self.cli("api-token", "create", "--name", "e2e-mis").strip()

    @property
    def clock_file(self) -> Path:
        return self.folder / "clock-offset"

    @property
    def goskey_state(self) -> Path:
        """Where the service looks for the emulator's operator CA outside production."""
        return self.folder / "var" / "goskey-emulator"

    def config(self) -> str:
        p = self.ports
        return f"""
profile = "development"

[database]
url = "{self.database.url}"

[server]
host = "127.0.0.1"
port = {p["serve"]}
public_url = "http://127.0.0.1:{p["serve"]}"

[runner]
poll_interval = "0.1s"
lease = "4s"
backoff_base = "0.3s"
backoff_cap = "2s"
max_attempts = 100
shutdown_grace = "2s"

[notifications]
offset = "24h"

[signing]
poll_interval = "1s"
poll_interval_max = "2s"

[max]
base_url = "http://127.0.0.1:{p["max"]}"
token = "{MAX_TOKEN}"
updates = "{self.updates}"
webhook_secret = "{SECRET}"
goskey_bot_url = "{GOSKEY_BOT_URL}"
bot_deep_link_base = "https://max.ru/{BOT}"
timeout = "40s"

[goskey]
base_url = "http://127.0.0.1:{p["goskey"]}/gov/pep"
token = "{GOSKEY_TOKEN}"

[logging]
level = "INFO"
format = "text"
"""

    def cli(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
        done = subprocess.run([sys.executable, "-m", "medsign", *args], cwd=self.folder,
                              env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, (args, done.stdout.decode(errors="replace"),
                                      done.stderr.decode(errors="replace"))
        return done.stdout.decode()

    # -- processes -----------------------------------------------------------------------------
    def start(self, *names: str) -> None:
        """Start processes (the emulators first) and wait until they answer."""
        for name in names or ("max", "goskey", "serve", "worker"):
            self.procs[name].start()
            self.wait_up(name)

    def wait_up(self, name: str) -> None:
        url = {"max": f"{self.max_url}/_emulator/stats",
               "goskey": f"{self.goskey_url}/_emulator/transactions",
               "serve": f"{self.serve_url}/healthz"}.get(name)
        if url is None:
            time.sleep(0.5)
            self.check_alive()
            return
        wait_answering(url, name=name, alive=self.check_alive, describe=self.describe)
        if name == "goskey":
            wait_for(lambda: (self.goskey_state / "operator-ca.pem").exists(), timeout=10,
                     what="the operator CA")

    def kill(self, *names: str) -> None:
        for name in names or tuple(self.procs):
            self.procs[name].kill()

    def restart_all(self) -> None:
        """SIGKILL every process, then start them all again on the same state."""
        self.kill()
        self.start()

    def check_alive(self) -> None:
        # the chaos tests kill and stop processes on purpose
        check_alive(self.procs, tolerated=(-signal.SIGKILL, -signal.SIGTERM))

    def describe(self) -> str:
        parts = [describe(self.procs)]
        try:
            parts.append(f"--- MAX stats ---\n{json.dumps(self.max_get('/stats'))}")
        except httpx.HTTPError as exc:
            parts.append(f"MAX stats unavailable: {exc!r}")
        return "\n".join(parts)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
        for client in self._clients:
            client.close()

    # -- the clock ---------------------------------------------------------------------------
    def jump(self, delta: timedelta) -> None:
        """Move serve, worker and the MAX platform forward by ``delta`` (from real time)."""
        self.clock_file.write_text(str(delta.total_seconds()))

    # -- talking to the processes --------------------------------------------------------------
    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['serve']}"

    @property
    def max_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['max']}"

    @property
    def goskey_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['goskey']}"

    def api(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,),
            ) -> Any:
        r = httpx.request(method, f"{self.serve_url}{path}", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code in expect, (r.status_code, r.text)
        return r.json()

    def max_get(self, path: str) -> Any:
        r = httpx.get(f"{self.max_url}/_emulator{path}", timeout=10)
        r.raise_for_status()
        return r.json()

    def max_post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        r = httpx.post(f"{self.max_url}/_emulator{path}", json=body or {}, timeout=10)
        assert r.status_code == expect, (r.status_code, r.text)
        return r.json()

    def goskey_get(self, path: str) -> Any:
        r = httpx.get(f"{self.goskey_url}/_emulator{path}", timeout=10)
        r.raise_for_status()
        return r.json()

    def goskey_post(self, path: str, body: Any = None) -> Any:
        r = httpx.post(f"{self.goskey_url}/_emulator{path}", json=body, timeout=30)
        assert r.status_code in (200, 201), (r.status_code, r.text)
        return r.json()

    def chat(self, user_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.max_get(f"/users/{user_id}/chat")["items"]
        return items

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        return [i for i in self.chat(user_id) if i["kind"] == "message" and i["from"] == "bot"]

    def toasts(self, user_id: int) -> list[str]:
        return [i["text"] for i in self.chat(user_id) if i["kind"] == "notification"]

    def transactions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.goskey_get("/transactions")["transactions"]
        return found

    def webhook(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Max-Bot-Api-Secret"] = secret
        return httpx.post(f"{self.serve_url}/max/webhook", content=json.dumps(update),
                          headers=headers, timeout=10)


def visit_time() -> datetime:
    """The day after tomorrow, on the minute."""
    return (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
