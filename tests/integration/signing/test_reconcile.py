"""Reconciliation after a restore, end to end: real signings against the Goskey emulator, a
real backup of the database (``create_backup``), the platform going on, the backup restored
(``restore_backup``), then ``reconcile`` — every request ends as the platform says and
nothing is sent twice."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from medsign.db.backup import create_backup, restore_backup
from medsign.db.models import (
    AuditRow,
    DocumentRow,
    ReconciliationFindingRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.signing import journal
from medsign.signing import reconcile as reconciliation
from medsign.signing.repository import ARCHIVE
from tests import factories as f
from tests.integration.signing.stand import SigningStand


def transaction_of(stand: SigningStand, rid: str) -> str:
    tx = stand.request(rid)["transaction_id"]
    assert tx, stand.request(rid)
    return str(tx)


def run_reconcile(stand: SigningStand, engine: Engine, folder: Path,
                  **options: Any) -> reconciliation.Report:
    async def run() -> reconciliation.Report:
        client = stand.container.goskey_client()
        try:
            asking = reconciliation.Asking(client=client,
                                           limiter=stand.container.rate_limiter())
            return await reconciliation.reconcile(engine, asking, journal.read([folder]),
                                                  clock=stand.clock, **options)
        finally:
            await client.aclose()
    return asyncio.run(run())


def item_of(engine: Engine, rid: str) -> WorkItemRow:
    with engine.connect() as conn:
        row = conn.execute(select(WorkItemRow).where(WorkItemRow.ref == rid)).one()
    return row  # type: ignore[no-any-return]


def snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "requests": sorted(conn.execute(select(SigningRequestRow.id, SigningRequestRow.state,
                                                   SigningRequestRow.transaction_id)).all()),
            "items": sorted(conn.execute(select(WorkItemRow.id, WorkItemRow.status,
                                                WorkItemRow.step, WorkItemRow.lease_version,
                                                WorkItemRow.next_run_at)).all()),
            "findings": conn.execute(select(func.count(ReconciliationFindingRow.id))).scalar(),
            "audit": conn.execute(select(func.count()).select_from(AuditRow)).scalar(),
        }


def test_a_restore_is_reconciled_with_the_platform_and_nothing_is_sent_twice(
        stand: SigningStand, engine: Engine, db_url: str, tmp_path: Path) -> None:
    for appointment in ("a2", "a3", "a5", "a6", "a7"):
        assert stand.api.put(f"/api/v1/organizations/mo1/appointments/{appointment}",
                             json=f.appointment()).status_code == 201
    finished, active, refused = (stand.start_signing(a) for a in ("a1", "a2", "a3"))
    stand.run_worker()
    tx_finished, tx_active, tx_refused = (transaction_of(stand, r)
                                          for r in (finished, active, refused))
    unsent = stand.start_signing("a6")  # the backup sees it new, before its send
    backup = create_backup(db_url, tmp_path / "backups" / "medsign.bak")

    # -- after the backup: the platform and the service go on ------------------------------
    stand.control("POST", f"/transactions/{tx_finished}/sign")
    stand.control("POST", f"/transactions/{tx_refused}/refuse")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()  # also sends the new request
    lost = stand.start_signing("a5")
    stand.run_worker()
    assert stand.request(finished)["state"] == "completed"
    assert stand.request(refused)["state"] == "cancelled"
    uploads_before = len(stand.control("GET", f"/transactions/{tx_finished}").json()["uploads"])
    tx_unsent, tx_lost = transaction_of(stand, unsent), transaction_of(stand, lost)
    lost_item = item_of(engine, lost).id

    # -- the restore -------------------------------------------------------------------------
    engine.dispose()
    restore_backup(backup.path, db_url)
    assert stand.request(finished)["state"] == "sent"
    assert stand.request(unsent)["state"] == "new"
    assert stand.api.get(f"/api/v1/signing-requests/{lost}").status_code == 404

    folder = tmp_path / "journal"
    trial = run_reconcile(stand, engine, folder, dry_run=True)
    assert trial.exit_code == 1 and stand.request(finished)["state"] == "sent"

    report = run_reconcile(stand, engine, folder)
    by_tx = {f.subject.transaction_id: f for f in report.findings}
    assert set(by_tx) == {tx_finished, tx_active, tx_refused, tx_unsent, tx_lost}
    assert {tx: f.decision.outcome.value for tx, f in by_tx.items()} == {
        tx_finished: "resumed", tx_active: "resumed", tx_refused: "settled",
        tx_unsent: "resumed", tx_lost: "operator"}
    assert report.exit_code == 1
    unknown = by_tx[tx_lost]
    assert unknown.subject.request_id == lost and unknown.subject.local.state is None
    assert "ГБУЗ" in unknown.line() and "нет в базе" in unknown.line()
    assert unknown.subject.journal is not None and unknown.subject.journal.appointment == "a5"

    # finished after the backup: its work fetches the archive again (below)
    assert stand.request(finished)["state"] == "sent"
    assert (item_of(engine, finished).step, item_of(engine, finished).data["recover"]) == (
        "poll", True)
    # refused after the backup: settled as the poll step settles it
    assert stand.request(refused)["state"] == "cancelled"
    assert "отказался" in stand.request(refused)["reason"]
    assert item_of(engine, refused).status == "cancelled"
    # the new request's transaction from the journal: recorded, polled, not sent again
    assert stand.request(unsent)["state"] == "sent"
    assert transaction_of(stand, unsent) == tx_unsent
    assert (item_of(engine, unsent).step, item_of(engine, unsent).call_key) == ("poll", None)
    assert stand.request(active)["state"] == "sent"

    # a second run changes nothing
    before = snapshot(engine)
    again = run_reconcile(stand, engine, folder)
    assert snapshot(engine) == before
    assert not any(f.recorded for f in again.findings)
    assert {f.subject.transaction_id for f in again.findings} == {
        tx_finished, tx_active, tx_unsent, tx_lost}

    # a new request gets the lost one's work item id, but not its transaction
    fresh = stand.start_signing("a7")
    assert item_of(engine, fresh).id == lost_item
    stand.run_worker()
    assert transaction_of(stand, fresh) not in (tx_lost, tx_unsent, tx_active)

    # the resumed ones finish as the platform goes on
    for tx in (tx_active, tx_unsent):
        stand.control("POST", f"/transactions/{tx}/sign")
    stand.advance(timedelta(seconds=61))
    stand.run_worker()
    assert stand.request(active)["state"] == "completed"
    assert stand.request(unsent)["state"] == "completed"
    # the one the platform finished: archive fetched and counter-signed again, completed
    # without a second upload; the history says so, the patient is not told twice
    recovered = stand.request(finished)
    assert recovered["state"] == "completed"
    assert any("получен заново" in (e.get("reason") or "") for e in recovered["history"])
    with engine.connect() as conn:
        kinds = sorted(conn.execute(select(DocumentRow.kind).where(
            DocumentRow.signing_request_id == finished)).scalars())
    assert ARCHIVE in kinds and len(kinds) > 1  # the evidence is whole again
    uploads_after = stand.control("GET", f"/transactions/{tx_finished}").json()["uploads"]
    assert len(uploads_after) == uploads_before  # the platform keeps its one MO signature

    platform = stand.control("GET", "/transactions").json()
    assert len(platform["transactions"]) == 6  # one per request, the lost one's included
    assert set(platform["sends_per_key"].values()) == {1}  # nothing sent twice
    assert {t["id"]: t["status"] for t in platform["transactions"]}[tx_finished] == "finished"
    with engine.connect() as conn:
        actions = set(conn.execute(select(AuditRow.action)).scalars())
    assert {"reconcile.operator", "reconcile.resumed", "reconcile.settled"} <= actions


def test_a_completion_the_backup_missed_is_settled_as_completed(
        stand: SigningStand, engine: Engine, db_url: str, tmp_path: Path) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    tx = transaction_of(stand, rid)
    stand.control("POST", f"/transactions/{tx}/sign")
    stand.control("POST", "/faults", {"method": "complete", "error_5xx_rate": 1.0})
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    assert stand.request(rid)["state"] == "uploaded"
    backup = create_backup(db_url, tmp_path / "backups" / "medsign.bak")
    stand.control("DELETE", "/faults")
    stand.advance(timedelta(seconds=5))
    stand.run_worker()
    assert stand.request(rid)["state"] == "completed"
    engine.dispose()
    restore_backup(backup.path, db_url)
    assert stand.request(rid)["state"] == "uploaded"

    report = run_reconcile(stand, engine, tmp_path / "journal")
    assert [(f.subject.request_id, f.decision.outcome.value) for f in report.findings] == [
        (rid, "settled")]
    assert report.exit_code == 0
    assert stand.request(rid)["state"] == "completed"
    assert item_of(engine, rid).status == "done"
    consents = stand.api.get("/api/v1/organizations/mo1/appointments/a1").json()["consents"]
    assert {c["kind"]: c["state"] for c in consents}["medical_intervention"] == "signed"
    platform = stand.control("GET", f"/transactions/{tx}").json()
    assert platform["status"] == "finished" and platform["calls"]["complete"] >= 1


def test_a_journal_that_cannot_be_written_loses_no_transaction(
        stand: SigningStand, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    stand.container.journal_dir = blocker / "journal"
    rid = stand.start_signing()
    with caplog.at_level(logging.ERROR, logger="medsign.signing.flow"):
        stand.run_worker()
    assert stand.request(rid)["state"] == "sent"
    tx = transaction_of(stand, rid)
    errors = [r for r in caplog.records if "transaction journal could not be written" in
              r.getMessage()]
    # the send's intent and its transaction: both said, neither stops the step
    assert [getattr(r, "transaction_id", None) for r in errors] == [None, tx]
    registry = stand.container.metrics.registry  # what the alert rule watches
    assert registry.get_sample_value("medsign_transaction_journal_errors_total") == 2
