"""The MAX bot stand in one process: the service (API, worker) against BOTH emulators — MAX
and Goskey — through ``httpx.ASGITransport``, on the test database, with one fake clock that
the service and both emulators read.

Everything asynchronous runs on one event loop that lives as long as the stand
(``asyncio.Runner``): the MAX emulator's update queue and webhook sender keep their tasks and
events between the test's steps.

Updates reach the service the way the configuration says: ``polling`` — the stand reads
``GET /updates`` itself (``pump``) and stores each batch like the poller does, so the worker can
run "until idle" (the real ``max.poll`` item never idles; its own tests drive it); ``webhook`` —
the emulator POSTs each update to the service's ``/max/webhook`` in-process.
"""

from __future__ import annotations

import asyncio
import time as monotonic_time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.bootstrap import Container
from medsign.bot import updates as max_updates
from medsign.clock import FakeClock
from medsign.config import load_settings
from medsign.db.engine import read_only
from medsign.db.models import (
    AppointmentRow,
    ConsentRow,
    MaxUpdateRow,
    NotificationRow,
    PatientRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.integrations.goskey.emulator import EmulatorConfig as GoskeyConfig
from medsign.integrations.goskey.emulator import create_emulator as create_goskey
from medsign.integrations.max import MaxClient
from medsign.integrations.max.emulator import Emulator as MaxEmulator
from medsign.integrations.max.emulator import EmulatorConfig as MaxConfig
from medsign.integrations.max.emulator import create_emulator as create_max
from medsign.integrations.max.emulator.model import Callback, Ids
from medsign.signing.signers import development_keys
from tests import factories as f
from tests.integration.signing.stand import FAST_RUNNER_ENV

T = TypeVar("T")
MAX_TOKEN = "bot-token-for-integration-tests-0123456789"
GOSKEY_TOKEN = "partner-token-for-tests"
SECRET = "webhook_secret-0123456789"
BOT = "medsign_test_bot"
DEEP_LINK_BASE = f"https://max.ru/{BOT}"
GOSKEY_BOT_URL = "https://max.ru/id7708416300_gosbot"
MAX_BASE = "http://max.test"
GOSKEY_BASE = "http://goskey.test"
# 06:00 UTC (09:00 in Moscow, 16:00 in Vladivostok) a month from today: later than the
# moment the emulators' certificates and the MO's development keys are made (they are valid
# from the real now on), so the signatures verify at the stand's time.
START = datetime.combine(datetime.now(UTC).date() + timedelta(days=30), time(6, 0), tzinfo=UTC)
PHONE = "+79991234567"


def settings_env(updates: str) -> dict[str, str]:
    return {
        "MEDSIGN_GOSKEY__BASE_URL": f"{GOSKEY_BASE}/gov/pep",
        "MEDSIGN_GOSKEY__TOKEN": GOSKEY_TOKEN,
        "MEDSIGN_MAX__BASE_URL": MAX_BASE,
        "MEDSIGN_MAX__TOKEN": MAX_TOKEN,
        "MEDSIGN_MAX__UPDATES": updates,
        "MEDSIGN_MAX__WEBHOOK_SECRET": SECRET,
        "MEDSIGN_MAX__BOT_DEEP_LINK_BASE": DEEP_LINK_BASE,
        "MEDSIGN_MAX__GOSKEY_BOT_URL": GOSKEY_BOT_URL,
        **FAST_RUNNER_ENV,
    }


@dataclass
class BotStand:
    container: Container
    clock: FakeClock
    max_app: Any
    goskey_app: Any
    api: TestClient
    loop: asyncio.Runner
    updates: str
    marker: int | None = None
    _clients: list[Any] = field(default_factory=list)

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self.container.engine

    @property
    def emulator(self) -> MaxEmulator:
        emulator: MaxEmulator = self.max_app.state.emulator
        return emulator

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro)

    def close(self) -> None:
        async def shut() -> None:
            for client in self._clients:
                await client.aclose()
            await self.emulator.aclose()
        try:
            self.run(shut())
        finally:
            self.loop.close()
            self.api.close()
            self.container.close()

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def set_time(self, moment: datetime) -> None:
        self.clock.set(moment)

    # -- the service -------------------------------------------------------------------------
    def run_worker(self) -> None:
        """Run the worker until nothing is due at the stand's current (fake) time."""
        worker = self.container.worker()
        self.run(worker.run(asyncio.Event(), until_idle=True))

    def work(self, rounds: int = 3) -> None:
        """Deliver what the users did, then let the service act on it, until quiet."""
        for _ in range(rounds):
            delivered = self.pump()
            self.run_worker()
            if delivered == 0:
                return

    def work_until(self, done: Callable[[], bool], *, tries: int = 5) -> None:
        """``work``, then, while ``done`` is not yet true, let a step that MAX refused with
        429 come round again: on a loaded machine a burst of answers into one chat can
        overrun the emulator's per-second window (real time) and wait for its backoff (the
        stand's fake time), which ``until_idle`` does not wait for."""
        self.work()
        for _ in range(tries):
            if done():
                return
            monotonic_time.sleep(1.1)  # the emulator's window is a real second
            self.advance(timedelta(seconds=5))  # past the retry's backoff
            self.run_worker()

    def pump(self) -> int:
        """Bring the updates waiting at MAX into the service; how many arrived."""
        if self.updates == "webhook":
            return self.run(self._wait_webhooks())
        return self.run(self._poll_once())

    async def _poll_once(self) -> int:
        batch = await self.max_client.get_updates(marker=self.marker, timeout=0)
        raws = [u.raw for u in batch.updates]
        with self.engine.begin() as conn:
            max_updates.ingest_many(conn, raws, via="polling", now=self.clock.now())
        self.marker = batch.marker
        return len(raws)

    async def _wait_webhooks(self, timeout: float = 10.0) -> int:
        before = self.emulator.store.stats["webhook_deliveries"]
        deadline = monotonic_time.monotonic() + timeout
        while self.emulator.store.log.pending:
            if self.emulator.store.subscription is None:
                raise AssertionError("the service is not subscribed to webhooks")
            if monotonic_time.monotonic() > deadline:
                raise AssertionError(f"webhooks not delivered: {self.emulator.stats()}")
            await asyncio.sleep(0.005)
        return int(self.emulator.store.stats["webhook_deliveries"] - before)

    def ingest(self, raw: dict[str, Any]) -> bool:
        """Store an update as if it had just arrived (replays, forgeries)."""
        with self.engine.begin() as conn:
            return max_updates.ingest(conn, raw, via="polling", now=self.clock.now())

    @property
    def max_client(self) -> MaxClient:
        if not self._clients:
            self._clients.append(MaxClient(MAX_BASE, MAX_TOKEN,
                                           transport=httpx.ASGITransport(self.max_app)))
        client: MaxClient = self._clients[0]
        return client

    # -- the emulators' side doors -------------------------------------------------------------
    def max(self, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        response = self.run(self._call(self.max_app, MAX_BASE, method, f"/_emulator{path}",
                                       body))
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def goskey(self, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        response = self.run(self._call(self.goskey_app, GOSKEY_BASE, method,
                                       f"/_emulator{path}", body))
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    @staticmethod
    async def _call(app: Any, base: str, method: str, path: str, body: Any) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base) as c:
            return await c.request(method, path, json=body)

    def new_user(self, name: str = "Иван Иванов", phone: str | None = PHONE, *,
                 start: bool = False, payload: str | None = None) -> int:
        user: dict[str, Any] = self.max("POST", "/users", {"name": name, "phone": phone})
        if start:
            self.max("POST", f"/users/{user['user_id']}/start", {"payload": payload})
        return int(user["user_id"])

    def chat(self, user_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.max("GET", f"/users/{user_id}/chat")["items"]
        return items

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        return [i for i in self.chat(user_id) if i["kind"] == "message" and i["from"] == "bot"]

    def toasts(self, user_id: int) -> list[str]:
        return [i["text"] for i in self.chat(user_id) if i["kind"] == "notification"]

    def invitation(self, user_id: int, aid: str = "a1") -> dict[str, Any]:
        """The appointment's invitation as the patient sees it now (after any edits)."""
        row = self.notification(aid)
        assert row is not None and row.message_mid, row
        found = [m for m in self.bot_messages(user_id) if m["mid"] == row.message_mid]
        assert len(found) == 1, self.chat(user_id)
        return found[0]

    def sent_with(self, user_id: int, text: str) -> list[dict[str, Any]]:
        """The bot's messages in the chat whose current text contains ``text``."""
        return [m for m in self.bot_messages(user_id) if text in (m["text"] or "")]

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.max("GET", "/stats")
        return stats

    def press(self, user_id: int, mid: str, payload: str) -> dict[str, Any]:
        update: dict[str, Any] = self.max("POST", f"/users/{user_id}/press",
                                          {"mid": mid, "payload": payload})["update"]
        return update

    def forge_callback(self, user_id: int, mid: str, payload: str) -> dict[str, Any]:
        """A ``message_callback`` the platform did not produce from a real button, but with a
        callback id it will accept an answer for (as a replayed or crafted update would)."""
        emulator = self.emulator
        user = emulator.store.users[user_id]
        message = emulator.store.messages[mid]
        now = emulator.now_ms()
        callback = Callback(Ids.callback_id(), mid, user_id, payload, now)
        emulator.store.callbacks[callback.callback_id] = callback
        return {"update_type": "message_callback", "timestamp": now,
                "callback": {"timestamp": now, "callback_id": callback.callback_id,
                             "payload": payload, "user": user.wire()},
                "message": emulator.message_wire(message), "user_locale": "ru"}

    def transactions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.goskey("GET", "/transactions")["transactions"]
        return found

    # -- the МИС side ----------------------------------------------------------------------------
    def put_organization(self, code: str = "mo1", **over: Any) -> None:
        r = self.api.put(f"/api/v1/organizations/{code}", json=f.organization(**over))
        assert r.status_code in (200, 201), r.text

    def put_patient(self, pid: str = "p1", **over: Any) -> None:
        """The patient in the МИС, and their Госуслуги account at the signing platform."""
        body = f.patient(**over)
        r = self.api.put(f"/api/v1/organizations/mo1/patients/{pid}", json=body)
        assert r.status_code in (200, 201), r.text
        if body.get("phone"):
            self.goskey("POST", "/people", f.goskey_person(body), expect=None)

    def put_appointment(self, aid: str = "a1", *, starts_at: datetime, patient: str = "p1",
                        **over: Any) -> dict[str, Any]:
        body = f.appointment(patient_id=patient, **over)
        body["starts_at"] = starts_at.isoformat()
        r = self.api.put(f"/api/v1/organizations/mo1/appointments/{aid}", json=body)
        assert r.status_code in (200, 201), r.text
        result: dict[str, Any] = r.json()
        return result

    def deep_link_token(self, pid: str = "p1") -> str:
        r = self.api.post(f"/api/v1/organizations/mo1/patients/{pid}/max-link")
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["deep_link"] == f"{DEEP_LINK_BASE}?start={body['token']}"
        return str(body["token"])

    def link(self, pid: str = "p1", name: str = "Иван Иванов", phone: str | None = PHONE
             ) -> int:
        """A patient opens the portal's deep link in MAX: returns their MAX user id."""
        token = self.deep_link_token(pid)
        user_id = self.new_user(name, phone, start=True, payload=token)
        self.work()
        assert self.patient(pid).max_user_id == user_id
        return user_id

    def consents(self, aid: str = "a1") -> dict[str, tuple[str, str]]:
        r = self.api.get(f"/api/v1/organizations/mo1/appointments/{aid}")
        assert r.status_code == 200, r.text
        return {c["kind"]: (c["signing_method"], c["state"]) for c in r.json()["consents"]}

    def signing_requests(self) -> list[dict[str, Any]]:
        r = self.api.get("/api/v1/signing-requests")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    # -- the database, read-only -----------------------------------------------------------------
    def _one(self, fn: Callable[[Session], T]) -> T:
        with read_only(self.engine) as conn, Session(bind=conn) as db:
            result = fn(db)
            db.expunge_all()
            return result

    def patient(self, pid: str = "p1") -> PatientRow:
        return self._one(lambda db: db.scalars(
            select(PatientRow).where(PatientRow.external_id == pid)).one())

    def notification(self, aid: str = "a1") -> NotificationRow | None:
        """The appointment's live invitation: the newest row."""
        rows = self.notifications(aid)
        return rows[-1] if rows else None

    def notifications(self, aid: str = "a1") -> list[NotificationRow]:
        """Every invitation of the appointment, oldest first (moves supersede them)."""
        return self._one(lambda db: list(db.scalars(
            select(NotificationRow).join(AppointmentRow,
                                         AppointmentRow.id == NotificationRow.appointment_id)
            .where(AppointmentRow.external_id == aid).order_by(NotificationRow.id))))

    def items(self, kind: str) -> list[WorkItemRow]:
        return self._one(lambda db: list(db.scalars(
            select(WorkItemRow).where(WorkItemRow.kind == kind).order_by(WorkItemRow.id))))

    def count(self, model: Any) -> int:
        return self._one(lambda db: int(db.scalar(select(func.count()).select_from(model))
                                        or 0))

    def consent_rows(self) -> list[ConsentRow]:
        return self._one(lambda db: list(db.scalars(select(ConsentRow).order_by(ConsentRow.id))))

    def signing_rows(self) -> list[SigningRequestRow]:
        return self._one(lambda db: list(db.scalars(select(SigningRequestRow))))

    def update_rows(self) -> list[MaxUpdateRow]:
        return self._one(lambda db: list(db.scalars(select(MaxUpdateRow)
                                                    .order_by(MaxUpdateRow.id))))


def build_stand(engine: Engine, tmp_path: Path, *, updates: str = "polling",
                max_options: dict[str, Any] | None = None) -> BotStand:
    clock = FakeClock(START)
    org = f.organization()
    ca, _, _ = development_keys(tmp_path / "keys", code="mo1", name=org["name"],
                                ogrn=org["ogrn"], inn=org["inn"])
    goskey_app = create_goskey(GoskeyConfig(token=GOSKEY_TOKEN, state_dir=tmp_path / "goskey",
                                            mo_trust=(ca,), clock=clock.now))
    container = Container(load_settings(None, env=settings_env(updates)), engine, clock=clock,
                          keys_dir=tmp_path / "keys", journal_dir=tmp_path / "journal",
                          operator_ca=tmp_path / "goskey" / "operator-ca.pem",
                          goskey_transport=httpx.ASGITransport(goskey_app))
    service = container.app()
    options: dict[str, Any] = {"bot_username": BOT, "insecure_webhooks": True,
                               "webhook_time_scale": 0.001,
                               "clock": lambda: clock.now().timestamp(),
                               "webhook_transport": httpx.ASGITransport(service),
                               **(max_options or {})}
    max_app = create_max(MaxConfig(token=MAX_TOKEN, **options))
    container.max_transport = httpx.ASGITransport(max_app)
    api = TestClient(service, raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {f.token(engine)}"
    stand = BotStand(container, clock, max_app, goskey_app, api, asyncio.Runner(), updates)
    if updates == "webhook":
        container.ensure_background_work()  # the subscription; the poller only in its tests
        stand.run_worker()
        assert stand.emulator.store.subscription is not None
    return stand
