"""Webhook deliveries survive SIGKILL: worker processes delivering events to a real receiver
(which answers slowly, so kills land mid-request) are killed at random and replaced; every
event still arrives, each verified by the Standard Webhooks reference library — at least
once, and the repeats (a kill between the POST and its commit) are counted. A kill between a
request's headers and its body leaves the receiver a request cut short, which no server takes
for one: the receiver counts it apart, and the event is delivered again."""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow, WebhookDeliveryRow
from medsign.domain.webhooks import EventType, Targets
from medsign.webhooks import outbox
from medsign.webhooks import service as webhooks
from tests import factories as f
from tests.e2e.runner.test_crash import Fleet
from tests.integration.webhooks.receiver import Receiver, receiver

pytestmark = pytest.mark.slow

EVENTS = 150
KILLS = 5
TIMEOUT_S = 120.0


class WebhookFleet(Fleet):
    def __init__(self, db_url: str, logs: Path, workers: int) -> None:
        super().__init__(db_url, "unused", logs)
        self.command = [self.command[0], "-m", "tests.e2e.runner.webhook_worker", "--db",
                        db_url, "--concurrency", "8", "--lease", "2"]
        self.workers = workers


@pytest.fixture
def mis() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def seed(engine: Engine, url: str) -> tuple[str, int]:
    f.token(engine, name="mis")
    now = datetime.now(UTC)
    with Session(engine) as db:
        org = OrganizationRow(code="mo1", name="МО", address="адрес", ogrn=f.ogrn(),
                              inn="7701234567", kpp="770101001", timezone="Europe/Moscow",
                              template_ids={}, created_at=now, updated_at=now)
        db.add(org)
        made = webhooks.create(db, api_client_id=webhooks.client_by_name(db, "mis").id, url=url,
                               event_types=[EventType.invitation_sent.value],
                               description=None, targets=Targets(), actor="test", now=now)
        db.flush()
        for _ in range(EVENTS):
            outbox.emit(db, EventType.invitation_sent, organization_id=org.id,
                        organization_code="mo1", subject_id=str(uuid.uuid4()),
                        data={"n": 1}, now=now)
        db.commit()
        return made.secret, org.id


def delivered(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(WebhookDeliveryRow)
                             .where(WebhookDeliveryRow.state == "delivered")) or 0)


def test_killed_workers_lose_no_event(backend: str, db_url: str, engine: Engine,
                                      mis: Receiver, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    mis.secret, _ = seed(engine, mis.url)
    mis.delay = 0.03
    fleet = WebhookFleet(db_url, tmp_path, workers=1 if backend == "sqlite" else 2)
    rng = random.Random()
    try:
        for _ in range(fleet.workers):
            fleet.start()
        deadline = time.monotonic() + TIMEOUT_S
        kills = 0
        while delivered(engine) < EVENTS:
            fleet.check()
            assert time.monotonic() < deadline, (delivered(engine), fleet.describe())
            if kills < KILLS and len(mis.received) > (kills + 1) * EVENTS // (KILLS + 2):
                time.sleep(rng.uniform(0, 0.05))
                fleet.kill(fleet.alive()[0])
                kills += 1
                fleet.start()
            time.sleep(0.01)
    finally:
        fleet.close()
    ids = Counter(r.webhook_id for r in mis.received)
    assert len(ids) == EVENTS  # every event arrived
    assert all(r.verified for r in mis.received)
    repeats = sum(n - 1 for n in ids.values())
    with capsys.disabled():
        sys.stdout.write(f"\n[webhook-crash] {backend}: {EVENTS} events, {kills} kills, "
                         f"{len(mis.received)} requests, {repeats} repeats, "
                         f"{mis.cut_short} cut short by a kill\n")
    assert kills == KILLS
