"""The patient's pages, in the app («К врачу», ``/app``) and on the portal (``/portal``): the
choice «Подписать онлайн» / «Подпишу в клинике» through the same service as the MAX buttons,
the Госключ link, signed documents, support — only ever for the account's own patients."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from medsign.bot import updates
from medsign.clock import FakeClock
from medsign.db.models import (
    AppointmentRow,
    ConsentRow,
    MaxUpdateRow,
    NotificationRow,
    PatientRow,
    SigningRequestRow,
    SupportRequestRow,
    WorkItemRow,
)
from medsign.domain import bot as words
from medsign.domain.consents import ConsentKind
from medsign.domain.signing_identity import IdentityState
from medsign.notifications.service import MESSAGE_KIND
from medsign.serving import BotSettings
from medsign.web.config import WebSettings
from tests.identities import Identities
from tests.integration.web import stand

GOSKEY = "https://max.ru/goskey_test_bot"
USER = 7001
SIGN_A1 = "/organizations/mo1/appointments/a1/sign"
PAPER_A1 = "/organizations/mo1/appointments/a1/paper"


@pytest.fixture
def web_settings() -> WebSettings:
    return WebSettings(cookie_secure=False, goskey_bot_url=GOSKEY)


@pytest.fixture(params=["/app", "/portal"])
def place(request: pytest.FixtureRequest) -> str:
    prefix: str = request.param
    return prefix


def home_of(place: str) -> str:
    return "/app/home" if place == "/app" else "/portal"


def logged_in(client: TestClient) -> TestClient:
    return stand.logged_in(client, "pat1", path="/portal/login")


def requests_of(engine: Engine, aid: str) -> list[SigningRequestRow]:
    with Session(engine) as db:
        return list(db.scalars(select(SigningRequestRow).join(
            AppointmentRow, AppointmentRow.id == SigningRequestRow.appointment_id)
            .where(AppointmentRow.external_id == aid)))


def consents_of(engine: Engine, aid: str) -> dict[str, tuple[str, str]]:
    with Session(engine) as db:
        rows = db.scalars(select(ConsentRow).join(
            AppointmentRow, AppointmentRow.id == ConsentRow.appointment_id)
            .where(AppointmentRow.external_id == aid))
        return {c.kind: (c.signing_method, c.state) for c in rows}


def invite(engine: Engine, aid: str, now: datetime) -> str:
    """The appointment's invitation as the bot leaves it once sent: buttons acting."""
    token = secrets.token_urlsafe(16)
    with Session(engine) as db:
        appt = db.scalars(select(AppointmentRow).where(AppointmentRow.external_id == aid)).one()
        db.execute(update(PatientRow).where(PatientRow.id == appt.patient_id)
                   .values(max_user_id=USER, max_chat_id=USER))
        db.execute(update(NotificationRow).where(NotificationRow.appointment_id == appt.id)
                   .values(state="superseded"))
        db.add(NotificationRow(appointment_id=appt.id, patient_id=appt.patient_id, state="sent",
                               token=token, token_expires_at=now + timedelta(hours=24),
                               max_user_id=USER, chat_id=USER, sent_at=now, created_at=now,
                               updated_at=now, message_mid=f"mid.{token}"))
        db.commit()
    return token


def chat_edits(engine: Engine, token: str) -> list[dict[str, object]]:
    """The edits of the invitation's message queued for MAX (the answer, no buttons)."""
    with Session(engine) as db:
        items = db.scalars(select(WorkItemRow).where(WorkItemRow.kind == MESSAGE_KIND)).all()
    return [dict(i.data or {}) for i in items if (i.data or {}).get("edit_mid") == f"mid.{token}"]


def invitation(engine: Engine, token: str) -> NotificationRow:
    with Session(engine) as db:
        row = db.scalars(select(NotificationRow).where(NotificationRow.token == token)).one()
        db.expunge(row)
        return row


