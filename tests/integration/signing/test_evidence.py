"""The evidence package of a real signing (worker, API and the Goskey emulator in-process, on
the test database): what the verification report, its page and the signature sheet say, and
that every file in the ZIP unpacks readable."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign.accounts import staff
from medsign.crypto.keys import issue_certificate, load_pem, read_der, save_pem
from medsign.records.scope import Scope
from medsign.signing import service as signing
from tests.integration.signing.stand import SigningStand

OPERATOR = "ivanova"
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+03:00$")  # Moscow, no fraction
LOCAL_TIME = re.compile(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d \(Москва, UTC\+3\)")


def signed(stand: SigningStand, *, retried_by: str | None = None) -> str:
    """A completed signing; with ``retried_by`` it fails once (a bad operator signature) and
    that employee retries it from the service, as the console does."""
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    if retried_by:
        stand.control("POST", "/faults", {"method": "download", "bad_operator_signature": True})
    stand.control("POST", f"/transactions/{tx}/sign")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    if retried_by:
        stand.control("DELETE", "/faults")
        with Session(stand.container.engine) as db:
            signing.retry(db, scope=Scope(actor=f"web:{retried_by}"), request_id=rid,
                          now=stand.clock.now(), reason="сертификат оператора исправлен")
            db.commit()
        stand.run_worker()
    assert stand.request(rid)["state"] == "completed", stand.request(rid)
    return rid


def add_operator(engine: Engine) -> None:
    with Session(engine) as db:
        staff.create(db, user=staff.NewUser(login=OPERATOR, full_name="Иванова Ирина Игоревна",
                                            role="operator", organization=None,
                                            password="Оператор-пароль-2026!"),
                     allow_demo_password=True, actor="test", now=datetime.now(UTC))
        db.commit()


def package(stand: SigningStand, rid: str) -> zipfile.ZipFile:
    r = stand.api.get(f"/api/v1/signing-requests/{rid}/evidence")
    assert r.status_code == 200, r.text
    return zipfile.ZipFile(io.BytesIO(r.content))


def archive_pdfs(zf: zipfile.ZipFile) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zf.read("platform-archive.zip"))) as inner:
        return {n: inner.read(n) for n in inner.namelist() if n.endswith(" PDF.pdf")}


def test_the_report_names_the_people_and_keeps_local_times_to_the_second(
        stand: SigningStand) -> None:
    add_operator(stand.container.engine)
    rid = signed(stand, retried_by=OPERATOR)
    with package(stand, rid) as zf:
        report: dict[str, Any] = json.loads(zf.read("verification.json"))
        trail: dict[str, Any] = json.loads(zf.read("audit-trail.json"))
        page = zf.read("verification.html").decode()
    assert report["patient"]["full_name"] == "Иванов Иван Иванович"
    assert report["patient"]["birth_date"] == "1980-05-17"
    assert report["organization"]["name"] == "ГБУЗ «Городская поликлиника № 1»"
    for moment in (report["completed_at"], report["checked_at"],
                   *(s["signing_time"] for s in report["mo_signatures"]),
                   *(h["at"] for h in trail["history"])):
        assert ISO_SECONDS.match(moment), moment
    actors = {h["actor_title"] for h in trail["history"]}
    assert {"МИС клиники", "система", "оператор Иванова И. И."} <= actors, actors
    retry = next(h for h in trail["history"] if h["actor"] == f"web:{OPERATOR}")
    assert retry["reason"] == "сертификат оператора исправлен"
    assert "Иванов Иван Иванович, дата рождения 17.05.1980" in page
    assert "ГБУЗ «Городская поликлиника № 1», ОГРН" in page
    assert "оператор Иванова И. И." in page and "МИС клиники" in page
    text = re.sub(r"<[^>]+>", "", page)
    assert LOCAL_TIME.search(text) and not re.search(r"\d\d:\d\d:\d\d\.\d", text)
    assert "break-word" not in page  # only ids and hashes may break between characters


def test_the_signature_sheet_lists_each_document_with_its_hash_and_both_signatures(
        stand: SigningStand) -> None:
    rid = signed(stand)
    with package(stand, rid) as zf:
        sheet = zf.read("signature-sheet.pdf")
        report: dict[str, Any] = json.loads(zf.read("verification.json"))
        pdfs = archive_pdfs(zf)
    alone = stand.api.get(f"/api/v1/signing-requests/{rid}/signature-sheet")
    assert alone.status_code == 200 and alone.headers["content-type"] == "application/pdf"
    assert alone.content == sheet  # the same sheet, the same moment on the fake clock
    text = re.sub(r"\s+", " ", "\n".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(sheet), strict=True).pages))
    assert "Лист подписания" in text and "Иванов Иван Иванович" in text
    assert "ГБУЗ «Городская поликлиника № 1»" in text
    assert report["transaction_id"] in text and rid in text
    assert len(pdfs) == 2
    for name, content in pdfs.items():
        assert name in text and hashlib.sha256(content).hexdigest() in text
    for mo in report["mo_signatures"]:
        assert mo["signer_serial"] in text
    seal = report["documents"][0]["patient_signature"]
    squeezed = text.replace(" ", "")
    assert seal["signer_subject"].replace(" ", "") in squeezed  # wrapped over two lines
    assert seal["signer_serial"] in text
    assert text.count("Подпись пациента") == 2
    assert text.count("Подпись медицинской организации") == 2
    assert LOCAL_TIME.search(text)


def test_every_file_in_the_package_unpacks_readable_with_its_date(
        stand: SigningStand, tmp_path: Path) -> None:
    rid = signed(stand)
    with package(stand, rid) as zf:
        infos = zf.infolist()
        zf.extractall(tmp_path / "out")
        checked = json.loads(zf.read("verification.json"))["checked_at"]
    assert {i.filename for i in infos} >= {"signature-sheet.pdf", "verification.html"}
    day = datetime.fromisoformat(checked)
    for info in infos:
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        assert stat.S_ISREG(info.external_attr >> 16), info.filename
        assert info.date_time[:3] == (day.year, day.month, day.day), info
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert os.access(path, os.R_OK), path


def test_each_mo_signature_names_the_certificate_that_made_it(stand: SigningStand) -> None:
    keys = stand.container.keys_dir / "mo1" / "dev"  # the development identity of the МО
    used = read_der(keys / "certificate.pem")
    rid = signed(stand)
    # The МО's key is rotated afterwards: the evidence keeps naming the one that signed.
    ca = load_pem(stand.container.keys_dir / "dev-ca.key", stand.container.keys_dir / "dev-ca.pem")
    save_pem(issue_certificate(ca, common_name="новый", organization="новый"),
             keys / "key.pem", keys / "certificate.pem")
    thumbprint = hashlib.sha1(used, usedforsecurity=False).hexdigest().upper()
    with package(stand, rid) as zf:
        report: dict[str, Any] = json.loads(zf.read("verification.json"))
        page = zf.read("verification.html").decode()
        sheet = zf.read("signature-sheet.pdf")
    assert report["mo_signatures"]
    for mo in report["mo_signatures"]:
        assert mo["valid"]
        assert mo["certificate_thumbprint"] == thumbprint
        assert mo["certificate_sha256"] == hashlib.sha256(used).hexdigest()
        assert mo["signer_subject"] and mo["signer_serial"]
    assert page.count(thumbprint) >= len(report["mo_signatures"])
    assert hashlib.sha256(used).hexdigest() in page
    text = re.sub(r"\s+", "", "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(sheet), strict=True).pages))
    assert "Отпечатоксертификата(SHA-1)" in text and thumbprint in text
    assert hashlib.sha256(used).hexdigest() in text
