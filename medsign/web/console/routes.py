"""The operators' console: overview (queue, health), signing requests with retry and cancel,
notifications. Operators and administrators see every organisation."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from medsign import health as external_health
from medsign.accounts.staff import StaffUser
from medsign.db.engine import read_only
from medsign.domain.alerts import AlertKind
from medsign.domain.errors import DomainError
from medsign.domain.search import SearchQuery, parse_search
from medsign.domain.signing import FINAL_STATES, SigningState
from medsign.errors import Conflict, Unprocessable
from medsign.records import organizations as organization_records
from medsign.records.scope import Scope
from medsign.runner import store
from medsign.serving import state
from medsign.signing import availability
from medsign.signing import service as signing
from medsign.web import deps
from medsign.web.console import identities, queries
from medsign.web.forms import day_range
from medsign.web.templating import render

router = APIRouter(prefix="/console", dependencies=[deps.Guard, Depends(identities.banner)],
                   include_in_schema=False)
Id = Annotated[str, Path(min_length=1, max_length=100)]
Filter = Annotated[str, Query(max_length=100)]
# The search box: its length is judged by domain.search, which says so next to the box.
SearchText = Annotated[str, Query(max_length=1000)]
PAGE = 25
STATE_OPTIONS = [(s.value, s.title) for s in SigningState]
STATE_VALUES = frozenset(s.value for s in SigningState)


def scope_of(user: StaffUser) -> Scope:
    return Scope(actor=user.actor)


@router.get("")
def overview_page(request: Request, user: deps.Operator) -> Response:
    return render(request, "console/overview.html", title="Консоль оператора",
                  **_overview(request))


@router.get("/overview")
def overview_fragment(request: Request, user: deps.Operator) -> Response:
    return render(request, "console/_overview.html", **_overview(request))


# The overview counts each kind's waiting and failed work, and the requests of each state, up
# to this many («более 1000»): the page's cost stays that of a page after an outage or years
# of uncleared failures.
QUEUE_MOST = identities.COUNTED_MOST


def _overview(request: Request) -> dict[str, Any]:
    settings, now = deps.web_settings(request), deps.now(request)
    with read_only(state(request).engine) as conn:
        queue = sorted(store.queue_stats(conn, now=now, most=QUEUE_MOST),
                       key=lambda s: (s.kind, s.status))
    with deps.read_db(request) as db:
        counts = queries.count_by_state(db, now=now, most=QUEUE_MOST)
        stuck = queries.stuck(db, now=now, stuck_after=settings.stuck_after, limit=10).rows
        health = external_health.summary(db, now=now)
        findings = queries.open_findings(db)
    stalled = identities.alert_counts(request)[AlertKind.stalled]
    crls = settings.crls.status() if settings.crls else None
    mo_identities = identities.listing(request)
    return {"queue": queue, "counts": counts, "stalled": stalled, "stuck": stuck,
            "health": health, "now": now, "crls": crls,
            "mo_identities": mo_identities, "mo_health": availability.health(mo_identities),
            "tz": settings.console_timezone, "states": STATE_OPTIONS,
            "item_titles": queries.ITEM_TITLES, "stuck_after": settings.stuck_after,
            "findings": findings, "queue_most": QUEUE_MOST}


@router.get("/requests")
def requests_page(request: Request, user: deps.Operator, q: SearchText = "", state: Filter = "",
                  organization: Filter = "", day: Filter = "", view: Filter = "all",
                  cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    filters = {"q": q, "state": state, "organization": organization, "day": day, "view": view}
    found = _requests(request, user, filters, cursor)
    with deps.read_db(request) as db:
        orgs = organization_records.names(db)
    refresh = "/console/requests/list?" + urlencode({**filters, "cursor": cursor})
    return render(request, "console/requests.html", status=422 if found["error"] else 200,
                  title="Транзакции подписания", states=STATE_OPTIONS, organizations=orgs,
                  refresh_url=refresh, **found)


@router.get("/requests/list")
def requests_fragment(request: Request, user: deps.Operator, q: SearchText = "", state: Filter = "",
                      organization: Filter = "", day: Filter = "", view: Filter = "all",
                      cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    """The list alone, for the page's live update: same filters, same page."""
    filters = {"q": q, "state": state, "organization": organization, "day": day, "view": view}
    return render(request, "console/_requests_list.html",
                  **_requests(request, user, filters, cursor))


def _requests(request: Request, user: StaffUser, filters: dict[str, str],
              cursor: str) -> dict[str, Any]:
    settings = deps.web_settings(request)
    try:
        search = parse_search(filters["q"])
    except DomainError as exc:
        return {"rows": [], "filters": filters, "next_url": None, "search": None,
                "error": exc.message, "tz": settings.console_timezone,
                "item_titles": queries.ITEM_TITLES}
    where = _request_filter(filters["state"], filters["organization"], filters["day"],
                            filters["view"], settings.console_timezone, search)
    with deps.read_db(request) as db:
        if filters["view"] in ("stuck", "alerts"):
            kinds = (AlertKind.stalled,) if filters["view"] == "stuck" else tuple(AlertKind)
            alerting = queries.alerting(db, now=deps.now(request), where=where, limit=PAGE,
                                        stall_after=settings.stuck_after, kinds=kinds,
                                        after=signing.Cursor.decode(cursor))
            rows, more = alerting.rows, alerting.more.encode() if alerting.more else None
        else:
            rows, more = _page(db, user, where, cursor)
    next_url = ("/console/requests?" + urlencode({**filters, "cursor": more})) if more else None
    return {"rows": rows, "filters": filters, "next_url": next_url, "search": search,
            "error": None, "tz": settings.console_timezone, "item_titles": queries.ITEM_TITLES}


