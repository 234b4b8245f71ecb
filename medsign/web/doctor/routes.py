"""The doctor's workstation (АРМ врача): one day's appointments of the doctor's organisation or
his own patients, starting signing (flow B) and, after a refusal or an expiry, sending again or
moving the documents to paper; an appointment's history; downloading signed documents.

Every route reads through the doctor's own ``Scope`` (one organisation): another
organisation's appointment or request is "not found", exactly as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as date_
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from medsign.accounts.staff import StaffUser
from medsign.domain.follow_up import FollowUp
from medsign.errors import ServiceError, ServiceUnavailable
from medsign.records.scope import Scope
from medsign.serving import identities, state
from medsign.signing import availability, documents, evidence
from medsign.signing import follow_up as follow_ups
from medsign.signing import service as signing
from medsign.web import deps
from medsign.web.doctor import queries
from medsign.web.templating import render

router = APIRouter(prefix="/doctor", dependencies=[deps.Guard], include_in_schema=False)
Id = Annotated[str, Path(min_length=1, max_length=100)]
Search = Annotated[str, Query(max_length=100)]


def scope_of(user: StaffUser) -> Scope:
    if user.organization_code is None:
        raise deps.AccessDenied()
    return Scope(actor=user.actor, organizations=frozenset({user.organization_code}))


@dataclass(frozen=True)
class BoardParams:
    """The board's query string: ``date`` (ГГГГ-ММ-ДД; today when absent), ``who`` (``mine``:
    the doctor's own patients, the default when his account names his id in the МИС; ``all``),
    ``q`` (a name search) and ``after`` (the page cursor)."""

    q: Search = ""
    date: date_ | None = None
    who: Literal["mine", "all"] | None = None
    after: Annotated[str | None, Query(max_length=500)] = None

    def mine(self, user: StaffUser) -> bool:
        return (self.who or "mine") == "mine" and user.doctor_external_id is not None

    def url(self, path: str, user: StaffUser, **changes: object) -> str:
        values = {"date": self.date, "who": self.who, "q": self.q, "after": None} | changes
        query = urlencode({k: str(v) for k, v in values.items() if v})
        return f"{path}?{query}" if query else path


Params = Annotated[BoardParams, Depends()]


@router.get("")
def board_page(request: Request, user: deps.Doctor, params: Params) -> Response:
    with deps.read_db(request) as db:
        board, identity = _board(request, db, user, params)
    return render(request, "doctor/board.html", title="АРМ врача", board=board, q=params.q,
                  params=params, user=user, mine=params.mine(user), identity=identity,
                  refresh_url=params.url("/doctor/board", user, after=params.after))


@router.get("/board")
def board_fragment(request: Request, user: deps.Doctor, params: Params) -> Response:
    with deps.read_db(request) as db:
        board, identity = _board(request, db, user, params)
    return render(request, "doctor/_board.html", board=board, q=params.q, params=params,
                  user=user, mine=params.mine(user), identity=identity)


def _board(request: Request, db: Session, user: StaffUser,
           params: BoardParams) -> tuple[queries.Board, availability.OrganizationIdentity | None]:
    scope = scope_of(user)  # refuses a doctor without an organisation
    code = user.organization_code or ""
    identity = _identity(request, db, scope, code)
    where = queries.BoardFilter(day=params.date, query=params.q, after=params.after,
                                doctor_id=user.doctor_external_id if params.mine(user) else None)
    return queries.board(db, scope=scope, organization=code, now=deps.now(request), where=where,
                         cannot_sign=_cannot_sign(identity)), identity


def _identity(request: Request, db: Session, scope: Scope,
              code: str) -> availability.OrganizationIdentity | None:
    """Whether the МО can sign now (None: this process does not know, and starts nothing)."""
    check = state(request).identities
    if check is None:
        return None
    return availability.of_organization(db, identities=check, scope=scope, code=code,
                                        now=deps.now(request))


def _cannot_sign(identity: availability.OrganizationIdentity | None) -> str | None:
    """The blocker a card shows in place of the start button."""
    if identity is None or identity.status.usable:
        return None
    return f"медицинская организация сейчас не может подписывать ({identity.status.state.label}" \
           f": {identity.reason})"


def appointment_url(code: str, appointment_id: str, tail: str = "") -> str:
    """An appointment's page: its id is the МИС's, unique only within its organisation."""
    return f"/doctor/organizations/{quote(code, safe='')}/appointments/" \
           f"{quote(appointment_id, safe='')}{tail}"


@router.get("/appointments/{appointment_id}")
def old_appointment_page(user: deps.Doctor, appointment_id: Id) -> Response:
    """Links from before ids were per organisation: the doctor's own organisation's page."""
    scope_of(user)  # refuses a doctor without an organisation
    return RedirectResponse(appointment_url(user.organization_code or "", appointment_id),
                            status_code=303)


@router.get("/organizations/{code}/appointments/{appointment_id}")
def appointment_page(request: Request, user: deps.Doctor, code: Id,
                     appointment_id: Id) -> Response:
    context = _appointment(request, user, code, appointment_id)
    return render(request, "doctor/appointment.html",
                  title=f"Запись: {context['card'].patient_name}", **context,
                  refresh_url=appointment_url(code, appointment_id, "/live"))


@router.get("/organizations/{code}/appointments/{appointment_id}/live")
def appointment_fragment(request: Request, user: deps.Doctor, code: Id,
                         appointment_id: Id) -> Response:
    """The appointment page's live part: documents, the start button, signing requests."""
    return render(request, "doctor/_appointment.html",
                  **_appointment(request, user, code, appointment_id))


