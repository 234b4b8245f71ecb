"""The restore drill of the regulation (``docs/operations.md`` §6.5) with real processes: a live
installation (nginx, two ``serve``, two ``worker``, PostgreSQL, the Goskey emulator as the
platform) is backed up while the МИС works, keeps working after the backup, and is destroyed.
The set is restored into a fresh folder and a fresh database, reconciled with the platform
(the transaction journal lives on "another disk", outside the destroyed folder), and started.

At the end every signing request of the restored database ends as the platform says, every
transaction the platform holds is either in the restored database or named by the
reconciliation report, and no patient was sent a second transaction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from medsign.db.engine import make_engine, read_only
from medsign.db.models import SigningRequestRow
from medsign.domain.signing import SigningState
from tests.dbs import pg_available, scratch_pg_database
from tests.e2e.deploy.deploy_files import tool
from tests.e2e.deploy.topology import Topology, write_report
from tests.e2e.signing.stack import Stack

pytestmark = pytest.mark.slow

# patients decide at the sixth status poll: most sign, some refuse, some do not answer until
# the test signs for them after the restore — at any moment some transactions are mid-flight
AUTOPILOT = {"sign": 0.6, "refuse": 0.1, "ignore": 0.3, "after_polls": 6, "seed": 3}
# what a request ends as, for each final platform status
ENDS_AS = {"finished": {"completed"}, "cancelled": {"cancelled", "expired"},
           "error": {"platform_error"}}
PHASE_S = 3.0
ACTIVE = {s.value for s in SigningState} - {"completed", "cancelled", "expired",
                                           "platform_error", "failed", "signer_mismatch"}


def medsign(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "medsign", *args], cwd=folder,
                          capture_output=True, text=True, timeout=300, check=False, input=stdin)


def requests_of(db_url: str) -> dict[str, tuple[str, str | None]]:
    """Every signing request: id → (state, transaction id)."""
    engine = make_engine(db_url)
    try:
        with read_only(engine) as conn:
            rows = conn.execute(select(SigningRequestRow.id, SigningRequestRow.state,
                                       SigningRequestRow.transaction_id)).all()
    finally:
        engine.dispose()
    return {r.id: (r.state, r.transaction_id) for r in rows}


def test_backup_under_load_destroy_restore_fresh_and_reconcile(tmp_path: Path) -> None:
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable")
    other_disk = tmp_path / "other-disk"  # what survives the loss of the installation
    journal, backups = other_disk / "journal", other_disk / "backups"
    backups.mkdir(parents=True)
    journal.mkdir()
    the_set = backups / "medsign-drill.tar"
    with scratch_pg_database("medsign_drill_live") as live_url, \
            scratch_pg_database("medsign_drill_new") as new_url:
        installation = tmp_path / "installation"
        topology = Topology(installation, live_url, tool("nginx"), autopilot=AUTOPILOT,
                            settings={"signing": {"transaction_journal": str(journal)}})
        restored: Stack | None = None
        try:
            topology.up()
            with topology.load("before_backup"):
                time.sleep(PHASE_S)
            with topology.load("during_backup"):
                # answered before the backup began: committed, so in its snapshot
                committed_before = set(dict(topology.started))
                made = medsign(installation, "backup", str(the_set))
                assert made.returncode == 0, made.stderr
                # the live installation cannot be restored over: its processes are detected
                refused = medsign(installation, "restore", str(the_set), "--yes")
                assert refused.returncode == 1, refused
                assert "--force" in refused.stderr and "Traceback" not in refused.stderr
            with topology.load("after_backup"):
                time.sleep(PHASE_S)
            started = dict(topology.started)

            # the loss: every medsign process dies at once, its folder and database are gone;
            # the platform (the emulator) and the other disk live on
            platform_process = topology.process("emulator")
            for process in list(topology.stack.processes):
                if process is not platform_process:
                    topology.stack.stopped.add(process.proc.pid)
                    process.proc.kill()
                    process.proc.wait(timeout=10)
            verify = medsign(installation, "backup", "--verify", str(the_set))
            assert verify.returncode == 0, verify.stdout + verify.stderr
            shutil.rmtree(installation / "var")
            (installation / "medsign.toml").unlink()
            engine = make_engine(live_url)
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            engine.dispose()

            # a fresh folder and database, configured like the lost one but in new places
            restored = Stack(tmp_path / "restored", new_url,
                             {**topology.stack.settings,
                              "signing": {**topology.stack.settings["signing"],
                                          "transaction_journal": str(journal)}},
                             goskey_port=topology.stack.goskey_port)
            # restore, then at once the reconciliation; exit 1: requests started after the
            # backup are not in it, so an operator has work
            report_file = other_disk / "reconcile.json"
            back = medsign(restored.folder, "restore", str(the_set), "--yes",
                           "--report", str(report_file))
            (other_disk / "restore.log").write_text(back.stdout + back.stderr, encoding="utf-8")
            assert back.returncode == 1, back.stdout + back.stderr
            assert "База данных восстановлена." in back.stdout
            assert "Traceback" not in back.stderr
            report = json.loads(report_file.read_text(encoding="utf-8"))
            again = medsign(restored.folder, "reconcile", "--dry-run")
            assert "Traceback" not in again.stderr
            restored.start_service(2)
            # the patients who had not answered sign now, the restored service carries on
            in_restored = {tid for _, tid in requests_of(new_url).values() if tid}
            with httpx.Client(base_url=f"{restored.emulator_url}/_emulator",
                              timeout=30) as emulator:
                for t in emulator.get("/transactions").json()["transactions"]:
                    if t["status"] == "active" and t["id"] in in_restored:
                        assert emulator.post(f"/transactions/{t['id']}/sign").status_code == 200
            restored.wait_until(lambda: not any(state in ACTIVE for state, _ in
                                                requests_of(new_url).values()),
                                timeout=240, what="every restored request at its end",
                                describe=lambda: str(Counter(
                                    s for s, _ in requests_of(new_url).values())))
            final = requests_of(new_url)
            seen = httpx.get(f"{topology.stack.emulator_url}/_emulator/transactions",
                             timeout=60).json()
        finally:
            if restored is not None:
                restored.close()
            topology.close()
    phones = set(started.values())
    platform = {t["id"]: t for t in seen["transactions"] if t["phone"] in phones}
    per_phone = Counter(t["phone"] for t in platform.values())
    named_by_report = {f["transaction"] for f in report["findings"]}
    # a send whose process died before the journal's second line: the report names the
    # request (the transaction's number was never known here)
    unconfirmed = {f["signing_request"] for f in report["findings"] if not f["transaction"]}
    named_by_report |= {t for t in platform if any(
        r in str(platform[t].get("idempotency_key")) for r in unconfirmed)}
    in_database = {tid for _, tid in final.values() if tid}

    outcome: dict[str, Any] = {
        "signings_started": len(started), "in_backup": len(final),
        "started_after_backup": len(set(started) - set(final)),
        "restored": len(final), "final_states": dict(Counter(s for s, _ in final.values())),
        "platform_transactions": len(platform),
        "report": dict(Counter(f["outcome"] for f in report["findings"])),
        "sent_twice": sorted(p for p, n in per_phone.items() if n > 1),
        "lost": sorted(t for t in platform if t not in in_database | named_by_report),
        "unconfirmed_sends_reported": len(unconfirmed),
    }
    outcome["lost_details"] = [
        {"transaction": t, "status": platform[t]["status"],
         "key": platform[t].get("idempotency_key"),
         "restored_as": {r: final[r] for r in final
                         if r in str(platform[t].get("idempotency_key"))}}
        for t in outcome["lost"]]
    write_report("restore-drill", outcome)
    sys.stdout.write(f"\nrestore drill: {outcome}\n")

    assert committed_before <= set(final) <= set(started), "the backup's snapshot came back"
    assert outcome["started_after_backup"] > 0 and outcome["sent_twice"] == []
    assert outcome["lost"] == [], "every platform transaction is known or reported"
    operator = {f["signing_request"] for f in report["findings"]
                if f["outcome"] == "operator" and f["signing_request"]}
    for request_id, (state, tid) in final.items():
        platform_status = platform[tid]["status"] if tid else None
        if request_id in operator:
            assert state == "failed", (request_id, state)  # stopped for a person to decide
        else:  # the restored service ended it as the platform did
            assert platform_status is not None, (request_id, state)
            assert state in ENDS_AS[platform_status], (request_id, state, platform_status)
    assert outcome["report"].get("resumed", 0) > 0, "transactions open at the backup went on"
