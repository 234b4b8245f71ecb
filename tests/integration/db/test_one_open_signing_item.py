"""The database keeps at most one open signing work item per request (both back ends).

The service enqueues a request's signing item with the request and then moves, retries or
ends that item; a second open one would drive the same transaction twice, and the alert lists
(they walk the scheduled items) would show the request twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, update
from sqlalchemy.exc import IntegrityError

from medsign.db.engine import make_engine
from medsign.db.migrate import alembic_config, upgrade
from medsign.db.models import ONE_OPEN_SIGNING_ITEM_INDEX, WorkItemRow
from medsign.runner import store
from medsign.signing.service import SIGNING_KIND

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def _enqueue(engine: Engine, ref: str, *, kind: str = SIGNING_KIND, status: str | None = None,
             at: datetime = NOW) -> int:
    with engine.begin() as conn:
        item_id = store.enqueue(conn, kind=kind, step="send", ref=ref, now=at)
        if status is not None:
            conn.execute(update(WorkItemRow).where(WorkItemRow.id == item_id)
                         .values(status=status))
        return item_id


def _items(engine: Engine, ref: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.kind, r.status) for r in conn.execute(
            select(WorkItemRow.kind, WorkItemRow.status).where(WorkItemRow.ref == ref)
            .order_by(WorkItemRow.id))]


@pytest.mark.parametrize("first", ["scheduled", "failed"])
@pytest.mark.parametrize("second", ["scheduled", "failed"])
def test_the_index_refuses_a_second_open_signing_item(engine: Engine, first: str,
                                                      second: str) -> None:
    _enqueue(engine, "r1", status=first)
    with pytest.raises(IntegrityError):
        _enqueue(engine, "r1", status=second)
    assert _items(engine, "r1") == [(SIGNING_KIND, first)]


def test_finished_items_other_kinds_and_other_requests_do_not_count(engine: Engine) -> None:
    for status in ("done", "cancelled"):
        _enqueue(engine, "r1", status=status)
    _enqueue(engine, "r1")
    _enqueue(engine, "r1", kind="max.copies")
    _enqueue(engine, "r1", kind="max.copies")
    _enqueue(engine, "r2")
    assert _items(engine, "r1") == [(SIGNING_KIND, "done"), (SIGNING_KIND, "cancelled"),
                                    (SIGNING_KIND, "scheduled"), ("max.copies", "scheduled"),
                                    ("max.copies", "scheduled")]
    assert _items(engine, "r2") == [(SIGNING_KIND, "scheduled")]


def test_the_migrated_index_is_the_models_index(engine: Engine) -> None:
    found = {ix["name"]: ix for ix in inspect(engine).get_indexes("work_items")}
    index = found[ONE_OPEN_SIGNING_ITEM_INDEX]
    assert index["column_names"] == ["ref"] and index["unique"]


def test_the_migration_cancels_older_duplicates_before_building_the_index(
        empty_url: str) -> None:
    """A database from before the index (restored by hand, say) may hold two open signing
    items of one request: all but the newest are cancelled, saying why; nothing is deleted,
    and the other requests' items are left as they were."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        command.downgrade(alembic_config(engine), "0020")
        oldest = _enqueue(engine, "r1", status="failed", at=NOW - timedelta(hours=2))
        older = _enqueue(engine, "r1", at=NOW - timedelta(hours=1))
        newest = _enqueue(engine, "r1")
        finished = _enqueue(engine, "r1", status="done")  # newer still, but not open
        alone = _enqueue(engine, "r2")
        upgrade(engine)
        with engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(WorkItemRow))}
        assert {i: rows[i].status for i in (oldest, older, newest, finished, alone)} == {
            oldest: "cancelled", older: "cancelled", newest: "scheduled", finished: "done",
            alone: "scheduled"}
        for cancelled in (rows[oldest], rows[older]):
            assert cancelled.last_error is not None and "newer open signing item" in \
                cancelled.last_error
            assert cancelled.finished_at is not None and cancelled.next_run_at is None
        assert rows[newest].last_error is None and rows[alone].last_error is None
        with pytest.raises(IntegrityError):
            _enqueue(engine, "r1")
    finally:
        engine.dispose()
