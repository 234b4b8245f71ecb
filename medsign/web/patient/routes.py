"""What the patient does once logged in — in the app «К врачу» (``/app/…``, phone layout) and
on the portal (``/portal/…``, desktop layout): the same routes and templates, built once per
``Place``, which only chooses the layout and the addresses.

- home: the upcoming appointments of every patient of the account, their documents and
  states, «Подписать онлайн» and «Подпишу в клинике» (``signing.patient_choice``: the same
  decision as the MAX buttons), the Госключ link once the documents are there; the list
  refreshes itself while a signing is moving;
- signed documents: each completed request's PDFs, signature sheet and evidence package;
- MAX linking.

Every appointment or request named in an address is checked against the account's patients
(``accounts.portal``): another one is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from medsign.accounts import portal
from medsign.accounts.portal import PortalUser
from medsign.bot import links as max_links
from medsign.domain import bot
from medsign.domain.patient_choice import Outcome
from medsign.errors import ServiceUnavailable
from medsign.records.scope import Scope
from medsign.serving import identities, state
from medsign.signing import documents, evidence, patient_choice
from medsign.web import deps
from medsign.web.doctor import queries as doctor
from medsign.web.doctor.routes import attachment, evidence_config
from medsign.web.portal import queries
from medsign.web.qr import svg
from medsign.web.templating import render

Id = Annotated[str, Path(min_length=1, max_length=100)]
Number = Annotated[int, Path(ge=1, le=100)]


@dataclass(frozen=True)
class Place:
    """Where the patient's pages are shown: the app or the portal."""

    prefix: str
    layout: str
    home_path: str  # below ``prefix``
    name: str

    @property
    def home(self) -> str:
        return self.prefix + self.home_path

    def appointment(self, code: str, appointment_id: str, tail: str = "") -> str:
        return f"{self.prefix}/organizations/{quote(code, safe='')}/appointments/" \
               f"{quote(appointment_id, safe='')}{tail}"


APP = Place("/app", "app/base.html", "/home", "app")
PORTAL = Place("/portal", "base.html", "", "portal")


