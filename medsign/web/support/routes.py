"""The support form (seed 5.2): anyone may describe a problem, signed in or not. The app
«К врачу» shows the same form in its own layout at ``/app/support``; a logged-in patient
finds it filled in with their name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from medsign.accounts import support
from medsign.errors import ServiceError
from medsign.web import deps
from medsign.web.login.password import safe_next
from medsign.web.templating import render

Short = Annotated[str, Form(max_length=1000)]
Ref = Annotated[str, Query(max_length=64)]
Page = Annotated[str, Query(max_length=1000)]
Message = Annotated[str, Form(max_length=support.MAX_MESSAGE)]
Contact = Annotated[str, Form(max_length=200)]


def _reference(value: str) -> str:
    """A request id as the fault page shows it: letters, digits and dashes only."""
    return value if value.replace("-", "").isalnum() and value.isascii() else ""


def build(prefix: str, layout: str) -> APIRouter:
    router = APIRouter(prefix=prefix, dependencies=[deps.Guard], include_in_schema=False)

    def form(request: Request, *, status: int = 200, ref: str, page: str, message: str,
             contact: str, error: str | None = None) -> Response:
        return render(request, "support/form.html", status=status, title="Служба поддержки",
                      layout=layout, action=prefix, ref=_reference(ref),
                      page=safe_next(page, ""), message=message, contact=contact, error=error)

    @router.get("")
    def support_form(request: Request, ref: Ref = "", page: Page = "") -> Response:
        visitor = deps.ensure_csrf(request)
        patient = visitor.patient
        return form(request, ref=ref, page=page, message="",
                    contact=patient.full_name if patient is not None else "")

    @router.post("")
    def support_submit(request: Request, message: Message = "", contact: Contact = "",
                       ref: Short = "", page: Short = "") -> Response:
        visitor = deps.visitor(request)
        report = support.Report(
            message=message, contact=contact or None, page_url=safe_next(page, "") or None,
            request_id=_reference(ref) or getattr(request.state, "request_id", None),
            actor=visitor.actor, user_agent=request.headers.get("user-agent"),
            address=visitor.address)
        try:
            with deps.write_db(request) as db:
                row = support.submit(db, report=report, now=deps.now(request))
                reference = row.reference
                db.commit()
        except ServiceError as exc:
            return form(request, status=exc.status, ref=ref, page=page, message=message,
                        contact=contact, error=exc.message)
        return render(request, "support/done.html", title="Обращение принято", layout=layout,
                      reference=reference)

    return router


router = build("/support", "base.html")
app_router = build("/app/support", "app/base.html")
