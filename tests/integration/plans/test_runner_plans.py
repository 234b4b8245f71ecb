"""The runner's hot queries under a backlog, by their plans (PostgreSQL): with 200,000 work
items of which 50,000 are due, a claim reads about what it returns — per kind at most one
batch through ``ix_work_items_kind_due`` — and never scans or sorts the table. The idle
wait, the per-subject cancel and the housekeeping delete are index-bound too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text

from medsign.config import HousekeepingSettings
from medsign.housekeeping import service as housekeeping
from medsign.runner import store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KINDS = ["signing", "notify", "max.update", "mail.send", "webhook.deliver", "message",
         "housekeeping", "max.poll"]
ROWS, DUE = 200_000, 50_000
LIMIT = 32


@pytest.fixture
def seeded(backend: str, engine: Engine) -> Engine:
    if backend != "postgresql":
        pytest.skip("plans are checked on PostgreSQL")
    # Every fourth row due (each kind in turn, the oldest a day late), as many waiting for
    # their time, the rest finished over the last 60 days.
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO work_items (kind, ref, status, step, data, next_run_at, lease_version,
                                    attempts, created_at, updated_at, finished_at)
            SELECT kinds[1 + (g / 4) % cardinality(kinds)], 'ref-' || g,
                   CASE WHEN g % 4 < 2 THEN 'scheduled' ELSE 'done' END, 's', '{}',
                   CASE WHEN g % 4 = 0 THEN now_ - make_interval(secs => g % 86400)
                        WHEN g % 4 = 1 THEN now_ + make_interval(secs => 1 + g % 864000)
                   END,
                   0, 0, now_, now_,
                   CASE WHEN g % 4 > 1 THEN now_ - make_interval(secs => g * 25) END
            FROM generate_series(1, :rows) AS g,
                 (SELECT CAST(:kinds AS text[]) AS kinds,
                         CAST(:now AS timestamptz) AS now_) AS p"""),
            {"kinds": KINDS, "now": NOW, "rows": ROWS})
        conn.execute(text("ANALYZE work_items"))
        due = conn.execute(text("SELECT count(*) FROM work_items WHERE status = 'scheduled' "
                                "AND next_run_at <= :now"), {"now": NOW}).scalar_one()
    assert due == DUE
    return engine


# ---- a small plan walker ----

def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def explain(conn: Connection, statement: Any) -> dict[str, Any]:
    """The executed plan of ``statement`` (EXPLAIN ANALYZE; the caller rolls back)."""
    compiled = statement.compile(dialect=conn.dialect,
                                 compile_kwargs={"render_postcompile": True})
    [[document]] = conn.exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params).all()
    return dict(document[0]["Plan"])


def table_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in nodes(plan) if n.get("Relation Name") == "work_items"
            and n["Node Type"] != "ModifyTable"]


def rows_read(plan: dict[str, Any]) -> int:
    """Rows the scans of ``work_items`` produced, over all their loops."""
    return sum(n["Actual Rows"] * n["Actual Loops"]
               + n.get("Rows Removed by Filter", 0) for n in table_scans(plan))


def assert_index_bound(plan: dict[str, Any], *, read_at_most: int) -> None:
    scans = table_scans(plan)
    assert scans, plan
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
    for node in nodes(plan):
        # A sort of what the index ranges returned is fine; never one fed by the table.
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            assert not any(child.get("Relation Name") == "work_items"
                           for child in node.get("Plans", [])), node
            assert node["Actual Rows"] <= read_at_most, node
    assert rows_read(plan) <= read_at_most, plan


def in_rolled_back(engine: Engine, check: Any) -> None:
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            check(conn)
        finally:
            trans.rollback()


@pytest.mark.parametrize("kinds", [KINDS, ["mail.send"], ["mail.send", "nothing.due"]],
                         ids=["all kinds", "one kind", "a kind with nothing"])
def test_claim_reads_what_it_returns(seeded: Engine, kinds: list[str]) -> None:
    def check(conn: Connection) -> None:
        statement = store.claim_statement(conn, kinds=kinds, worker="w", now=NOW,
                                          lease=timedelta(minutes=5), limit=LIMIT)
        plan = explain(conn, statement)
        assert plan["Actual Rows"] == LIMIT  # every kind has more than a batch due
        used = {n.get("Index Name") for n in table_scans(plan)}
        assert "ix_work_items_kind_due" in used, used
        # At most one batch per kind, plus the update's look-up of what it leases.
        assert_index_bound(plan, read_at_most=LIMIT * (len(kinds) + 1))
    in_rolled_back(seeded, check)


def test_the_idle_wait_reads_one_entry_per_kind(seeded: Engine) -> None:
    def check(conn: Connection) -> None:
        plan = explain(conn, store.next_due_query(conn, KINDS))
        assert_index_bound(plan, read_at_most=len(KINDS))
    in_rolled_back(seeded, check)


def test_cancel_for_a_subject_is_index_bound(seeded: Engine) -> None:
    g = 8  # a due item of the seed: its kind and ref
    kind, ref = KINDS[(g // 4) % len(KINDS)], f"ref-{g}"

    def check(conn: Connection) -> None:
        statement = store.cancel_for_ref_statement(kind=kind, ref=ref, now=NOW, reason="x")
        plan = explain(conn, statement)
        assert_index_bound(plan, read_at_most=1)
        assert conn.execute(select(store.T.c.status).where(store.T.c.ref == ref)
                            ).scalar_one() == store.CANCELLED
    in_rolled_back(seeded, check)


def test_pruning_finished_work_reads_one_batch(seeded: Engine) -> None:
    retention = HousekeepingSettings()
    rule = housekeeping.rules(retention, {})["work_items"]
    batch = 500

    def check(conn: Connection) -> None:
        plan = explain(conn, rule.chosen(NOW, batch))
        assert {n.get("Index Name") for n in table_scans(plan)} == {"ix_work_items_finished"}
        assert plan["Actual Rows"] == batch
        assert_index_bound(plan, read_at_most=batch)
    in_rolled_back(seeded, check)