def _request_filter(state: str, organization: str, day: str, view: str,
                    tz: str, search: SearchQuery | None = None) -> signing.ListFilter:
    bounds = day_range(day, tz) if day else None
    states = ["failed"] if view == "failed" else [state] if state in STATE_VALUES else []
    return signing.ListFilter(states=states, organization=organization or None,
                              appointment_from=bounds[0] if bounds else None,
                              appointment_to=bounds[1] if bounds else None, search=search)


def _page(db: Session, user: StaffUser, where: signing.ListFilter,
          cursor: str) -> tuple[list[queries.ConsoleRequest], str | None]:
    after = signing.Cursor.decode(cursor)
    views = signing.list_requests(db, scope=scope_of(user), where=where, after=after,
                                  limit=PAGE + 1)
    page, more = views[:PAGE], len(views) > PAGE
    token = signing.Cursor(page[-1].row.created_at, page[-1].row.id).encode() if more else None
    return queries.with_items(db, page), token


@router.get("/requests/{request_id}")
def request_page(request: Request, user: deps.Operator, request_id: Id) -> Response:
    return _request_detail(request, user, request_id)


@router.get("/requests/{request_id}/live")
def request_fragment(request: Request, user: deps.Operator, request_id: Id) -> Response:
    """The request's facts and history alone, for the page's live update (the forms stay)."""
    return _request_detail(request, user, request_id, fragment=True)


def _request_detail(request: Request, user: StaffUser, request_id: str, *, status: int = 200,
                    form: str | None = None, typed: str = "", error: str | None = None,
                    fragment: bool = False) -> Response:
    """The request's page; after a refused retry or cancel, ``form`` names the form whose
    ``typed`` reason comes back with ``error`` beside it."""
    with deps.read_db(request) as db:
        view = signing.get(db, scope=scope_of(user), request_id=request_id)
        row = queries.with_items(db, [view])[0]
        history = queries.history(db, request_id)
        mismatch = signing.signer_mismatches(db, [request_id]).get(request_id)
        names = queries.names(db, view)
        copies = queries.copies_item(db, request_id)
    state = SigningState(view.row.state)
    return render(request, "console/_request_live.html" if fragment else "console/request.html",
                  status=status, title=f"Транзакция {request_id}", row=row,
                  history=history, mismatch=mismatch, names=names, copies=copies,
                  can_retry=state is SigningState.failed,
                  can_cancel=state not in FINAL_STATES,
                  tz=row.listed.timezone, item_titles=queries.ITEM_TITLES,
                  form=form, typed=typed, error=error,
                  live_url=f"/console/requests/{quote(request_id)}/live")


# Why an operator retries or cancels: what was typed comes back with the error beside it;
# the rule (required, trimmed, its length) is domain.signing.operator_reason.
Reason = Annotated[str, Form(max_length=5000)]


@router.post("/requests/{request_id}/retry")
def retry(request: Request, user: deps.Operator, request_id: Id,
          reason: Reason = "") -> Response:
    return _act(request, user, request_id, reason, "retry")


@router.post("/requests/{request_id}/cancel")
def cancel(request: Request, user: deps.Operator, request_id: Id,
           reason: Reason = "") -> Response:
    return _act(request, user, request_id, reason, "cancel")


_ACTIONS = {"retry": (signing.retry_by_operator, "retried"),
            "cancel": (signing.cancel_by_operator, "cancelled")}


def _act(request: Request, user: StaffUser, request_id: str, reason: str,
         which: str) -> Response:
    action, done = _ACTIONS[which]
    try:
        with deps.write_db(request) as db:
            action(db, scope=scope_of(user), request_id=request_id, now=deps.now(request),
                   reason=reason)
            db.commit()
    except (Unprocessable, Conflict) as exc:
        return _request_detail(request, user, request_id, status=exc.status, form=which,
                               typed=reason, error=exc.message)
    return _back_to(request_id, done)


def _back_to(request_id: str, msg: str) -> Response:
    return RedirectResponse(f"/console/requests/{quote(request_id)}?msg={msg}", status_code=303)


@router.get("/notifications")
def notifications_page(request: Request, user: deps.Operator, state: Filter = "",
                       organization: Filter = "", day: Filter = "",
                       cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    """Keyset pages: the links carry the cursor of the row they continue from."""
    tz = deps.web_settings(request).console_timezone
    bounds = day_range(day, tz) if day else None
    where = queries.NotificationFilter(
        state=state or None, organization=organization or None,
        appointment_from=bounds[0] if bounds else None,
        appointment_to=bounds[1] if bounds else None)
    with deps.read_db(request) as db:
        found = queries.notifications(db, where=where,
                                      cursor=queries.NotificationCursor.decode(cursor),
                                      limit=PAGE)
        orgs = organization_records.names(db)
    filters = {"state": state, "organization": organization, "day": day}
    return render(request, "console/notifications.html", title="Уведомления пациентам",
                  rows=found.rows, filters=filters, organizations=orgs,
                  states=list(queries.NOTIFICATION_TITLES.items()), tz=tz,
                  prev_url=_page_url("/console/notifications", filters, found.previous),
                  next_url=_page_url("/console/notifications", filters, found.next))


def _page_url(path: str, filters: dict[str, str],
              cursor: queries.NotificationCursor | None) -> str | None:
    if cursor is None:
        return None
    return f"{path}?{urlencode({**filters, 'cursor': cursor.encode()})}"
