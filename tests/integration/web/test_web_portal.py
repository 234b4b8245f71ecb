"""Patient pages: "Мои документы", downloads, MAX linking with a QR code."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.db.models import DocumentRow, MaxLinkTokenRow
from medsign.web.config import WebSettings
from tests.integration.web import stand


def test_my_documents_lists_only_my_appointments(client: TestClient, seeded: stand.Seeded,
                                                 engine: Engine, clock: FakeClock) -> None:
    request_id = stand.start_signing(engine, "a1", clock.now())
    pdf = stand.complete(engine, request_id, clock.now())
    page = stand.logged_in(client, "pat1", path="/portal/login").get("/portal").text
    assert 'data-appointment="a1"' in page and 'data-appointment="a4"' in page
    assert 'data-appointment="a2"' not in page and "Смирнов" not in page
    assert "подписано" in page and "ИДС (PDF, подписан)" in page  # the archive's file name
    # the patient reads documents by plain names (no «ИДС»), the doctor's page keeps the term
    assert "Согласие на медицинское вмешательство (электронно)" in page
    assert "ИДС на медицинское вмешательство" not in page
    r = client.get(f"/portal/requests/{request_id}/documents/1")
    assert r.status_code == 200 and r.content == pdf


def test_linking_max_shows_a_one_time_deep_link_and_a_qr_code(
        client: TestClient, seeded: stand.Seeded, engine: Engine) -> None:
    stand.logged_in(client, "pat1", path="/portal/login")
    page = client.get("/portal/max")
    assert "не привязан" in page.text
    r = client.post("/portal/max/link", data={"csrf_token": stand.csrf(page),
                                              "organization": "mo1", "patient": "p1"})
    assert r.status_code == 200
    assert 'href="https://max.ru/medsign_test_bot?start=' in r.text
    assert '<svg role="img" aria-label="QR-код ссылки на бота MAX"' in r.text
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(MaxLinkTokenRow)) == 1


def test_linking_someone_elses_patient_is_not_found(client: TestClient,
                                                    seeded: stand.Seeded) -> None:
    stand.logged_in(client, "pat1", path="/portal/login")
    token = stand.token_of(client, "/portal/max")
    r = client.post("/portal/max/link", data={"csrf_token": token, "organization": "mo2",
                                              "patient": "p3"})
    assert r.status_code == 404
    # The account's own patient id, named in another organisation, is someone else's record.
    r = client.post("/portal/max/link", data={"csrf_token": token, "organization": "mo2",
                                              "patient": "p1"})
    assert r.status_code == 404


def test_without_the_bot_linking_is_explained(engine: Engine, clock: FakeClock,
                                              seeded: stand.Seeded) -> None:
    app = create_app(engine, clock=clock, web=WebSettings(cookie_secure=False))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        stand.logged_in(c, "pat1", path="/portal/login")
        page = c.get("/portal/max")
        assert "не подключён" in page.text and 'data-testid="issue-link"' not in page.text
        r = c.post("/portal/max/link", data={"csrf_token": stand.csrf(page),
                                             "organization": "mo1", "patient": "p1"})
        assert r.status_code == 503


def test_portal_logout_returns_to_the_portal_login(client: TestClient,
                                                   seeded: stand.Seeded) -> None:
    stand.logged_in(client, "pat1", path="/portal/login")
    r = client.post("/logout", data={"csrf_token": stand.token_of(client, "/portal")})
    assert r.headers["location"] == "/portal/login?msg=logged_out"
    assert client.get("/portal").headers["location"].startswith("/portal/login")


def test_a_damaged_archive_is_said_beside_its_request_not_a_server_error(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    """The stored archive no longer reads (a bad restore, damaged storage): the pages that
    list it still open and say so beside that request; its download is refused in words."""
    request_id = stand.start_signing(engine, "a1", clock.now())
    stand.complete(engine, request_id, clock.now())
    with Session(engine) as db:
        db.execute(update(DocumentRow).where(DocumentRow.signing_request_id == request_id)
                   .values(content=b"PK\x03\x04 no longer a ZIP"))
        db.commit()
    said = "Подписанные документы сейчас не удаётся открыть. Обратитесь в регистратуру"
    stand.logged_in(client, "pat1", path="/portal/login")
    for path in ("/portal", "/portal/documents"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert said in page.text and 'data-testid="documents-unreadable"' in page.text, path
    assert 'data-appointment="a4"' in client.get("/portal").text  # the other visits stay
    r = client.get(f"/portal/requests/{request_id}/documents/1")
    assert r.status_code == 409 and "файл повреждён" in r.text
    assert f"signing request {request_id} does not read" in caplog.text
    client.cookies.clear()
    stand.logged_in(client, "doc1")
    page = client.get("/doctor/organizations/mo1/appointments/a1")
    assert page.status_code == 200
    assert "Архив подписанных документов не открывается" in page.text