def press(engine: Engine, clock: FakeClock, bot_settings: BotSettings, payload: str) -> dict:
    """A MAX button press, handled by the bot exactly as the worker does."""
    raw = {"update_type": "message_callback", "timestamp": 1,
           "callback": {"timestamp": 1, "callback_id": secrets.token_hex(8), "payload": payload,
                        "user": {"user_id": USER, "name": "Мария"}}}
    with engine.begin() as conn:
        assert updates.ingest(conn, raw, via="test", now=clock.now())
    handler = updates.Handler(clock=clock, policy=bot_settings.policy, identities=Identities())
    with Session(engine) as db:
        update_id = db.scalars(select(MaxUpdateRow.id).order_by(MaxUpdateRow.id.desc())).first()
        assert update_id is not None
        handler.handle(db, update_id)
        outcome = db.get(MaxUpdateRow, update_id)
        assert outcome is not None and outcome.outcome is not None
        answer: dict = outcome.outcome
        db.commit()
    return answer


def test_sign_online_starts_one_request_however_often_pressed(
        client: TestClient, seeded: stand.Seeded, engine: Engine, place: str) -> None:
    home = logged_in(client).get(home_of(place))
    assert home.status_code == 200
    assert f'action="{place}{SIGN_A1}"' in home.text
    assert 'data-refresh-url' not in home.text  # nothing is moving yet
    token = stand.csrf(home)

    first = client.post(place + SIGN_A1, data={"csrf_token": token})
    assert first.status_code == 303
    assert first.headers["location"] == f"{home_of(place)}?msg=patient_signing_started"
    second = client.post(place + SIGN_A1, data={"csrf_token": token})  # a double tap
    assert second.status_code == 409
    assert words.SIGNING_ALREADY_OPEN in second.text

    [request] = requests_of(engine, "a1")
    assert (request.initiated_by, request.state) == ("patient", "new")
    assert consents_of(engine, "a1")["medical_intervention"] == ("electronic", "in_signing")
    page = client.get(first.headers["location"]).text
    assert "Готовим документы к подписанию" in page
    assert "готовим документы к подписанию" in page  # the state in plain words
    assert f'data-refresh-url="{home_of(place)}/live"' in page  # it refreshes itself
    assert f'action="{place}{SIGN_A1}"' not in page  # no second start offered
    assert GOSKEY not in page  # not in Госключ yet


def test_the_goskey_link_appears_once_the_documents_are_there(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        place: str) -> None:
    logged_in(client)
    request_id = stand.start_signing(engine, "a1", clock.now())
    with Session(engine) as db:
        db.execute(update(SigningRequestRow).where(SigningRequestRow.id == request_id)
                   .values(state="sent"))
        db.commit()
    live = client.get(home_of(place) + "/live", headers={"X-Requested-With": "medsign-refresh"})
    assert live.status_code == 200 and "<html" not in live.text
    assert "ждёт вашей подписи в Госключе" in live.text
    assert f'href="{GOSKEY}"' in live.text and words.GOSKEY_INSTRUCTION in live.text


def test_the_page_takes_the_invitations_choice_so_the_bot_button_counts_once(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        bot: BotSettings) -> None:
    token = invite(engine, "a1", clock.now())
    page = logged_in(client).get("/app/home")
    r = client.post("/app" + SIGN_A1, data={"csrf_token": stand.csrf(page)})
    assert r.status_code == 303
    [request] = requests_of(engine, "a1")
    row = invitation(engine, token)
    assert (row.choice, row.signing_request_id) == ("sign", request.id)
    [edit] = chat_edits(engine, token)  # the chat stops offering the buttons
    assert edit["buttons"] == "none" and edit["user_id"] == USER
    assert edit["text"] == words.after_sign(
        [ConsentKind(k) for k in request.consent_kinds])

    answer = press(engine, clock, bot, f"sign:{token}")
    assert answer["answer"]["toast"] == words.ALREADY_CHOSEN
    assert len(requests_of(engine, "a1")) == 1


