from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from tests.integration.bot.stand import START, BotStand, build_stand

MOSCOW = ZoneInfo("Europe/Moscow")
DAY1 = START.date() + timedelta(days=1)  # the day before the visit
DAY2 = START.date() + timedelta(days=2)  # the visit's day
# Announced at 14:00 Moscow time the day before.
VISIT = datetime.combine(DAY2, time(14, 0), tzinfo=MOSCOW)


@pytest.fixture
def stand(engine: Engine, tmp_path: Path) -> Iterator[BotStand]:
    built = build_stand(engine, tmp_path)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def webhook_stand(engine: Engine, tmp_path: Path) -> Iterator[BotStand]:
    built = build_stand(engine, tmp_path, updates="webhook")
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(params=["polling", "webhook"])
def any_stand(request: pytest.FixtureRequest, engine: Engine,
              tmp_path: Path) -> Iterator[BotStand]:
    built = build_stand(engine, tmp_path, updates=request.param)
    try:
        yield built
    finally:
        built.close()


@dataclass(frozen=True)
class Invited:
    user_id: int
    mid: str
    token: str

    @property
    def sign(self) -> str:
        return f"sign:{self.token}"

    @property
    def paper(self) -> str:
        return f"paper:{self.token}"


def invite(stand: BotStand, *, starts_at: datetime = VISIT) -> Invited:
    """A linked patient with an appointment whose invitation has just been sent."""
    stand.put_organization()
    stand.put_patient()
    user_id = stand.link()
    stand.put_appointment(starts_at=starts_at)
    row = stand.notification()
    assert row is not None and row.scheduled_for is not None
    stand.set_time(row.scheduled_for)
    stand.work()
    row = stand.notification()
    assert row is not None and row.state == "sent" and row.message_mid, row
    return Invited(user_id, row.message_mid, row.token)
