"""The runner's hot queries under a backlog, by their plans (PostgreSQL): with 200,000 work
items of which 50,000 are due, a claim reads about what it returns — per kind at most one
batch through ``ix_work_items_kind_due`` — and never scans or sorts the table. The idle
wait, the per-subject cancel and the housekeeping deletes (work items, webhook history)
are index-bound too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from medsign.config import HousekeepingSettings
from medsign.db.models import ApiClientRow, WebhookEndpointRow
from medsign.housekeeping import service as housekeeping
from medsign.runner import store
from tests import factories as f
from tests.integration.plans import plan_kit as plans

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KINDS = ["signing", "notify", "max.update", "mail.send", "webhook.deliver", "message",
         "housekeeping", "max.poll"]
ROWS, DUE = 200_000, 50_000
LIMIT = 32
WORK_ITEMS = frozenset({"work_items"})
WEBHOOKS = frozenset({"webhook_events", "webhook_deliveries", "webhook_attempts"})


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
        plans.analyze(conn, "work_items")
        due = conn.execute(text("SELECT count(*) FROM work_items WHERE status = 'scheduled' "
                                "AND next_run_at <= :now"), {"now": NOW}).scalar_one()
    assert due == DUE
    return engine


# ---- plans of statements built here (plan_kit reads them) ----

def explain(conn: Connection, statement: Any) -> dict[str, Any]:
    """The executed plan of ``statement`` (EXPLAIN ANALYZE; the caller rolls back)."""
    compiled = statement.compile(dialect=conn.dialect,
                                 compile_kwargs={"render_postcompile": True})
    [[document]] = conn.exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params).all()
    return dict(document[0]["Plan"])


def table_scans(plan: dict[str, Any], tables: frozenset[str]) -> list[dict[str, Any]]:
    return [n for n in plans.walk(plan) if n.get("Relation Name") in tables
            and n["Node Type"] != "ModifyTable"]


def rows_read(plan: dict[str, Any], tables: frozenset[str]) -> int:
    """Rows the scans of ``tables`` produced or dropped, over all their loops."""
    return sum(plans.rows_read(n) for n in table_scans(plan, tables))


def assert_index_bound(plan: dict[str, Any], *, read_at_most: int,
                       tables: frozenset[str] = frozenset({"work_items"})) -> None:
    scans = table_scans(plan, tables)
    assert scans, plan
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
    for node in plans.walk(plan):
        # A sort of what the index ranges returned is fine; never one fed by a table.
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            assert not any(child.get("Relation Name") in tables
                           for child in node.get("Plans", [])), node
            assert node["Actual Rows"] <= read_at_most, node
    assert rows_read(plan, tables) <= read_at_most, plan


def deleted(plan: dict[str, Any]) -> int:
    """Rows a DELETE without RETURNING removed: what reached its ModifyTable node."""
    [deleting] = [n for n in plans.walk(plan) if n["Node Type"] == "ModifyTable"]
    return int(deleting["Plans"][0]["Actual Rows"])


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
        used = {n.get("Index Name") for n in table_scans(plan, WORK_ITEMS)}
        assert "ix_work_items_kind_due" in used, used
        # At most one batch per kind, plus the update's look-up of what it leases.
        assert_index_bound(plan, read_at_most=LIMIT * (len(kinds) + 1))
    in_rolled_back(seeded, check)


def test_queue_stats_read_the_open_work_and_the_last_hour_only(seeded: Engine) -> None:
    def check(conn: Connection) -> None:
        # weeks of finished work, as housekeeping keeps it: far more than the open work
        conn.execute(text("""
            INSERT INTO work_items (kind, ref, status, step, data, lease_version, attempts,
                                    created_at, updated_at, finished_at)
            SELECT 'mail.send', 'old-' || g, 'done', 's', '{}', 0, 0, t, t, t
            FROM generate_series(1, 600000) AS g,
                 LATERAL (SELECT CAST(:now AS timestamptz)
                                 - make_interval(secs => 3600 + g) AS t) AS at_"""),
                     {"now": NOW})
        plans.analyze(conn, "work_items")
        open_, recent = conn.execute(text(
            "SELECT count(*) FILTER (WHERE status IN ('scheduled', 'failed')), "
            "count(*) FILTER (WHERE status IN ('done', 'cancelled') AND finished_at >= :since) "
            "FROM work_items"), {"since": NOW - store.FINISHED_WINDOW}).one()
        with plans.capture(seeded) as seen:
            stats = store.queue_stats(conn, now=NOW)
        assert sum(s.count for s in stats) == open_ + recent
        assert not any(s.more for s in stats)
        # the scheduled work, the failed work, the last hour's finished work
        assert len(seen.selects()) == 3
        for statement in seen.selects():
            plan = plans.explain(conn, statement)
            plans.assert_index_bound(plan, tables=WORK_ITEMS, driving="work_items",
                                     max_sorted=open_ + recent, max_read=open_ + recent)
    in_rolled_back(seeded, check)


def test_the_overviews_queue_counts_each_kind_up_to_its_most(seeded: Engine) -> None:
    most = 100

    def check(conn: Connection) -> None:
        exact = {(s.kind, s.status): s for s in store.queue_stats(conn, now=NOW)}
        with plans.capture(seeded) as seen:
            capped = {(s.kind, s.status): s for s in store.queue_stats(conn, now=NOW, most=most)}
        assert capped.keys() == exact.keys()
        for key, s in capped.items():
            assert s.oldest == exact[key].oldest
            assert (s.count, s.more) == ((exact[key].count, False) if exact[key].count <= most
                                         else (most, True)), key
        assert any(s.more for s in capped.values())
        for statement in seen.selects():  # the kinds one look-up each, then most + 1 a kind
            plan = plans.explain(conn, statement)
            plans.assert_index_bound(plan, tables=WORK_ITEMS, max_sorted=most + 1,
                                     max_read=(most + 1) * len(KINDS) + len(KINDS) + 1)
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
        plan = explain(conn, rule.statement(NOW, batch))
        assert "ix_work_items_finished" in {
            n.get("Index Name") for n in table_scans(plan, WORK_ITEMS)}
        assert deleted(plan) == batch
        # The batch through the index, then each of its rows by id.
        assert_index_bound(plan, read_at_most=2 * batch)
    in_rolled_back(seeded, check)


@pytest.fixture
def webhook_history(backend: str, engine: Engine) -> Engine:
    """50,000 events over 85 days, one delivery each (every 50th still pending), two
    attempts per delivery."""
    if backend != "postgresql":
        pytest.skip("plans are checked on PostgreSQL")
    f.token(engine)
    with Session(engine) as db:
        client = db.scalars(select(ApiClientRow)).one()
        org = f.organization_row(db, NOW)
        db.add(WebhookEndpointRow(id="ep1", api_client_id=client.id, url="https://mis.test/h",
                                  event_types=["signing.completed"], secret="whsec_x",
                                  state="active", created_at=NOW, updated_at=NOW))
        db.commit()
        org_id = org.id
    with engine.begin() as conn:
        params = {"now": NOW, "org": org_id, "rows": 50_000}
        conn.execute(text("""
            INSERT INTO webhook_events (id, type, organization_id, subject_id, body, created_at)
            SELECT 'e' || g, 'signing.completed', :org, 'a' || g, '{}',
                   CAST(:now AS timestamptz) - make_interval(secs => g * 150)
            FROM generate_series(1, :rows) AS g"""), params)
        conn.execute(text("""
            INSERT INTO webhook_deliveries (id, event_id, endpoint_id, state, attempts,
                                            last_attempt_at, delivered_at, created_at)
            SELECT 'd' || g, 'e' || g, 'ep1',
                   CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'delivered' END, 2, at_, at_,
                   created_
            FROM generate_series(1, :rows) AS g,
                 LATERAL (SELECT CAST(:now AS timestamptz) - make_interval(secs => g * 150)
                                 AS created_) AS c,
                 LATERAL (SELECT created_ + interval '1 minute' AS at_) AS a"""), params)
        conn.execute(text("""
            INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms)
            SELECT 'd' || g, CAST(:now AS timestamptz) - make_interval(secs => g * 150),
                   500, 10
            FROM generate_series(1, :rows) AS g, generate_series(1, 2) AS n"""), params)
        plans.analyze(conn, "webhook_events, webhook_deliveries, webhook_attempts")
    return engine


# What the earlier rules of the history leave for a rule: nothing yet (the oldest rows wait
# for their children), or a history whose older part has lost its children.
CHILDREN_GONE = {
    "webhook_deliveries": ["DELETE FROM webhook_attempts WHERE at < :before"],
    "webhook_events": ["DELETE FROM webhook_attempts WHERE at < :before",
                       "DELETE FROM webhook_deliveries WHERE created_at < :before"],
}


@pytest.mark.parametrize("children_gone", [False, True], ids=["children left", "children gone"])
@pytest.mark.parametrize("table", ["webhook_attempts", "webhook_deliveries", "webhook_events"])
def test_pruning_webhook_history_reads_about_one_batch(webhook_history: Engine, table: str,
                                                       children_gone: bool) -> None:
    batch = 200
    rule = housekeeping.rules(HousekeepingSettings(), {}, batch)[table]

    def check(conn: Connection) -> None:
        if children_gone:
            for statement in CHILDREN_GONE.get(table, []):
                conn.execute(text(statement), {"before": NOW - timedelta(days=60)})
        plan = explain(conn, rule.statement(NOW, batch))
        may_go = table == "webhook_attempts" or children_gone
        assert deleted(plan) == (batch if may_go else 0)
        # One window of the oldest candidates, plus per candidate a probe of its children.
        assert_index_bound(plan, read_at_most=4 * batch, tables=WEBHOOKS)
    in_rolled_back(webhook_history, check)