def test_after_the_bot_button_the_page_starts_nothing_more(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        bot: BotSettings) -> None:
    token = invite(engine, "a1", clock.now())
    answer = press(engine, clock, bot, f"sign:{token}")
    assert answer["answer"]["toast"] == words.SIGNING_STARTED_TOAST
    [request] = requests_of(engine, "a1")
    assert chat_edits(engine, token) == []  # the press's own answer edits the message

    page = logged_in(client).get("/portal")
    assert 'action="/portal' + SIGN_A1 + '"' not in page.text  # already under way
    r = client.post("/portal" + SIGN_A1, data={"csrf_token": stand.csrf(page)})
    assert r.status_code == 409 and words.SIGNING_ALREADY_OPEN in r.text
    assert [x.id for x in requests_of(engine, "a1")] == [request.id]


def test_signing_in_the_clinic_asks_first_then_moves_the_documents_to_paper(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        bot: BotSettings, place: str) -> None:
    token = invite(engine, "a1", clock.now())
    home = logged_in(client).get(home_of(place)).text
    assert f'href="{place}{PAPER_A1}"' in home
    question = client.get(place + PAPER_A1)
    assert question.status_code == 200
    assert "Подписать документы в клинике?" in question.text
    assert consents_of(engine, "a1")["medical_intervention"] == ("electronic", "pending")

    done = client.post(place + PAPER_A1, data={"csrf_token": stand.csrf(question)})
    assert done.status_code == 200
    with Session(engine) as db:
        appt = db.scalars(select(AppointmentRow).where(AppointmentRow.external_id == "a1")).one()
    assert words.after_paper(appt.starts_at, "Europe/Moscow") in done.text
    assert consents_of(engine, "a1") == {"medical_intervention": ("paper", "pending"),
                                         "personal_data": ("paper", "pending"),
                                         "paid_services_contract": ("paper", "pending")}
    assert invitation(engine, token).choice == "paper"
    assert requests_of(engine, "a1") == []
    [edit] = chat_edits(engine, token)
    assert edit["text"] == words.after_paper(appt.starts_at, "Europe/Moscow")
    # the bot's button is stale now, and a second confirmation changes nothing
    assert press(engine, clock, bot, f"sign:{token}")["answer"]["toast"] == words.ALREADY_CHOSEN
    again = client.post(place + PAPER_A1, data={"csrf_token": stand.csrf(question)})
    assert again.status_code == 409 and words.PAGE_NOTHING_TO_CHOOSE in again.text
    asked_again = client.get(place + PAPER_A1).text
    assert words.PAGE_NOTHING_TO_CHOOSE in asked_again and "confirm-paper" not in asked_again
    assert f'action="{place}{SIGN_A1}"' not in client.get(home_of(place)).text


