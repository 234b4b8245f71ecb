"""The signed documents a МИС files in the patient's record: the list with hashes, each file
downloaded by itself, and the answers before completion and for someone else's request."""

from __future__ import annotations

import hashlib
import io
import zipfile
from urllib.parse import unquote

from sqlalchemy import update
from sqlalchemy.orm import Session

from medsign.crypto import verify_detached
from medsign.db.models import DocumentRow
from tests import factories as f
from tests.integration.signing.stand import SigningStand
from tests.integration.signing.test_evidence import signed


def test_each_document_lists_its_pdf_and_both_signatures_and_each_downloads(
        stand: SigningStand) -> None:
    rid = signed(stand)
    r = stand.api.get(f"/api/v1/signing-requests/{rid}/documents")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["signing_request"] == rid
    docs = body["documents"]
    assert [d["number"] for d in docs] == [1, 2]
    evidence = stand.api.get(f"/api/v1/signing-requests/{rid}/evidence")
    with zipfile.ZipFile(io.BytesIO(evidence.content)) as zf, \
            zipfile.ZipFile(io.BytesIO(zf.read("platform-archive.zip"))) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    for doc in docs:
        files = {}
        for part in ("pdf", "patient_signature", "mo_signature"):
            meta = doc[part]
            got = stand.api.get(meta["url"])
            assert got.status_code == 200, (meta, got.text)
            assert got.headers["content-type"] == meta["media_type"]
            disposition = got.headers["content-disposition"]
            assert unquote(disposition.split("''", 1)[1]) == meta["name"]
            assert hashlib.sha256(got.content).hexdigest() == meta["sha256"]
            assert len(got.content) == meta["size"]
            files[part] = got.content
        assert doc["pdf"]["name"] == f"{doc['title']} PDF.pdf"
        assert doc["pdf"]["media_type"] == "application/pdf"
        assert files["pdf"] == entries[doc["pdf"]["name"]] and files["pdf"].startswith(b"%PDF")
        assert files["patient_signature"] == entries[f"{doc['title']} подпись к PDF.p7s"]
        assert doc["mo_signature"]["covers"] == doc["pdf"]["name"]
        assert doc["mo_signature"]["media_type"] == "application/pkcs7-signature"
        # the МО's signature is a detached CMS over exactly this PDF
        verify_detached(files["pdf"], files["mo_signature"], trust=None)


def test_before_completion_the_documents_are_refused_with_409_and_others_get_404(
        stand: SigningStand) -> None:
    rid = stand.start_signing()
    for path in ("documents", "documents/1/pdf", "documents/1/mo-signature"):
        r = stand.api.get(f"/api/v1/signing-requests/{rid}/{path}")
        assert r.status_code == 409 and r.json()["code"] == "documents_not_ready", r.text
    unknown = stand.api.get("/api/v1/signing-requests/no-such-request/documents")
    assert unknown.status_code == 404


def test_a_document_number_out_of_range_is_404(stand: SigningStand) -> None:
    rid = signed(stand)
    for path in ("documents/3/pdf", "documents/0/pdf", "documents/1/nothing"):
        r = stand.api.get(f"/api/v1/signing-requests/{rid}/{path}")
        assert r.status_code in (404, 422), (path, r.status_code)
    assert stand.api.get(f"/api/v1/signing-requests/{rid}/documents/3/pdf").status_code == 404


def test_a_client_of_another_organization_does_not_see_the_documents(
        stand: SigningStand) -> None:
    rid = signed(stand)
    other = f.token(stand.container.engine, name="other-mis", organizations=["mo2"])
    for path in ("documents", "documents/1/pdf", "documents/1/patient-signature"):
        r = stand.api.get(f"/api/v1/signing-requests/{rid}/{path}",
                          headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 404, (path, r.text)


def test_a_stored_archive_that_no_longer_reads_is_refused_in_words(
        stand: SigningStand) -> None:
    rid = signed(stand)
    with Session(stand.container.engine) as db:
        db.execute(update(DocumentRow).where(DocumentRow.signing_request_id == rid,
                                             DocumentRow.kind == "platform_archive")
                   .values(content=b"PK\x03\x04 damaged in storage"))
        db.commit()
    for path in ("documents", "documents/1/pdf", "documents/1/patient-signature"):
        r = stand.api.get(f"/api/v1/signing-requests/{rid}/{path}")
        assert r.status_code == 409 and r.json()["code"] == "documents_unreadable", (path, r.text)
    assert stand.request(rid)["state"] == "completed"  # the record is as it was
