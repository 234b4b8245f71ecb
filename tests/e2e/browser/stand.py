"""The installation the browser tests drive: real processes on real sockets.

Five processes, each started the way an operator starts it (``python -m medsign …`` with the
stand's folder as the working directory and its ``medsign.toml``):

- ``emulate goskey`` (the signing platform; trusts the demo MO's development CA; its state —
  and ``operator-ca.pem``, which the service trusts outside production when
  ``signing.trust_store`` is not set — in ``var/goskey-emulator``);
- ``emulate max`` (the messenger; the service polls it for updates);
- the ESIA emulator (``tests.e2e.browser.esia_emulator``: ``medsign`` has no ``emulate esia``
  command) with the demo's test people;
- ``serve`` and ``worker``.

Besides, an SMTP server on a local port in the test process (``tests.smtp``, aiosmtpd): the
``[email]`` section points at it, so the worker's e-mails (password reset links) land in
``Stand.inbox``.

The configuration is the demo profile's (``medsign demo``: demo passwords allowed, no quiet
hours, short polling), on free ports and with its own SQLite database in the folder; the data
are the demo's (``medsign.demo.seed``: the demo MO, patients ``demo-p1``…``demo-p3`` with
appointments tomorrow, staff ``doctor``/``operator``/``admin`` with the password ``demo``)
plus one more appointment of ``demo-p1`` for the portal test.

SQLite only (whatever ``--db`` says): the browser is what these tests are about, and the
fault-page test takes the database's write lock the way a stuck writer would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from medsign import bootstrap
from medsign.bot import links as max_links
from medsign.clinic import appointments
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.config import load_settings
from medsign.demo import (
    DEMO_ORG,
    ESIA_CLIENT_ID,
    GOSKEY_TOKEN,
    MAX_TOKEN,
    ORGANIZATION,
    PATIENTS,
    SCOPE,
    seed,
)
from medsign.demo_people import goskey_people_json
from medsign.records import organizations
from medsign.records import patients as patient_records
from medsign.signing.signers import development_keys
from tests.e2e.processes import (
    Proc,
    check_alive,
    describe,
    free_port,
    stop_all,
    wait_answering,
    wait_for,
)
from tests.smtp import Inbox

ROOT = Path(__file__).resolve().parents[3]
BOT = "medsign_browser_bot"
PASSWORD = "demo"
# The web service gives up on a locked database quickly (the fault-page test relies on it);
# the worker waits far longer, so that the same lock never costs it a step.
SERVE_BUSY_TIMEOUT = "1.5s"
WORKER_BUSY_TIMEOUT = "20s"


@dataclass
class Stand:
    folder: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    token: str = ""
    appointments: dict[str, str] = field(default_factory=dict)
    inbox: Inbox = field(default_factory=Inbox)  # filled by the SMTP server (``smtp_port``)

    # -- setting up --------------------------------------------------------------------------
    def prepare(self) -> None:
        self.ports = {name: free_port() for name in ("serve", "goskey", "max", "esia")}
        org = ORGANIZATION
        mo_ca, _, _ = development_keys(self.folder / "var" / "keys", code=DEMO_ORG,
                                       name=org.name, ogrn=org.ogrn, inn=org.inn)
        self.config_file.write_text(self.config(), encoding="utf-8")
        people = self.folder / "goskey-people.json"  # the demo people, as `medsign demo` has
        people.write_text(json.dumps(goskey_people_json(), ensure_ascii=False), encoding="utf-8")
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        py = [sys.executable, "-m", "medsign"]
        plain = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
        plain.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        p = self.ports

        def proc(name: str, command: list[str], **env: str) -> Proc:
            return Proc(name, command, self.folder, {**plain, **env}, logs)
        self.procs = {
            "goskey": proc("goskey", [*py, "emulate", "goskey", "--port", str(p["goskey"]),
                                      "--token", GOSKEY_TOKEN, "--state-dir",
                                      str(self.goskey_state), "--mo-trust", str(mo_ca),
                                      "--people", str(people)]),
            "max": proc("max", [*py, "emulate", "max", "--port", str(p["max"]), "--token",
                                MAX_TOKEN, "--bot-username", BOT, "--state-dir",
                                str(self.folder / "max-state")]),
            "esia": proc("esia", [sys.executable, "-m", "tests.e2e.browser.esia_emulator",
                                  "--port", str(p["esia"]), "--redirect-url",
                                  self.esia_redirect, "--state-dir",
                                  str(self.folder / "esia-state")]),
            "serve": proc("serve", [*py, "serve"],
                          MEDSIGN_DATABASE__BUSY_TIMEOUT=SERVE_BUSY_TIMEOUT),
            "worker": proc("worker", [*py, "worker"],
                           MEDSIGN_DATABASE__BUSY_TIMEOUT=WORKER_BUSY_TIMEOUT),
        }
        self.cli("migrate")
        self.seed()

    @property
    def config_file(self) -> Path:
        return self.folder / "medsign.toml"

    @property
    def database(self) -> Path:
        return self.folder / "medsign.db"

    @property
    def goskey_state(self) -> Path:
        return self.folder / "var" / "goskey-emulator"

    @property
    def esia_redirect(self) -> str:
        return f"{self.url}/portal/esia/callback"

    def config(self) -> str:
        """The demo profile's settings (``medsign.demo.demo_settings``) as a file."""
        p = self.ports
        return f"""profile = "demo"

[database]
url = "sqlite:///{self.database}"

[server]
host = "127.0.0.1"
port = {p["serve"]}
public_url = "http://127.0.0.1:{p["serve"]}"

[runner]
poll_interval = "0.2s"
backoff_base = "0.3s"
backoff_cap = "2s"
shutdown_grace = "2s"

[notifications]
offset = "36h"
default_quiet_hours = "00:00-00:00"
# the demo's visits start at 07:00-09:00 UTC tomorrow: invite at once, at any hour of the run
min_lead = "1h"

[signing]
poll_interval = "1s"
poll_interval_max = "2s"

[goskey]
base_url = "http://127.0.0.1:{p["goskey"]}/gov/pep"
token = "{GOSKEY_TOKEN}"

[max]
base_url = "http://127.0.0.1:{p["max"]}"
token = "{MAX_TOKEN}"
updates = "polling"
bot_deep_link_base = "https://max.ru/{BOT}"

[esia]
base_url = "http://127.0.0.1:{p["esia"]}"
client_id = "{ESIA_CLIENT_ID}"
redirect_url = "{self.esia_redirect}"

[quick_login]
webauthn_rp_id = "localhost"
webauthn_origin = "http://localhost:{p["serve"]}"

[email]
smtp_host = "127.0.0.1"
smtp_port = {self.inbox.port}
starttls = false
sender = "Портал пациента <noreply@example.org>"
timeout = "5s"

[logging]
level = "INFO"
format = "text"
"""

    def cli(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
        done = subprocess.run([sys.executable, "-m", "medsign", *args], cwd=self.folder,
                              env=env, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, (args, done.stdout.decode(errors="replace"),
                                      done.stderr.decode(errors="replace"))
        return done.stdout.decode()

    def seed(self) -> None:
        """The demo's data, plus two more appointments of ``demo-p1`` (the portal test's and
        the patient app's) and one of ``demo-p3`` (the signer-mismatch test's)."""
        container = bootstrap.build(load_settings(self.config_file, env={}))
        try:
            info = seed(container)
            self.token = info.token
            self.appointments = {"doctor": info.appointments[0],
                                 "operator": info.appointments[1],
                                 "spare": info.appointments[2],
                                 "portal": "browser-portal-1",
                                 "mismatch": "browser-mismatch-1",
                                 "app": "browser-app-1"}
            starts = (datetime.now(UTC) + timedelta(days=1)).replace(
                hour=12, minute=30, second=0, microsecond=0)
            with Session(container.engine) as db:
                appointments.upsert(
                    db, scope=SCOPE, organization=DEMO_ORG,
                    external_id=self.appointments["portal"],
                    now=container.clock.now(), policy=container.notification_policy(),
                    data=AppointmentInput(
                        organization=DEMO_ORG, patient="demo-p1", starts_at=starts,
                        doctor_name="Петрова Анна Сергеевна",
                        service_name="Ультразвуковое исследование", status="scheduled",
                        consents=[ConsentInput("medical_intervention", "electronic"),
                                  ConsentInput("paid_services_contract", "electronic")]))
                appointments.upsert(  # the patient app's test (demo-p1 signs it herself)
                    db, scope=SCOPE, organization=DEMO_ORG,
                    external_id=self.appointments["app"],
                    now=container.clock.now(), policy=container.notification_policy(),
                    data=AppointmentInput(
                        organization=DEMO_ORG, patient="demo-p1",
                        starts_at=starts + timedelta(hours=2),
                        doctor_name="Петрова Анна Сергеевна",
                        service_name="Консультация кардиолога", status="scheduled",
                        consents=[ConsentInput("medical_intervention", "electronic"),
                                  ConsentInput("personal_data", "electronic")]))
                appointments.upsert(  # the signer-mismatch test's (demo-p3, no middle name)
                    db, scope=SCOPE, organization=DEMO_ORG,
                    external_id=self.appointments["mismatch"],
                    now=container.clock.now(), policy=container.notification_policy(),
                    data=AppointmentInput(
                        organization=DEMO_ORG, patient="demo-p3", starts_at=starts,
                        doctor_name="Петрова Анна Сергеевна", service_name="Приём врача-терапевта",
                        status="scheduled",
                        consents=[ConsentInput("medical_intervention", "electronic"),
                                  ConsentInput("personal_data", "electronic")]))
                db.commit()
        finally:
            container.engine.dispose()

    def link_max(self, patient_id: str) -> int:
        """Link a patient's MAX account as the patient does: a one-time deep link opened in
        the messenger (``bot_started``), as ``medsign demo`` does for two of its patients.
        The worker picks the update up by polling MAX, then announces the patient's visits.
        Returns the patient's MAX user id (whose chat ``max_chat`` reads)."""
        container = bootstrap.build(load_settings(self.config_file, env={}))
        try:
            with Session(container.engine) as db:
                patient, _ = patient_records.get(db, scope=SCOPE, organization=DEMO_ORG,
                                          external_id=patient_id)
                token = max_links.issue(db, patient=patient, link_base=f"https://max.ru/{BOT}",
                                        ttl=timedelta(hours=1), actor="browser-tests",
                                        organization_code=DEMO_ORG,
                                        now=container.clock.now()).token
                db.commit()
        finally:
            container.engine.dispose()
        last, first, _middle, _born, phone = PATIENTS[patient_id]
        user = httpx.post(f"{self.max_url}/_emulator/users", timeout=10,
                          json={"name": f"{first} {last}", "phone": phone}).json()
        started = httpx.post(f"{self.max_url}/_emulator/users/{user['user_id']}/start",
                             json={"payload": token}, timeout=10)
        assert started.status_code == 200, started.text
        # the link is made by the worker, asynchronously: wait for it, or a test that starts
        # signing right after would race it (her visits, already being signed, are not
        # announced)
        wait_for(lambda: self._max_user_of(patient_id) == user["user_id"], timeout=60,
                 what=f"the worker linking {patient_id} to MAX", describe=self.describe)
        linked: int = user["user_id"]
        return linked

    def _max_user_of(self, patient_id: str) -> int | None:
        container = bootstrap.build(load_settings(self.config_file, env={}))
        try:
            with Session(container.engine) as db:
                org = organizations.get(db, scope=SCOPE, code=DEMO_ORG)
                patient = patient_records.find(db, org.id, patient_id)
                return None if patient is None else patient.max_user_id
        finally:
            container.engine.dispose()

    # -- processes -----------------------------------------------------------------------------
    def start(self) -> None:
        """The emulators first (the service trusts the platform's CA from its folder), then
        the service and its worker."""
        for group in (("goskey", "max", "esia"), ("serve", "worker")):
            for name in group:
                self.procs[name].start()
            for name in group:
                self.wait_up(name)

    def wait_up(self, name: str) -> None:
        url = {"goskey": f"{self.goskey_url}/_emulator/transactions",
               "max": f"{self.max_url}/_emulator/stats",
               "esia": f"{self.esia_url}/_emulator/persons",
               "serve": f"{self.url}/readyz"}.get(name)
        if url is None:
            self.check_alive()
            return
        wait_answering(url, name=name, alive=self.check_alive, describe=self.describe)
        if name == "goskey":
            wait_for(lambda: (self.goskey_state / "operator-ca.pem").exists(), timeout=10,
                     what="the operator CA")

    def check_alive(self) -> None:
        check_alive(self.procs)

    def describe(self) -> str:
        return describe(self.procs)

    def close(self, grace: float = 5.0) -> None:
        stop_all(self.procs.values(), grace)

    # -- addresses -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['serve']}"

    @property
    def local_url(self) -> str:
        """The same server by name: WebAuthn refuses an IP address as its RP ID, so the
        app's biometrics is tested here (``[quick_login]`` above names it)."""
        return f"http://localhost:{self.ports['serve']}"

    @property
    def goskey_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['goskey']}"

    @property
    def max_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['max']}"

    @property
    def esia_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['esia']}"

    # -- talking to the processes --------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None,
            expect: tuple[int, ...] = (200, 201)) -> Any:
        r = httpx.request(method, f"{self.url}/api/v1{path}", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}",
                                   "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code in expect, (method, path, r.status_code, r.text)
        return r.json()

    def goskey(self, method: str, path: str, body: Any = None) -> Any:
        """The signing emulator's control API (``/_emulator/…``)."""
        r = httpx.request(method, f"{self.goskey_url}/_emulator{path}", timeout=30,
                          content=None if body is None else json.dumps(body),
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 200, (method, path, r.status_code, r.text)
        return r.json()

    def max_chat(self, user_id: int) -> list[dict[str, Any]]:
        """The patient's MAX dialog as the emulator shows it (messages after edits, toasts)."""
        r = httpx.get(f"{self.max_url}/_emulator/users/{user_id}/chat", timeout=30)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def request_state(self, request_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api("GET", f"/signing-requests/{request_id}")
        return found

    def wait_state(self, request_id: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            self.check_alive()
            view = self.request_state(request_id)
            return view if view["state"] in states else None
        return wait_for(reached, timeout=timeout, what=f"request {request_id} in {states}",
                        describe=lambda: f"{self.request_state(request_id)}\n{self.describe()}")

    def transaction_of(self, request_id: str, timeout: float = 60) -> str:
        """The platform's transaction id, once the worker has sent the request."""
        view = self.wait_state(request_id, "sent", "patient_signed", "archive_verified",
                               "countersigned", "uploaded", "completed", "failed",
                               timeout=timeout)
        tid: str = view["transaction_id"]
        return tid

    def sign_now(self, appointment_id: str) -> str:
        """Flow B without a browser: the МИС starts signing, the patient signs in the
        emulator; the request's id once it is completed."""
        started = self.api(
            "POST", f"/organizations/{DEMO_ORG}/appointments/{appointment_id}/signing-requests")
        tid = self.transaction_of(started["id"])
        self.goskey("POST", f"/transactions/{tid}/sign")
        self.wait_state(started["id"], "completed")
        rid: str = started["id"]
        return rid


def patient_phone(patient_id: str) -> str:
    return PATIENTS[patient_id][4]


def patient_name(patient_id: str) -> str:
    last, first, middle, _born, _phone = PATIENTS[patient_id]
    return " ".join(x for x in (last, first, middle) if x)