def test_without_a_phone_the_page_says_what_to_do_and_the_buttons_stay(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    token = invite(engine, "a1", clock.now())
    with Session(engine) as db:
        db.execute(update(PatientRow).where(PatientRow.external_id == "p1").values(phone=None))
        db.commit()
    page = logged_in(client).get("/app/home")
    r = client.post("/app" + SIGN_A1, data={"csrf_token": stand.csrf(page)})
    assert r.status_code == 409 and words.PAGE_PHONE_NEEDED in r.text
    assert "patient_phone_missing" not in r.text and "MAX." in r.text
    assert invitation(engine, token).choice is None  # the MAX buttons go on acting
    assert requests_of(engine, "a1") == [] and chat_edits(engine, token) == []


def test_a_clinic_that_cannot_sign_now_is_said_kindly(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        identities: Identities) -> None:
    token = invite(engine, "a1", clock.now())
    identities.set("mo1", IdentityState.expired, "сертификат истёк 01.03.2026")
    page = logged_in(client).get("/portal")
    r = client.post("/portal" + SIGN_A1, data={"csrf_token": stand.csrf(page)})
    assert r.status_code == 409 and words.SIGNING_ONLINE_UNAVAILABLE in r.text
    assert "сертификат" not in r.text  # the internal reason never reaches the patient
    assert invitation(engine, token).choice is None
    assert requests_of(engine, "a1") == []


@pytest.mark.parametrize("target", ["/organizations/mo2/appointments/a3",  # another МО's
                                    "/organizations/mo1/appointments/a2",  # another patient's
                                    "/organizations/mo1/appointments/nope"])
def test_another_accounts_appointment_is_not_found(
        client: TestClient, seeded: stand.Seeded, engine: Engine, place: str,
        target: str) -> None:
    page = logged_in(client).get(home_of(place))
    token = stand.csrf(page)
    assert client.post(place + target + "/sign", data={"csrf_token": token}).status_code == 404
    assert client.post(place + target + "/paper", data={"csrf_token": token}).status_code == 404
    assert client.get(place + target + "/paper").status_code == 404
    assert requests_of(engine, "a2") == [] and requests_of(engine, "a3") == []
    assert consents_of(engine, "a2")["medical_intervention"] == ("electronic", "pending")


def test_a_form_without_the_csrf_token_changes_nothing(
        client: TestClient, seeded: stand.Seeded, engine: Engine, place: str) -> None:
    logged_in(client)
    assert client.post(place + SIGN_A1, data={}).status_code == 403
    assert client.post(place + PAPER_A1, data={"csrf_token": "forged"}).status_code == 403
    assert requests_of(engine, "a1") == []


def test_signed_documents_are_only_the_accounts_own(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock,
        place: str) -> None:
    mine = stand.start_signing(engine, "a1", clock.now())
    pdf = stand.complete(engine, mine, clock.now())
    theirs = stand.start_signing(engine, "a3", clock.now())
    stand.complete(engine, theirs, clock.now())
    page = logged_in(client).get(place + "/documents")
    assert page.status_code == 200
    assert f'data-request="{mine}"' in page.text and theirs not in page.text
    assert f'href="{place}/requests/{mine}/documents/1"' in page.text
    r = client.get(f"{place}/requests/{mine}/documents/1")
    assert r.status_code == 200 and r.content == pdf
    for tail in ("/documents/1", "/evidence", "/signature-sheet"):
        assert client.get(f"{place}/requests/{theirs}{tail}").status_code == 404


def test_the_app_asks_to_log_in_within_the_app(client: TestClient,
                                               seeded: stand.Seeded) -> None:
    r = client.get("/app/home")
    assert r.status_code == 303 and r.headers["location"] == "/app/login?next=%2Fapp%2Fhome"
    assert client.get("/portal/documents").headers["location"].startswith("/portal/login")


def test_support_in_the_app_is_prefilled_with_the_patients_name(
        client: TestClient, seeded: stand.Seeded, engine: Engine) -> None:
    page = logged_in(client).get("/app/support")
    assert page.status_code == 200
    assert 'action="/app/support"' in page.text and 'value="Иванова Мария Петровна"' in page.text
    r = client.post("/app/support", data={"csrf_token": stand.csrf(page),
                                          "message": "Не открывается документ",
                                          "contact": "Иванова Мария Петровна"})
    assert r.status_code == 200 and "Обращение принято" in r.text
    with Session(engine) as db:
        [report] = db.scalars(select(SupportRequestRow)).all()
    assert report.actor == "portal:pat1" and report.message == "Не открывается документ"


def test_max_linking_from_the_app(client: TestClient, seeded: stand.Seeded) -> None:
    page = logged_in(client).get("/app/max")
    assert page.status_code == 200 and 'action="/app/max/link"' in page.text
    r = client.post("/app/max/link", data={"csrf_token": stand.csrf(page),
                                           "organization": "mo1", "patient": "p1"})
    assert r.status_code == 200 and 'href="https://max.ru/medsign_test_bot?start=' in r.text
    assert client.post("/app/max/link", data={"csrf_token": stand.csrf(page),
                                              "organization": "mo2",
                                              "patient": "p3"}).status_code == 404
