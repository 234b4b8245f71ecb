"""The database itself keeps at most one open signing request per appointment (both back ends).

The partial unique index covers every state but the final ones (``failed`` included); the
service turns its refusal into ``signing_request_active`` without losing its transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsign.clinic import patients
from medsign.clinic.patients import PatientInput
from medsign.db.engine import make_engine
from medsign.db.migrate import alembic_config, upgrade
from medsign.db.models import (
    ONE_OPEN_SIGNING_INDEX,
    AppointmentRow,
    ConsentRow,
    SigningEventRow,
    SigningRequestRow,
)
from medsign.demo import ORGANIZATION
from medsign.domain.signing import FINAL_STATES, OPEN_STATES, CancelledBy, SigningState
from medsign.errors import Conflict
from medsign.records import appointments as appointment_records
from medsign.records import organizations
from medsign.records.scope import SYSTEM
from medsign.signing import service as signing
from tests.identities import Identities
from tests.integration.web import stand

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def _seed(engine: Engine) -> int:
    """Appointment ``a1`` (two electronic consents) of patient ``p1`` in ``mo1``, by row id."""
    with Session(engine) as db:
        organizations.upsert(db, scope=SYSTEM, code="mo1", now=NOW, data=ORGANIZATION)
        patients.upsert(db, scope=SYSTEM, organization="mo1", external_id="p1", now=NOW,
                        data=PatientInput(
            organization="mo1", last_name="Иванова", first_name="Мария", middle_name=None,
            birth_date=date(1985, 3, 14), phone="+79990000001", max_user_id=None))
        stand.appointment(db, "a1", "mo1", "p1", NOW + timedelta(hours=4), NOW)
        db.commit()
        return db.scalars(select(AppointmentRow.id)
                          .where(AppointmentRow.external_id == "a1")).one()


@pytest.fixture
def appointment(engine: Engine) -> int:
    return _seed(engine)


def _behind_the_service(db: Session, appointment_id: int, state: str, *,
                        created_at: datetime = NOW) -> str:
    """A request written straight into the table, as no rule of the service would; its id.
    The appointment is read, and the request written, by columns of every revision: this
    runs at old ones too."""
    org_id, patient_id = db.execute(
        select(AppointmentRow.organization_id, AppointmentRow.patient_id)
        .where(AppointmentRow.id == appointment_id)).one()
    request_id = str(uuid.uuid4())
    db.execute(insert(SigningRequestRow).values(
        id=request_id, appointment_id=appointment_id, organization_id=org_id,
        patient_id=patient_id, consent_kinds=["medical_intervention"], phone="+79990000001",
        initiated_by="mis", state=state, uploaded_file_ids=[],
        failed_from="sent" if state == "failed" else None,
        transaction_id=None if state == "new" else "tx-1", created_at=created_at,
        updated_at=created_at))
    return request_id


def test_the_open_states_are_every_state_but_the_final_ones() -> None:
    assert frozenset(SigningState) - FINAL_STATES == OPEN_STATES
    assert SigningState.failed in OPEN_STATES


@pytest.mark.parametrize("first", sorted(s.value for s in OPEN_STATES))
def test_the_index_refuses_a_second_open_request(engine: Engine, appointment: int,
                                                 first: str) -> None:
    with Session(engine) as db:
        _behind_the_service(db, appointment, first)
        db.commit()
        with pytest.raises(IntegrityError):
            _behind_the_service(db, appointment, "new")
        db.rollback()
    with Session(engine) as db:
        count = db.scalars(select(SigningRequestRow.id)
                           .where(SigningRequestRow.appointment_id == appointment)).all()
    assert len(count) == 1


def test_finished_requests_do_not_count(engine: Engine, appointment: int) -> None:
    with Session(engine) as db:
        for state in sorted(s.value for s in FINAL_STATES):
            _behind_the_service(db, appointment, state)
        _behind_the_service(db, appointment, "sent")
        db.commit()
        assert len(db.scalars(select(SigningRequestRow.id)).all()) == len(FINAL_STATES) + 1


def test_the_migrated_index_is_the_models_index(engine: Engine) -> None:
    found = {ix["name"]: ix for ix in inspect(engine).get_indexes("signing_requests")}
    index = found[ONE_OPEN_SIGNING_INDEX]
    assert index["column_names"] == ["appointment_id"] and index["unique"]


def test_a_refused_insert_becomes_the_conflict_and_the_transaction_goes_on(
        engine: Engine, appointment: int) -> None:
    """Another process slipped its request in after the service looked: the insert fails in
    its savepoint, the caller gets ``signing_request_active`` naming the open request, and
    what the caller had done before in the same transaction stays."""
    with Session(engine) as db:
        sneaked = _behind_the_service(db, appointment, "sent")
        db.commit()
    with Session(engine) as db:
        appt, org, patient = appointment_records.locate(db, scope=SYSTEM, organization="mo1",
                                                         external_id="a1", lock=True)
        appt.doctor_name = "Сидоров С. С."  # the caller's earlier work in this transaction
        consents = list(db.scalars(select(ConsentRow)
                                   .where(ConsentRow.appointment_id == appointment)))
        command = signing.StartRequest(organization_code="mo1", appointment_external_id="a1",
                                       consent_kinds=None, initiated_by="doctor")
        with pytest.raises(Conflict) as refused:
            signing._insert(db, appt, org, patient, consents, command, NOW)
        assert refused.value.code == "signing_request_active"
        assert refused.value.extra == {"signing_request": sneaked}
        db.commit()
    with Session(engine) as db:
        assert db.get_one(AppointmentRow, appointment).doctor_name == "Сидоров С. С."
        assert [r.id for r in db.scalars(select(SigningRequestRow))] == [sneaked]
        states = {c.state for c in db.scalars(select(ConsentRow))}
    assert states == {"pending"}


def test_a_failed_request_blocks_a_new_start_until_an_operator_acts(
        engine: Engine, appointment: int) -> None:
    request_id = stand.start_signing(engine, "a1", NOW)
    stand.fail(engine, request_id, NOW)
    with Session(engine) as db, pytest.raises(Conflict) as refused:
        signing.start(db, scope=SYSTEM, now=NOW, identities=Identities(),
                      command=signing.StartRequest(
            organization_code="mo1", appointment_external_id="a1", consent_kinds=None,
            initiated_by="mis"))
    assert refused.value.code == "signing_request_active"
    assert "оператор должен повторить или отменить" in refused.value.message
    with Session(engine) as db:
        signing.cancel(db, scope=SYSTEM, request_id=request_id, reason="Пациент передумал",
                       by=CancelledBy.operator, now=NOW)
        db.commit()
    assert stand.start_signing(engine, "a1", NOW + timedelta(minutes=1)) != request_id


def test_the_migration_closes_older_duplicates_before_building_the_index(
        empty_url: str) -> None:
    """An installation from before the index may hold two open requests for one appointment
    (a failed one and a newer one): the older is cancelled, with a history entry."""
    engine = make_engine(empty_url)
    try:
        # Seeded through today's services (their tables need today's columns), then taken back
        # to before the index; the duplicates are written at that revision.
        upgrade(engine)
        appt = _seed(engine)
        command.downgrade(alembic_config(engine), "0001")
        with Session(engine) as db:
            older_id = _behind_the_service(db, appt, "failed",
                                           created_at=NOW - timedelta(hours=1))
            newer_id = _behind_the_service(db, appt, "sent")
            db.commit()
        upgrade(engine)
        with Session(engine) as db:
            assert db.get_one(SigningRequestRow, older_id).state == "cancelled"
            assert db.get_one(SigningRequestRow, newer_id).state == "sent"
            event = db.scalars(select(SigningEventRow)
                               .where(SigningEventRow.signing_request_id == older_id)).one()
        assert (event.from_state, event.to_state, event.actor) == (
            "failed", "cancelled", "system:migration")
    finally:
        engine.dispose()
