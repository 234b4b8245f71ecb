"""The support form (seed 5.2): anyone may describe a problem, signed in or not."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from medsign.accounts import support
from medsign.errors import ServiceError
from medsign.web import deps
from medsign.web.login.password import safe_next
from medsign.web.templating import render

router = APIRouter(prefix="/support", dependencies=[deps.Guard], include_in_schema=False)
Short = Annotated[str, Form(max_length=1000)]


@router.get("")
def support_form(request: Request, ref: Annotated[str, Query(max_length=64)] = "",
                 page: Annotated[str, Query(max_length=1000)] = "") -> Response:
    deps.ensure_csrf(request)
    return render(request, "support/form.html", title="Служба поддержки",
                  ref=_reference(ref), page=safe_next(page, ""), message="", contact="")


def _reference(value: str) -> str:
    """A request id as the fault page shows it: letters, digits and dashes only."""
    return value if value.replace("-", "").isalnum() and value.isascii() else ""


@router.post("")
def support_submit(request: Request,
                   message: Annotated[str, Form(max_length=support.MAX_MESSAGE)] = "",
                   contact: Annotated[str, Form(max_length=200)] = "", ref: Short = "",
                   page: Short = "") -> Response:
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
        return render(request, "support/form.html", status=exc.status, title="Служба поддержки",
                      ref=_reference(ref), page=safe_next(page, ""), message=message,
                      contact=contact, error=exc.message)
    return render(request, "support/done.html", title="Обращение принято", reference=reference)
