"""Acceptance (issue 9): starting signing from the three paths at once opens exactly one request.

Each round makes a fresh appointment and starts signing it at the same moment from the МИС
API (``POST …/signing-requests``), the doctor's workstation (the confirmation's POST) and the
patient's «Подписать онлайн» in MAX (the stored update, handled as the worker handles it);
one wins, the other two are refused with ``signing_request_active`` and create nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.bot import updates as max_updates
from medsign.bot.flow import handling
from medsign.clock import FakeClock
from medsign.db.models import AppointmentRow, MaxUpdateRow, NotificationRow, SigningRequestRow
from medsign.domain import bot as bot_texts
from medsign.domain.signing import OPEN_STATES
from medsign.serving import BotSettings
from tests import factories as f
from tests.identities import Identities
from tests.integration.web import stand

ROUNDS = 30
MAX_USER = 424242
WAIT = 60  # seconds a path may take at most (a deadlock would hang the round)


@dataclass
class Paths:
    api: TestClient
    doctor: TestClient
    csrf: str
    handler: max_updates.Handler
    engine: Engine
    clock: FakeClock


@pytest.fixture
def paths(engine: Engine, seeded: stand.Seeded, client: TestClient,
          new_client: Callable[[], TestClient], clock: FakeClock, bot: BotSettings) -> Paths:
    doctor = stand.logged_in(client, "doc1")
    api = new_client()
    api.headers["Authorization"] = f"Bearer {f.token(engine)}"
    csrf = stand.token_of(doctor, f"/doctor/organizations/mo1/appointments/{seeded.today_mo1}/sign")
    handler = max_updates.Handler(clock=clock, policy=bot.policy,
                                       identities=Identities())
    return Paths(api, doctor, csrf, handler, engine, clock)


def test_three_paths_at_once_open_exactly_one_request(paths: Paths) -> None:
    for n in range(ROUNDS):
        aid, update_id = _fresh_appointment(paths, n)
        outcomes = _race(paths, aid, update_id)
        winners = [path for path, won in outcomes.items() if won]
        assert len(winners) == 1, (n, outcomes)
        _exactly_one_open(paths.engine, aid, initiated_by={"api": "mis", "doctor": "doctor",
                                                           "patient": "patient"}[winners[0]])


def _race(paths: Paths, aid: str, update_id: int) -> dict[str, bool]:
    """The three starts released together; which of them won."""
    barrier = threading.Barrier(3)

    def at_once(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            barrier.wait(timeout=WAIT)
            return call()
        return run
    with ThreadPoolExecutor(max_workers=3) as pool:
        api = pool.submit(at_once(lambda: paths.api.post(
            f"/api/v1/organizations/mo1/appointments/{aid}/signing-requests")))
        doctor = pool.submit(at_once(lambda: paths.doctor.post(
            f"/doctor/organizations/mo1/appointments/{aid}/sign", data={"csrf_token": paths.csrf})))
        patient = pool.submit(at_once(lambda: _press(paths, update_id)))
        return {"api": _api_won(api.result(timeout=WAIT)),
                "doctor": _doctor_won(doctor.result(timeout=WAIT)),
                "patient": _patient_won(patient.result(timeout=WAIT))}


def _fresh_appointment(paths: Paths, n: int) -> tuple[str, int]:
    """An appointment of Иванова (mo1) with a sent invitation, and her press of its button
    stored as MAX delivered it."""
    aid, now = f"race-{n}", paths.clock.now()
    token = f"race-token-{n:04d}"
    with Session(paths.engine) as db:
        stand.appointment(db, aid, "mo1", "p1", now + timedelta(hours=5, minutes=n), now)
        appt = db.scalars(select(AppointmentRow).where(AppointmentRow.external_id == aid)).one()
        db.add(NotificationRow(
            appointment_id=appt.id, patient_id=appt.patient_id, state="sent", token=token,
            token_expires_at=now + timedelta(hours=5), max_user_id=MAX_USER, chat_id=77,
            message_mid=f"mid-{n}", sent_at=now, created_at=now, updated_at=now))
        db.commit()
    raw = {"update_type": "message_callback", "timestamp": n + 1,
           "callback": {"callback_id": f"cb-{n}", "timestamp": n + 1,
                        "payload": bot_texts.payload(bot_texts.Choice.sign, token),
                        "user": {"user_id": MAX_USER, "name": "Мария"}},
           "message": {"body": {"mid": f"mid-{n}"}, "recipient": {"chat_id": 77}}}
    with paths.engine.begin() as conn:
        assert max_updates.ingest(conn, raw, via="webhook", now=now)
        update_id = conn.execute(select(MaxUpdateRow.id).where(
            MaxUpdateRow.dedupe_key == max_updates.dedupe_key(raw))).scalar_one()
    return aid, update_id


def _press(paths: Paths, update_id: int) -> dict[str, Any]:
    """The worker's ``handle`` step of the stored update, in a transaction of its own."""
    with paths.engine.begin() as conn:
        handling(paths.handler, update_id)(conn)
    with Session(paths.engine) as db:
        outcome = db.get_one(MaxUpdateRow, update_id).outcome
    assert outcome is not None
    return dict(outcome)


def _api_won(r: Any) -> bool:
    if r.status_code == 201:
        return True
    assert (r.status_code, r.json()["code"]) == (409, "signing_request_active"), r.text
    assert r.json()["signing_request"]  # names the open request
    return False


def _doctor_won(r: Any) -> bool:
    if r.status_code == 303:
        assert r.headers["location"].endswith("?msg=signing_started")
        return True
    assert r.status_code == 409, r.text[:300]
    assert "подписание уже идёт" in r.text
    return False


def _patient_won(outcome: dict[str, Any]) -> bool:
    answer = outcome["answer"]
    if answer.get("text") is not None:
        assert answer["toast"] == bot_texts.SIGNING_STARTED_TOAST
        return True
    assert answer["toast"] == bot_texts.SIGNING_ALREADY_OPEN
    return False


def _exactly_one_open(engine: Engine, aid: str, *, initiated_by: str) -> None:
    with Session(engine) as db:
        appt = db.scalars(select(AppointmentRow).where(AppointmentRow.external_id == aid)).one()
        requests = list(db.scalars(select(SigningRequestRow)
                                   .where(SigningRequestRow.appointment_id == appt.id)))
        notification = db.scalars(select(NotificationRow)
                                  .where(NotificationRow.appointment_id == appt.id)).one()
    assert len(requests) == 1, [(r.id, r.state, r.initiated_by) for r in requests]
    assert requests[0].state in OPEN_STATES and requests[0].initiated_by == initiated_by
    # The patient's path records its request only when it started it.
    expected = requests[0].id if initiated_by == "patient" else None
    assert notification.signing_request_id == expected
