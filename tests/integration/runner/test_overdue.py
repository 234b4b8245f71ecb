"""How far behind the workers are, per kind: only due items count, not those waiting for
their time nor those a worker holds; the gauge shows 0 for a kind with nothing waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.runner import store

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_overdue_counts_due_items_only(engine: Engine) -> None:
    with engine.begin() as conn:
        store.enqueue(conn, kind="signing", step="send", now=NOW - timedelta(minutes=10),
                      run_at=NOW - timedelta(minutes=7))
        store.enqueue(conn, kind="signing", step="send", now=NOW,
                      run_at=NOW - timedelta(minutes=2))
        store.enqueue(conn, kind="max", step="invite", now=NOW, run_at=NOW + timedelta(days=1))
        held = store.enqueue(conn, kind="mail", step="send", now=NOW,
                             run_at=NOW - timedelta(minutes=30))
        claimed = store.claim(conn, kinds=["mail"], worker="w1", now=NOW,
                              lease=timedelta(minutes=1), limit=10)
    assert [i.id for i in claimed] == [held]
    with engine.connect() as conn:
        assert store.overdue_since(conn, now=NOW) == {"signing": NOW - timedelta(minutes=7)}


def test_the_gauge_reports_seconds_behind_per_kind(engine: Engine) -> None:
    with engine.begin() as conn:
        store.enqueue(conn, kind="signing", step="send", now=NOW,
                      run_at=NOW - timedelta(seconds=90))
        store.enqueue(conn, kind="max", step="invite", now=NOW, run_at=NOW + timedelta(hours=1))
    with TestClient(create_app(engine, clock=FakeClock(NOW))) as client:
        text = client.get("/metrics").text
    assert 'medsign_runner_overdue_seconds{kind="signing"} 90.0' in text
    assert 'medsign_runner_overdue_seconds{kind="max"} 0.0' in text
