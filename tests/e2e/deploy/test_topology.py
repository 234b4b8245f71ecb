"""The production topology of ``deploy/`` under load (``tests/e2e/deploy/topology.py``): one
``serve`` killed, a rolling restart of every process, and an upgrade with a new migration
applied while the workers drain. Each phase reports what the МИС clients saw
(``test-artifacts/topology.json``); at the end every signing started in any phase has
completed, and the platform saw each exactly once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from medsign.db import migrate
from medsign.db.engine import make_engine
from tests.dbs import pg_available, scratch_pg_database
from tests.e2e.deploy.deploy_files import tool
from tests.e2e.deploy.postgres import PrivateCluster
from tests.e2e.deploy.topology import Topology, assert_clean_exit, new_version, write_report

pytestmark = pytest.mark.slow

PHASE_S = 3.0  # load before and after each action
# between two serve restarts: readiness, then nginx's fail_timeout (2 s, deploy/nginx) so it
# counts the restarted one as alive again (docs/deployment.md, «Поочерёдный перезапуск»)
BETWEEN_SERVES_S = 2.5


@pytest.fixture
def own_pg_database() -> Iterator[str]:
    """A database of this test alone: the upgrade adds a migration no other test knows."""
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable")
    with scratch_pg_database("medsign_topology") as url:
        yield url


def test_kill_rolling_restart_and_upgrade_under_load(own_pg_database: str,
                                                     tmp_path: Path) -> None:
    topology = Topology(tmp_path / "installation", own_pg_database, tool("nginx"))
    try:
        topology.up()
        with topology.load("serve_killed"):
            time.sleep(PHASE_S)
            topology.restart("serve-a", kill=True)
            time.sleep(PHASE_S)

        with topology.load("rolling_restart"):
            time.sleep(PHASE_S)
            for name in ("serve-a", "serve-b", "worker-0", "worker-1"):
                topology.restart(name)
                time.sleep(BETWEEN_SERVES_S)
            time.sleep(PHASE_S)

        head = migrate.head_revision()
        assert head is not None
        next_version = new_version(tmp_path / "next", down_revision=head)
        with topology.load("upgrade"):
            time.sleep(PHASE_S)
            for name in ("worker-0", "worker-1"):  # drain: finish the steps, take no more
                old = topology.process(name)
                topology.stack.stop(old)
                assert_clean_exit(old)
                topology.stack.processes.remove(old)
            topology.stack.run("migrate", env=next_version)  # the old serve keep serving
            topology.version_env = next_version
            for n in (0, 1):
                topology.stack.start(f"worker-{n}", "worker", "--metrics-port",
                                     str(topology.stack.metrics_port(n)), env=next_version)
            for name in ("serve-a", "serve-b"):
                topology.restart(name)
                time.sleep(BETWEEN_SERVES_S)
            time.sleep(PHASE_S)

        report = topology.settle()
    finally:
        topology.close()
    engine = make_engine(own_pg_database)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    write_report("topology", report)
    sys.stdout.write(f"\ntopology: {report}\n")

    assert version == "9999", "the upgrade's migration was applied"
    assert report["work_lost"] == 0 and report["sent_twice"] == 0, report
    for phase, seen in report["phases"].items():
        assert seen["signings_started"] > 0, (phase, seen)
        assert seen["reads_failed"] == 0 and seen["writes_failed"] == 0, (phase, seen)


def test_every_process_reconnects_after_postgresql_crashes_under_load(tmp_path: Path) -> None:
    """Seed 5.1, a failure during reads and writes: the database stops as after a power loss
    (``pg_ctl -m immediate``: no checkpoint, crash recovery at the next start) while the МИС
    works, and comes back. No process is restarted by anyone: each reconnects by itself."""
    cluster = PrivateCluster(tmp_path / "postgresql")
    try:
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE medsign"))
        admin.dispose()
        url = cluster.url.rsplit("/", 1)[0] + "/medsign"
        topology = Topology(tmp_path / "installation", url, tool("nginx"))
        try:
            topology.up()
            pids = {p.name: p.proc.pid for p in topology.stack.processes}
            with topology.load("before"):
                time.sleep(PHASE_S)
            with topology.load("database_down"):
                time.sleep(1)
                cluster.stop("immediate")
                time.sleep(PHASE_S)
                cluster.start()
                time.sleep(PHASE_S)
            with topology.load("after"):
                time.sleep(PHASE_S)
            topology.stack.check()  # nobody exited
            assert {p.name: p.proc.pid for p in topology.stack.processes} == pids
            report = topology.settle()
        finally:
            topology.close()
    finally:
        cluster.close()
    write_report("topology-postgresql-restart", report)
    sys.stdout.write(f"\npostgresql restart: {report}\n")
    assert report["work_lost"] == 0 and report["sent_twice"] == 0, report
    for phase in ("before", "after"):
        seen = report["phases"][phase]
        assert seen["signings_started"] > 0, (phase, seen)
        assert seen["reads_failed"] == 0 and seen["writes_failed"] == 0, (phase, seen)
    # while the database is away, writes wait as Retry-After says and go through; reads are
    # answered 503 with Retry-After (the client may repeat them; this one does not)
    assert report["phases"]["database_down"]["writes_failed"] == 0, report["phases"]