def _appointment(request: Request, user: StaffUser, code: str,
                 appointment_id: str) -> dict[str, Any]:
    scope = scope_of(user)
    with deps.read_db(request) as db:
        card = _card(request, db, scope, code, appointment_id)
        requests = queries.requests_of(db, scope=scope, organization=code,
                                          appointment_id=appointment_id)
        pdfs = documents.shown_pdfs(db, ((r.id, r.state) for r in requests))
        follow_up = queries.follow_up_blocker(db, scope=scope, organization=code,
                                              appointment_id=appointment_id)
        timeline = queries.timeline(db, scope=scope, organization=code,
                                    appointment_id=appointment_id)
    return {"card": card, "requests": requests, "pdfs": pdfs, "follow_up": follow_up,
            "timeline": timeline}


def _card(request: Request, db: Session, scope: Scope, code: str,
          appointment_id: str) -> queries.Card:
    return queries.card(db, scope=scope, organization=code, appointment_id=appointment_id,
                        cannot_sign=_cannot_sign(_identity(request, db, scope, code)))


@router.get("/organizations/{code}/appointments/{appointment_id}/sign")
def confirm_page(request: Request, user: deps.Doctor, code: Id, appointment_id: Id) -> Response:
    with deps.read_db(request) as db:
        card = _card(request, db, scope_of(user), code, appointment_id)
    return render(request, "doctor/confirm.html", title="Отправить на подписание", card=card)


