"""Rows to response bodies."""

from __future__ import annotations

from medsign.api import schemas
from medsign.db.models import (
    AppointmentRow,
    ConsentRow,
    OrganizationRow,
    PatientRow,
    SigningEventRow,
)
from medsign.domain.consents import ConsentState
from medsign.domain.signer_check import Identity, SignerMismatch
from medsign.domain.signing import STATE_TITLES, SigningState
from medsign.signing.service import RequestView


def organization(row: OrganizationRow) -> schemas.OrganizationOut:
    return schemas.OrganizationOut(
        code=row.code, name=row.name, address=row.address, ogrn=row.ogrn, inn=row.inn,
        kpp=row.kpp, timezone=row.timezone, quiet_hours=row.quiet_hours,
        partner=schemas.PartnerSettings.model_validate(
            {"department_id": row.partner_department_id, "templates": row.template_ids or {}}),
        created_at=row.created_at, updated_at=row.updated_at)


def patient(row: PatientRow, org: OrganizationRow) -> schemas.PatientOut:
    return schemas.PatientOut(
        id=row.external_id, organization=org.code, last_name=row.last_name,
        first_name=row.first_name, middle_name=row.middle_name, birth_date=row.birth_date,
        phone=row.phone, max_user_id=row.max_user_id, max_reachable=row.max_reachable,
        snils=row.snils, created_at=row.created_at, updated_at=row.updated_at)


def consent(row: ConsentRow) -> schemas.ConsentOut:
    return schemas.ConsentOut.model_validate(
        {"kind": row.kind, "signing_method": row.signing_method, "state": row.state,
         "state_title": ConsentState(row.state).title})


def appointment(row: AppointmentRow, org: OrganizationRow, pat: PatientRow,
                consents: list[ConsentRow]) -> schemas.AppointmentOut:
    return schemas.AppointmentOut(
        id=row.external_id, organization=org.code, patient=pat.external_id,
        starts_at=row.starts_at, timezone=row.timezone,
        doctor=schemas.Doctor(name=row.doctor_name, id=row.doctor_external_id),
        service_name=row.service_name,
        status=row.status, reschedule_count=row.reschedule_count,
        consents=[consent(c) for c in consents], created_at=row.created_at,
        updated_at=row.updated_at)


def person(identity: Identity) -> schemas.PersonOut:
    return schemas.PersonOut(last_name=identity.last_name, first_name=identity.first_name,
                             middle_name=identity.middle_name, birth_date=identity.birth_date)


def signer_mismatch(found: SignerMismatch | None) -> schemas.SignerMismatchOut | None:
    if found is None:
        return None
    return schemas.SignerMismatchOut(document_title=found.document_title,
                                     in_documents=person(found.document),
                                     in_patient_record=person(found.patient),
                                     differences=list(found.differences))


def signing_request(view: RequestView, history: list[SigningEventRow] | None = None,
                    mismatch: SignerMismatch | None = None) -> schemas.SigningRequestOut:
    row = view.row
    return schemas.SigningRequestOut(
        id=row.id, appointment=view.appointment_external_id,
        organization=view.organization_code, patient=view.patient_external_id,
        appointment_starts_at=view.appointment_starts_at, consents=list(row.consent_kinds),
        state=row.state, state_title=STATE_TITLES[SigningState(row.state)],
        initiated_by=row.initiated_by, transaction_id=row.transaction_id, reason=row.reason,
        created_at=row.created_at, updated_at=row.updated_at, completed_at=row.completed_at,
        signer_mismatch=signer_mismatch(mismatch),
        history=None if history is None else [
            schemas.HistoryEntry(at=e.at, from_state=e.from_state, to_state=e.to_state,
                                 actor=e.actor, reason=e.reason) for e in history])


