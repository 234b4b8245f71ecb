from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from tests.integration.signing.stand import SigningStand


def transaction_of(stand: SigningStand, rid: str) -> str:
    tx = stand.request(rid)["transaction_id"]
    assert tx, stand.request(rid)
    return str(tx)


def test_a_signed_transaction_is_counter_signed_uploaded_and_completed(
        stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    assert stand.request(rid)["state"] == "sent"
    tx = transaction_of(stand, rid)
    assert stand.control("POST", f"/transactions/{tx}/sign").status_code == 200
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    detail = stand.request(rid)
    assert detail["state"] == "completed", detail
    assert [h["to_state"] for h in detail["history"]] == [
        "new", "sent", "patient_signed", "archive_verified", "countersigned", "uploaded",
        "completed"]
    view = stand.control("GET", f"/transactions/{tx}").json()
    assert view["status"] == "finished"
    assert [u["accepted"] for u in view["uploads"]] == [True, True]  # one PDF per consent
    consents = stand.api.get("/api/v1/organizations/mo1/appointments/a1").json()["consents"]
    assert {c["kind"]: c["state"] for c in consents}["medical_intervention"] == "signed"


def test_the_evidence_package_verifies(stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    stand.control("POST", f"/transactions/{transaction_of(stand, rid)}/sign")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    r = stand.api.get(f"/api/v1/signing-requests/{rid}/evidence")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = set(zf.namelist())
        report = json.loads(zf.read("verification.json"))
        page = zf.read("verification.html").decode()
    assert {"platform-archive.zip", "verification.json", "verification.html",
            "audit-trail.json"} <= names
    assert report["platform_archive"]["valid"] is True
    assert len(report["operator_signatures"]) == 4
    assert report["mo_signatures"] and all(s["valid"] for s in report["mo_signatures"])
    assert "подписи действительны" in page


def test_a_refusal_cancels_the_request(stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    stand.control("POST", f"/transactions/{transaction_of(stand, rid)}/refuse")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    detail = stand.request(rid)
    assert detail["state"] == "cancelled" and "отказался" in detail["reason"]
    assert stand.api.get(f"/api/v1/signing-requests/{rid}/evidence").status_code == 409


def test_no_signature_by_the_appointment_plus_grace_expires_the_request(
        stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    stand.advance(timedelta(days=2))
    stand.run_worker()
    assert stand.request(rid)["state"] == "expired"


def test_a_platform_error_ends_in_its_own_state(stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    stand.control("POST", f"/transactions/{transaction_of(stand, rid)}/error")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    assert stand.request(rid)["state"] == "platform_error"


def test_a_bad_operator_signature_fails_the_request_with_a_reason_and_an_operator_can_retry(
        stand: SigningStand) -> None:
    rid = stand.start_signing()
    stand.run_worker()
    tx = transaction_of(stand, rid)
    stand.control("POST", "/faults", {"method": "download", "bad_operator_signature": True})
    stand.control("POST", f"/transactions/{tx}/sign")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    detail = stand.request(rid)
    assert detail["state"] == "failed" and "Подпись" in detail["reason"], detail
    stand.control("DELETE", "/faults")
    blank = stand.api.post(f"/api/v1/signing-requests/{rid}/retry", json={"reason": "  "})
    assert blank.status_code == 422 and stand.request(rid)["state"] == "failed"
    retried = stand.api.post(f"/api/v1/signing-requests/{rid}/retry",
                             json={"reason": "оператор платформы исправил сертификат"})
    assert retried.status_code == 200, retried.text
    history = stand.request(rid)["history"]
    assert history[-1]["from_state"] == "failed"
    assert history[-1]["reason"] == "оператор платформы исправил сертификат"
    stand.run_worker()
    assert stand.request(rid)["state"] == "completed"


def test_cancelling_the_appointment_stops_polling(stand: SigningStand) -> None:
    from tests import factories as f
    rid = stand.start_signing()
    stand.run_worker()
    stand.api.put("/api/v1/organizations/mo1/appointments/a1",
                  json=f.appointment(status="cancelled"))
    stand.advance(timedelta(seconds=11))
    calls_before = stand.control("GET", "/transactions").json()["calls"]
    stand.run_worker()
    assert stand.request(rid)["state"] == "cancelled"
    assert stand.control("GET", "/transactions").json()["calls"] == calls_before
