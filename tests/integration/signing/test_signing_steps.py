"""The signing flow runs only the steps of its table: a work item that names anything else
(even a method of the flow that is not a step) fails permanently, visibly to operators."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from medsign.db.models import WorkItemRow
from medsign.signing.flow import STEPS, SigningFlow
from tests.integration.signing.stand import SigningStand


def test_the_table_names_every_step_and_only_steps() -> None:
    assert set(STEPS) == {"send", "poll", "download", "countersign", "upload", "complete"}
    assert all(getattr(SigningFlow, f"_{name}") is step for name, step in STEPS.items())


@pytest.mark.parametrize("step", ["apply", "send_request", "bogus"])
def test_an_unknown_step_fails_the_request_without_calling_anything(
        stand: SigningStand, engine: Engine, step: str) -> None:
    rid = stand.start_signing()
    with Session(engine) as db:
        db.execute(update(WorkItemRow).where(WorkItemRow.ref == rid).values(step=step))
        db.commit()
    stand.run_worker()
    detail = stand.request(rid)
    assert detail["state"] == "failed" and f"неизвестный шаг «{step}»" in detail["reason"]
    assert detail["transaction_id"] is None  # nothing was sent
    with Session(engine) as db:
        item = db.scalars(select(WorkItemRow).where(WorkItemRow.ref == rid)).one()
    assert item.status == "failed" and "unknown_step" in (item.last_error or "")
