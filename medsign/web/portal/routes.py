"""Patient pages: login (password; ESIA in ``portal_esia``), "Мои документы", MAX linking.

A patient sees only the patients linked to their account: every request id or patient id in
an address is checked against that set ("not found" otherwise).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from medsign.accounts import portal
from medsign.bot import links as max_links
from medsign.errors import ServiceUnavailable
from medsign.serving import state
from medsign.signing import documents
from medsign.web import deps
from medsign.web.doctor.routes import attachment
from medsign.web.login.password import password_login, safe_next
from medsign.web.portal import queries
from medsign.web.qr import svg
from medsign.web.templating import render

router = APIRouter(prefix="/portal", dependencies=[deps.Guard], include_in_schema=False)
Text = Annotated[str, Form(max_length=1000)]
Id = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:  # noqa: A002
    visitor = deps.ensure_csrf(request)
    if visitor.patient is not None:
        return RedirectResponse("/portal", status_code=303)
    return login_form(request, next=next)


def login_form(request: Request, *, status: int = 200, next: str = "",  # noqa: A002
               login: str = "", error: str | None = None) -> Response:
    deps.ensure_csrf(request)
    return render(request, "portal/login.html", status=status, title="Вход на портал пациента",
                  next=safe_next(next, ""), login=login[:254], error=error,
                  esia_enabled=deps.web_settings(request).esia is not None)


@router.post("/login")
def login_submit(request: Request, login: Text = "", password: Text = "",
                 next: Text = "") -> Response:  # noqa: A002
    result = password_login(request, realm="portal", login=login, password=password)
    if not result.ok:
        return login_form(request, status=result.status, next=next, login=login,
                          error=result.message("portal"))
    return RedirectResponse(safe_next(next, "/portal"), status_code=303)


@router.get("")
def documents_page(request: Request, user: deps.Patient) -> Response:
    with deps.read_db(request) as db:
        people = queries.documents(db, account_id=user.id, now=deps.now(request))
        pdfs = {c.request.id: documents.list_pdfs(db, request_id=c.request.id,
                                                  state=c.request.state)
                for p in people for c in p.cards if c.request is not None}
    return render(request, "portal/documents.html", title="Мои документы", people=people,
                  pdfs=pdfs)


@router.get("/requests/{request_id}/documents/{number}")
def document(request: Request, user: deps.Patient, request_id: Id,
             number: Annotated[int, Path(ge=1, le=100)]) -> Response:
    with deps.read_db(request) as db:
        row = portal.owns_request(db, account_id=user.id, request_id=request_id)
        name, content = documents.read_pdf(
            db, request_id=row.id, state=row.state, number=number,
            limits=deps.web_settings(request).archive_limits)
    return attachment(content, name, "application/pdf")


@router.get("/max")
def max_page(request: Request, user: deps.Patient) -> Response:
    with deps.read_db(request) as db:
        people = queries.documents(db, account_id=user.id, now=deps.now(request))
    return render(request, "portal/max.html", title="Привязка MAX", people=people, issued=None,
                  enabled=state(request).bot is not None)


@router.post("/max/link")
def max_link(request: Request, user: deps.Patient,
             organization: Annotated[str, Form(min_length=1, max_length=64)],
             patient: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    bot = state(request).bot
    if bot is None:
        raise ServiceUnavailable("max_disabled", "Бот MAX не подключён: привязка недоступна.")
    with deps.write_db(request) as db:
        row, org = portal.owned_patient(db, account_id=user.id, organization_code=organization,
                                        patient_external_id=patient)
        issued = max_links.issue(db, patient=row, link_base=bot.deep_link_base,
                                 ttl=bot.link_ttl, actor=user.actor, organization_code=org.code,
                                 now=deps.now(request))
        db.commit()
    with deps.read_db(request) as db:
        people = queries.documents(db, account_id=user.id, now=deps.now(request))
    return render(request, "portal/max.html", title="Привязка MAX", people=people,
                  issued=issued, issued_for=patient, enabled=True,
                  qr=svg(issued.deep_link, title="QR-код ссылки на бота MAX"))