def build(place: Place) -> APIRouter:
    router = APIRouter(prefix=place.prefix, dependencies=[deps.Guard], include_in_schema=False)

    def page(request: Request, name: str, *, status: int = 200, **context: Any) -> Response:
        return render(request, name, status=status, layout=place.layout, place=place,
                      **context)

    def home_context(request: Request, user: PortalUser) -> dict[str, Any]:
        with deps.read_db(request) as db:
            people = queries.documents(db, account_id=user.id, now=deps.now(request),
                                       upcoming=True)
            pdfs = _pdfs(db, people)
        return {"people": people, "pdfs": pdfs, "moving": queries.moving(people),
                "goskey_url": deps.web_settings(request).goskey_bot_url,
                "goskey_instruction": bot.GOSKEY_INSTRUCTION, "goskey_button": bot.GOSKEY_BUTTON}

    def home_page(request: Request, user: PortalUser, *, status: int = 200,
                  error: str | None = None) -> Response:
        return page(request, "patient/home.html", status=status, title="Мои документы",
                    error=error, **home_context(request, user))

    @router.get(place.home_path)
    def home(request: Request, user: deps.Patient) -> Response:
        return home_page(request, user)

    @router.get(place.home_path + "/live")
    def home_live(request: Request, user: deps.Patient) -> Response:
        """The home page's live part: the appointments and their states."""
        return page(request, "patient/_visits.html", **home_context(request, user))

    @router.post("/organizations/{code}/appointments/{appointment_id}/sign")
    def sign_online(request: Request, user: deps.Patient, code: Id,
                    appointment_id: Id) -> Response:
        with deps.write_db(request) as db:
            appt = portal.owned_appointment(db, account_id=user.id, organization_code=code,
                                            appointment_external_id=appointment_id)
            decision = patient_choice.sign_online(
                db, appointment_id=appt.id, actor=user.actor, identities=identities(request),
                now=deps.now(request))
            db.commit()
        if decision.outcome is Outcome.started:
            return RedirectResponse(f"{place.home}?msg=patient_signing_started",
                                    status_code=303)
        return home_page(request, user, status=409,
                         error=bot.choice_refused(decision.outcome, decision.code))

    @router.get("/organizations/{code}/appointments/{appointment_id}/paper")
    def paper_question(request: Request, user: deps.Patient, code: Id,
                       appointment_id: Id) -> Response:
        visit = _visit(request, user, code, appointment_id)
        return page(request, "patient/paper.html", title="Подписать документы в клинике",
                    visit=visit, done=None, question=bot.PAPER_QUESTION,
                    nothing=bot.PAGE_NOTHING_TO_CHOOSE)

    @router.post("/organizations/{code}/appointments/{appointment_id}/paper")
    def paper(request: Request, user: deps.Patient, code: Id, appointment_id: Id) -> Response:
        with deps.write_db(request) as db:
            appt = portal.owned_appointment(db, account_id=user.id, organization_code=code,
                                            appointment_external_id=appointment_id)
            decision = patient_choice.sign_on_paper(db, appointment_id=appt.id,
                                                    now=deps.now(request))
            db.commit()
        visit = _visit(request, user, code, appointment_id)
        if decision.outcome is not Outcome.paper:
            return page(request, "patient/paper.html", status=409,
                        title="Подписать документы в клинике", visit=visit, done=None,
                        error=bot.choice_refused(decision.outcome, decision.code))
        done = bot.after_paper(decision.appointment.starts_at, decision.organization.timezone)
        return page(request, "patient/paper.html", title="Документы подпишете в клинике",
                    visit=visit, done=done)

    @router.get("/documents")
    def signed_documents(request: Request, user: deps.Patient) -> Response:
        with deps.read_db(request) as db:
            people = queries.documents(db, account_id=user.id, now=deps.now(request))
            pdfs = _pdfs(db, people)
        return page(request, "patient/documents.html", title="Подписанные документы",
                    people=people, pdfs=pdfs, evidence=state(request).evidence is not None)

    @router.get("/requests/{request_id}/documents/{number}")
    def document(request: Request, user: deps.Patient, request_id: Id,
                 number: Number) -> Response:
        with deps.read_db(request) as db:
            row = portal.owns_request(db, account_id=user.id, request_id=request_id)
            name, content = documents.read_pdf(
                db, request_id=row.id, state=row.state, number=number,
                limits=deps.web_settings(request).archive_limits)
        return attachment(content, name, "application/pdf")

    @router.get("/requests/{request_id}/evidence")
    def evidence_package(request: Request, user: deps.Patient, request_id: Id) -> Response:
        with deps.read_db(request) as db:
            row, scope = portal.request_scope(db, account_id=user.id, request_id=request_id,
                                              actor=user.actor)
            config = evidence_config(request, "пакет доказательств недоступен")
            content = evidence.build(db, scope=scope, request_id=row.id, config=config,
                                     now=deps.now(request))
        return attachment(content, f"evidence-{row.id}.zip", "application/zip")

    @router.get("/requests/{request_id}/signature-sheet")
    def signature_sheet(request: Request, user: deps.Patient, request_id: Id) -> Response:
        with deps.read_db(request) as db:
            row, scope = portal.request_scope(db, account_id=user.id, request_id=request_id,
                                              actor=user.actor)
            config = evidence_config(request, "лист подписания недоступен")
            content = evidence.signature_sheet(db, scope=scope, request_id=row.id,
                                               config=config, now=deps.now(request))
        return attachment(content, f"Лист подписания {row.id}.pdf", "application/pdf")

    @router.get("/max")
    def max_page(request: Request, user: deps.Patient) -> Response:
        with deps.read_db(request) as db:
            people = queries.documents(db, account_id=user.id, now=deps.now(request))
        return page(request, "portal/max.html", title="Привязка MAX", people=people,
                    issued=None, enabled=state(request).bot is not None)

    @router.post("/max/link")
    def max_link(request: Request, user: deps.Patient,
                 organization: Annotated[str, Form(min_length=1, max_length=64)],
                 patient: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
        settings = state(request).bot
        if settings is None:
            raise ServiceUnavailable("max_disabled", "Бот MAX не подключён: привязка недоступна.")
        with deps.write_db(request) as db:
            row, org = portal.owned_patient(db, account_id=user.id,
                                            organization_code=organization,
                                            patient_external_id=patient)
            issued = max_links.issue(db, patient=row, link_base=settings.deep_link_base,
                                     ttl=settings.link_ttl, actor=user.actor,
                                     organization_code=org.code, now=deps.now(request))
            db.commit()
        with deps.read_db(request) as db:
            people = queries.documents(db, account_id=user.id, now=deps.now(request))
        return page(request, "portal/max.html", title="Привязка MAX", people=people,
                    issued=issued, issued_for=patient, enabled=True,
                    qr=svg(issued.deep_link, title="QR-код ссылки на бота MAX"))

    def _visit(request: Request, user: PortalUser, code: str,
               appointment_id: str) -> queries.Visit:
        with deps.read_db(request) as db:
            portal.owned_appointment(db, account_id=user.id, organization_code=code,
                                     appointment_external_id=appointment_id)
            scope = Scope(actor=user.actor, organizations=frozenset({code}))
            return queries.Visit(doctor.card(db, scope=scope, organization=code,
                                             appointment_id=appointment_id))

    return router


def _pdfs(db: Session, people: list[queries.PatientDocuments]
          ) -> dict[str, list[documents.SignedPdf] | None]:
    return documents.shown_pdfs(db, ((v.card.request.id, v.card.request.state)
                                     for p in people for v in p.visits
                                     if v.card.request is not None))


app_router = build(APP)
portal_router = build(PORTAL)
