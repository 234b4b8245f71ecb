"""Reading PostgreSQL plans in tests: capture the exact statements a repository function
executes, ``EXPLAIN (FORMAT JSON)`` them with their own parameters, and assert on the plan's
shape (index access on the named tables, no sort over a whole table).

Generic on purpose: nothing here knows medsign's tables or queries (a seeded database is
migrated by the project's migrations and filled by the caller's seed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from medsign.db.engine import make_engine
from medsign.db.migrate import upgrade
from tests.dbs import scratch_pg_database

Plan = dict[str, Any]
INDEX_NODES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})
SCANS = INDEX_NODES | {"Seq Scan", "Bitmap Heap Scan", "Tid Scan", "Tid Range Scan"}


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any


@dataclass
class Captured:
    statements: list[Statement] = field(default_factory=list)

    def selects(self) -> list[Statement]:
        return [s for s in self.statements if s.sql.lstrip().upper().startswith(("SELECT",
                                                                                  "WITH"))]


@contextmanager
def capture(engine: Engine) -> Iterator[Captured]:
    """Every statement the engine's connections execute inside the block, as sent."""
    found = Captured()

    def remember(conn: Connection, cursor: Any, statement: str, parameters: Any,
                 context: Any, executemany: bool) -> None:
        if not executemany:
            found.statements.append(Statement(statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", remember)


# Statistics from (nearly) every row of a seeded table: ANALYZE's default sample (30 000
# rows) is random, and a plan chosen on borderline statistics would flip from run to run.
STATISTICS_TARGET = 2000


def analyze(conn: Connection, tables: str = "") -> None:
    """ANALYZE (the named ``tables``, or all) with a sample large enough to be the table."""
    conn.exec_driver_sql(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
    conn.exec_driver_sql(f"ANALYZE {tables}".rstrip())


@contextmanager
def seeded_database(request: pytest.FixtureRequest,
                    seed: Callable[[Connection], None]) -> Iterator[Engine]:
    """A scratch PostgreSQL database, migrated, filled by ``seed`` in one transaction and
    vacuumed (``vacuum_analyze``); skipped when ``--db sqlite`` was chosen."""
    if request.config.getoption("--db") == "sqlite":
        pytest.skip("plans are PostgreSQL's, and --db sqlite was chosen")
    with scratch_pg_database("medsign_plans") as url:
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            seed(conn)
        vacuum_analyze(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def vacuum_analyze(engine: Engine) -> None:
    """``VACUUM (ANALYZE)`` of the whole database, with ``analyze``'s full sample: a working
    database is vacuumed by autovacuum, whose visibility map lets an index-only scan skip
    the table — and the planner costs such scans by it, so a freshly seeded, unvacuumed
    database would show plans production never runs."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"SET default_statistics_target = {STATISTICS_TARGET}")
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def explain(conn: Connection, statement: Statement, *, analyze: bool = True) -> Plan:
    """The plan's root node of ``statement`` with its own parameters (as the driver binds
    them, so the planner sees what it sees in production). ``analyze`` runs it too (a
    SELECT only) and adds each node's actual row counts: how much a scan really read is
    what makes a plan bounded, and it is a count, not a time."""
    options = "ANALYZE, BUFFERS OFF, TIMING OFF, FORMAT JSON" if analyze else "FORMAT JSON"
    rows = conn.exec_driver_sql(f"EXPLAIN ({options}) " + statement.sql,
                                statement.parameters).scalar_one()
    data = json.loads(rows) if isinstance(rows, str) else rows
    root: Plan = data[0]["Plan"]
    return root


def walk(plan: Plan) -> Iterator[Plan]:
    """The node and every node below it, depth first (init plans and subplans included)."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from walk(child)


def scans(plan: Plan) -> list[Plan]:
    """The nodes that read a relation (or an index of one)."""
    return [n for n in walk(plan) if n["Node Type"] in SCANS]


def relation(node: Plan) -> str | None:
    """The table a scan reads (an index scan names its table too)."""
    name: str | None = node.get("Relation Name")
    return name


def rows_read(node: Plan) -> int:
    """The rows a scan of an analysed plan looked at over all its loops: those it returned
    and those its filter or recheck threw away (0 for a plan not analysed)."""
    per_loop = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0))
    return int(per_loop * node.get("Actual Loops", 1))


def describe(plan: Plan, depth: int = 0) -> str:
    """The plan as indented lines (for assertion messages)."""
    node = plan
    what = " ".join(str(x) for x in (node["Node Type"], relation(node) or "",
                                     node.get("Index Name", "")) if x)
    read = f", read={rows_read(node)}" if "Actual Rows" in node else ""
    lines = [f"{'  ' * depth}{what} (rows={node.get('Plan Rows')}{read})"]
    lines += [describe(c, depth + 1) for c in node.get("Plans", ())]
    return "\n".join(lines)


def assert_index_bound(plan: Plan, *, tables: set[str] | frozenset[str],
                       driving: str | None = None, max_sorted: int = 5000,
                       max_read: int | None = None) -> None:
    """Every read of ``tables`` goes through an index (no Seq Scan), ``driving`` (if named)
    is read through an index, no Sort sorts more than ``max_sorted`` estimated rows or has a
    Seq Scan of ``tables`` under it (a sort above a LIMITed page is fine), and (an analysed
    plan, ``max_read`` given) no scan of ``tables`` looks at more than ``max_read`` rows —
    which a keyset applied as a filter instead of an index bound does deep in the history."""
    text = describe(plan)
    read = [n for n in scans(plan) if relation(n) in tables]
    seq = [relation(n) for n in read if n["Node Type"] == "Seq Scan"]
    assert not seq, f"Seq Scan on {seq}:\n{text}"
    if max_read is not None:
        assert all(rows_read(n) <= max_read for n in read), \
            f"a scan reads more than {max_read} rows:\n{text}"
    if driving is not None:
        assert any(n["Node Type"] in INDEX_NODES | {"Bitmap Heap Scan"}
                   and relation(n) == driving for n in read), \
            f"{driving} not read through an index:\n{text}"
    for node in walk(plan):
        if node["Node Type"] != "Sort":
            continue
        below = list(walk(node))[1:]
        assert not any(n["Node Type"] == "Seq Scan" and relation(n) in tables
                       for n in below), \
            f"a Sort over a Seq Scan:\n{text}"
        sorted_rows = max((c.get("Plan Rows", 0) for c in node.get("Plans", ())), default=0)
        assert sorted_rows <= max_sorted, f"a Sort of {sorted_rows} rows:\n{text}"