@router.post("/organizations/{code}/appointments/{appointment_id}/sign")
def start_signing(request: Request, user: deps.Doctor, code: Id, appointment_id: Id) -> Response:
    scope = scope_of(user)
    command = signing.StartRequest(organization_code=code, appointment_external_id=appointment_id,
                                   consent_kinds=None, initiated_by="doctor")
    try:
        with deps.write_db(request) as db:
            signing.start(db, scope=scope, command=command, identities=identities(request),
                          now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return _refused(request, scope, code, appointment_id, exc.message)
    return RedirectResponse(appointment_url(code, appointment_id, "?msg=signing_started"),
                            status_code=303)


def _refused(request: Request, scope: Scope, code: str, appointment_id: str,
             message: str) -> Response:
    with deps.read_db(request) as db:
        card = queries.card(db, scope=scope, organization=code, appointment_id=appointment_id)
    return render(request, "doctor/confirm.html", status=409, title="Отправить на подписание",
                  card=card, error=message)


Action = Annotated[FollowUp, Path()]


@router.get("/organizations/{code}/appointments/{appointment_id}/follow-up/{action}")
def follow_up_page(request: Request, user: deps.Doctor, code: Id, appointment_id: Id,
                   action: Action) -> Response:
    """Confirm «Отправить ещё раз» or «На бумаге» (after a refusal or an expiry)."""
    return _follow_up_form(request, scope_of(user), code, appointment_id, action)


@router.post("/organizations/{code}/appointments/{appointment_id}/follow-up/{action}")
def follow_up(request: Request, user: deps.Doctor, code: Id, appointment_id: Id,
              action: Action) -> Response:
    scope = scope_of(user)
    try:
        with deps.write_db(request) as db:
            if action is FollowUp.resend:
                follow_ups.resend(db, scope=scope, organization=code,
                                  appointment_id=appointment_id, identities=identities(request),
                                  now=deps.now(request))
            else:
                follow_ups.to_paper(db, scope=scope, organization=code,
                                    appointment_id=appointment_id, now=deps.now(request))
            db.commit()
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return _follow_up_form(request, scope, code, appointment_id, action, exc.message)
    done = "signing_started" if action is FollowUp.resend else "paper_chosen"
    return RedirectResponse(appointment_url(code, appointment_id, f"?msg={done}"),
                            status_code=303)


def _follow_up_form(request: Request, scope: Scope, code: str, appointment_id: str,
                    action: FollowUp, error: str | None = None) -> Response:
    with deps.read_db(request) as db:
        card = _card(request, db, scope, code, appointment_id)
        blocker = queries.follow_up_blocker(db, scope=scope, organization=code,
                                            appointment_id=appointment_id)
    return render(request, "doctor/follow_up.html", status=409 if error else 200,
                  title=action.title, card=card, action=action, blocker=blocker, error=error)


@router.get("/requests/{request_id}/documents/{number}")
def document(request: Request, user: deps.Doctor, request_id: Id,
             number: Annotated[int, Path(ge=1, le=100)]) -> Response:
    with deps.read_db(request) as db:
        view = signing.get(db, scope=scope_of(user), request_id=request_id)
        name, content = documents.read_pdf(
            db, request_id=request_id, state=view.row.state, number=number,
            limits=deps.web_settings(request).archive_limits)
    return attachment(content, name, "application/pdf")


@router.get("/requests/{request_id}/evidence")
def evidence_package(request: Request, user: deps.Doctor, request_id: Id) -> Response:
    with deps.read_db(request) as db:
        signing.get(db, scope=scope_of(user), request_id=request_id)  # 404 before anything else
        config = evidence_config(request, "пакет доказательств недоступен")
        content = evidence.build(db, scope=scope_of(user), request_id=request_id, config=config,
                                 now=deps.now(request))
    return attachment(content, f"evidence-{request_id}.zip", "application/zip")


@router.get("/requests/{request_id}/signature-sheet")
def signature_sheet(request: Request, user: deps.Doctor, request_id: Id) -> Response:
    with deps.read_db(request) as db:
        signing.get(db, scope=scope_of(user), request_id=request_id)  # 404 before anything else
        config = evidence_config(request, "лист подписания недоступен")
        content = evidence.signature_sheet(db, scope=scope_of(user), request_id=request_id,
                                           config=config, now=deps.now(request))
    return attachment(content, f"Лист подписания {request_id}.pdf", "application/pdf")


def attachment(content: bytes, filename: str, media_type: str) -> Response:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": disposition})


def evidence_config(request: Request, what: str) -> evidence.EvidenceConfig:
    config = state(request).evidence
    if config is None:
        raise ServiceUnavailable("evidence_unavailable",
                                 f"Проверка подписей не настроена: {what}.")
    return config
