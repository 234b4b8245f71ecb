"""The signer is the patient: the platform's documents name someone else, so the MO does not
counter-sign and the request waits for an operator (in-process stand, real database)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import DocumentRow
from tests import factories as f
from tests.integration.signing.stand import SigningStand

RELATIVE = {"phone": "+79990000099", "last_name": "Иванова", "first_name": "Мария",
            "middle_name": "Петровна", "birth_date": "1985-03-14", "gender": "F"}


def signed_by_the_patient(stand: SigningStand) -> tuple[str, str]:
    """Start signing, let the patient sign in Goskey, run the worker; (request id, tx id)."""
    rid = stand.start_signing()
    stand.run_worker()
    tx = str(stand.request(rid)["transaction_id"])
    assert stand.control("POST", f"/transactions/{tx}/sign").status_code == 200
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    return rid, tx


def documents(stand: SigningStand, rid: str) -> list[str]:
    with Session(stand.container.engine) as db:
        return list(db.scalars(select(DocumentRow.kind)
                               .where(DocumentRow.signing_request_id == rid)))


def consent_states(stand: SigningStand) -> set[str]:
    """The states of the appointment's electronic consents (the ones sent for signing)."""
    consents = stand.api.get("/api/v1/organizations/mo1/appointments/a1").json()["consents"]
    return {c["state"] for c in consents if c["signing_method"] == "electronic"}


def test_someone_elses_profile_stops_the_request_before_the_mo_signs(
        stand: SigningStand) -> None:
    phone = f.goskey_person(f.patient())["phone"]
    assert stand.control("POST", "/answer-as", {"phone": phone, "person": RELATIVE}
                         ).status_code == 200
    rid, tx = signed_by_the_patient(stand)
    detail = stand.request(rid)
    assert detail["state"] == "signer_mismatch", detail
    assert detail["state_title"] == "подписант не совпадает с пациентом"
    assert [h["to_state"] for h in detail["history"]][-3:] == [
        "patient_signed", "archive_verified", "signer_mismatch"]
    assert detail["signer_mismatch"] == {
        "document_title": detail["signer_mismatch"]["document_title"],
        "in_documents": {"last_name": "Иванова", "first_name": "Мария",
                         "middle_name": "Петровна", "birth_date": "1985-03-14"},
        "in_patient_record": {"last_name": "Иванов", "first_name": "Иван",
                              "middle_name": "Иванович", "birth_date": "1980-05-17"},
        "differences": ["фамилия", "имя", "отчество", "дата рождения"]}
    assert documents(stand, rid) == ["platform_archive"]  # kept as evidence; no MO signature
    view = stand.control("GET", f"/transactions/{tx}").json()
    assert view["uploads"] == [] and view["calls"].get("upload", 0) == 0
    assert consent_states(stand) == {"in_signing"}
    listed = stand.api.get("/api/v1/signing-requests", params={"state": "signer_mismatch"})
    assert [(r["id"], r["signer_mismatch"]["in_documents"]["first_name"])
            for r in listed.json()["items"]] == [(rid, "Мария")]

    stand.advance(timedelta(minutes=5))
    stand.run_worker()  # nothing is left for a worker to do
    assert stand.request(rid)["state"] == "signer_mismatch"
    assert documents(stand, rid) == ["platform_archive"]


def test_a_mismatch_cannot_be_retried_only_cancelled_and_the_consents_return(
        stand: SigningStand) -> None:
    phone = f.goskey_person(f.patient())["phone"]
    stand.control("POST", "/answer-as", {"phone": phone, "person": RELATIVE})
    rid, tx = signed_by_the_patient(stand)
    retried = stand.api.post(f"/api/v1/signing-requests/{rid}/retry",
                             json={"reason": "попробуем ещё"})
    assert retried.status_code == 409 and retried.json()["code"] == "signer_mismatch"
    assert stand.request(rid)["state"] == "signer_mismatch"
    cancelled = stand.api.post(f"/api/v1/signing-requests/{rid}/cancel",
                               json={"reason": "Телефон родственника"})
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["state"] == "cancelled"
    assert body["signer_mismatch"]["in_documents"]["first_name"] == "Мария"  # why, kept
    assert consent_states(stand) == {"pending"}
    stand.run_worker()
    assert documents(stand, rid) == ["platform_archive"]
    assert stand.control("GET", f"/transactions/{tx}").json()["uploads"] == []


def test_the_same_person_written_differently_is_the_patient(stand: SigningStand) -> None:
    account = f.goskey_person(f.patient(), last_name="ИВАНОВ ", first_name="иван",
                              middle_name="Иванович")
    assert stand.control("POST", "/people", account).status_code == 200
    rid, _ = signed_by_the_patient(stand)
    detail = stand.request(rid)
    assert detail["state"] == "completed", detail
    assert detail["signer_mismatch"] is None
