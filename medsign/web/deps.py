"""Who is asking, and may they: the session cookie, CSRF, roles.

``guard`` runs first on every web route (it is a dependency of the web routers, so a new
form cannot forget it): it loads the visitor from the session cookie and, for every method
that changes state, requires the session's CSRF token in the ``csrf_token`` form field or the
``X-CSRF-Token`` header. The web never reads ``Authorization``: API tokens and web sessions
are separate worlds.

A visitor without a session gets no session row just for looking: the forms it may send
before logging in (login, support) carry a random CSRF token that lives in a cookie of its own
(``HttpOnly``, ``SameSite=Lax``, ``__Host-`` when secure, so no other site or subdomain can
plant one) and must come back in the form. A row is written only at login, or when a form
needs server-side state (the ESIA ``state``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from medsign.accounts import portal, sessions, staff
from medsign.accounts.portal import PortalUser
from medsign.accounts.sessions import Owner
from medsign.accounts.staff import Role, StaffUser
from medsign.db.engine import reading
from medsign.db.models import WebSessionRow
from medsign.domain.login_limits import client_address as choose_address
from medsign.serving import now as now  # the pages read the clock as deps.now
from medsign.serving import state
from medsign.web.config import WebSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class WebError(Exception):
    """Answered with an HTML page by ``medsign.web.errors``."""


class LoginRequired(WebError):
    def __init__(self, login_path: str) -> None:
        super().__init__(login_path)
        self.login_path = login_path


class CsrfRejected(WebError):
    pass


class AccessDenied(WebError):
    pass


@dataclass(frozen=True)
class Visitor:
    session: str | None = None  # the id hash of a live session
    csrf_token: str | None = None
    staff: StaffUser | None = None
    patient: PortalUser | None = None
    data: dict[str, Any] = field(default_factory=dict)
    address: str | None = None
    user_agent: str | None = None

    @property
    def actor(self) -> str | None:
        if self.staff is not None:
            return self.staff.actor
        return self.patient.actor if self.patient is not None else None


def web_settings(request: Request) -> WebSettings:
    value: WebSettings = request.app.state.web
    return value


def cookie_name(settings: WebSettings) -> str:
    # "__Host-" makes browsers refuse the cookie unless Secure, path=/ and host-only.
    return "__Host-medsign" if settings.cookie_secure else "medsign_session"


def csrf_cookie_name(settings: WebSettings) -> str:
    """The anonymous visitor's CSRF token (see the module docstring)."""
    return "__Host-medsign-csrf" if settings.cookie_secure else "medsign_csrf"


def device_cookie_name(settings: WebSettings) -> str:
    """The browser's login device tokens (``domain.login_devices``)."""
    return "__Host-medsign-device" if settings.cookie_secure else "medsign_device"


def region_cookie_name(settings: WebSettings) -> str:
    """The region the patient chose in the app «К врачу» (``domain.app_regions``)."""
    return "__Host-medsign-region" if settings.cookie_secure else "medsign_region"


def region_cookie(request: Request) -> str | None:
    """The address of the region chosen (percent-encoded in the cookie: no quoting)."""
    value = request.cookies.get(region_cookie_name(web_settings(request)))
    return unquote(value) if value and len(value) <= 2000 else None


def remember_region(request: Request, url: str) -> None:
    """The patient's choice of region, kept by the browser for the app's next starts."""
    request.state.web_region_cookie = quote(url, safe="")


def device_cookie(request: Request) -> str | None:
    return request.cookies.get(device_cookie_name(web_settings(request)))


def remember_device(request: Request, value: str) -> None:
    """After login: the device cookie the browser keeps for its next logins."""
    request.state.web_device_cookie = value


def app_device_cookie_name(settings: WebSettings) -> str:
    """The device bound for quick login in the app «К врачу» (``accounts.app_devices``): its
    id only — the browser's non-extractable key is what unlocks."""
    return "__Host-medsign-app-device" if settings.cookie_secure else "medsign_app_device"


def app_device_cookie(request: Request) -> str | None:
    value = request.cookies.get(app_device_cookie_name(web_settings(request)))
    return value if value and len(value) <= 100 else None


def keep_app_device(request: Request, device_id: str | None) -> None:
    """The app device cookie becomes ``device_id`` (None: removed — the device is unbound)."""
    request.state.web_app_device = device_id or ""


@contextmanager
def read_db(request: Request) -> Iterator[Session]:
    with Session(bind=reading(state(request).engine)) as db:
        yield db


@contextmanager
def write_db(request: Request) -> Iterator[Session]:
    """A write transaction the caller commits (``db.commit()``) when its work is done."""
    with Session(state(request).engine, expire_on_commit=False) as db:
        yield db


def client_address(request: Request) -> str | None:
    """The peer, or what a trusted proxy says in ``X-Forwarded-For``
    (``server.trusted_proxies``)."""
    peer = request.client.host if request.client else None
    return choose_address(peer, request.headers.getlist("x-forwarded-for"),
                          web_settings(request).trusted_proxies)


def _anonymous_csrf(request: Request, settings: WebSettings) -> str | None:
    value = request.cookies.get(csrf_cookie_name(settings))
    return value if value and len(value) <= 100 else None


def _load_visitor(request: Request) -> Visitor:
    settings, moment = web_settings(request), now(request)
    base = Visitor(address=client_address(request), csrf_token=_anonymous_csrf(request, settings),
                   user_agent=request.headers.get("user-agent", "")[:300] or None)
    token = request.cookies.get(cookie_name(settings))
    with read_db(request) as db:
        row = sessions.load(db, token, policy=settings.sessions, now=moment)
        found = _with_owner(db, base, row) if row is not None else None
    if token and found is None:
        request.state.web_cookie_clear = True
        return base
    if found is not None and row is not None and not _is_fragment(request):
        _touch(request, row.id_hash, row.last_seen_at, moment)
    return found or base


def _with_owner(db: Session, base: Visitor, row: WebSessionRow) -> Visitor | None:
    user = staff.get(db, row.staff_user_id) if row.staff_user_id is not None else None
    patient = (portal.get(db, row.portal_account_id)
               if row.portal_account_id is not None else None)
    if (row.staff_user_id is not None and user is None) or \
            (row.portal_account_id is not None and patient is None):
        return None  # the account was disabled or removed: the session is void
    return replace(base, session=row.id_hash, csrf_token=row.csrf_token, staff=user,
                   patient=patient, data=dict(row.data or {}))


def _is_fragment(request: Request) -> bool:
    """Live-update requests do not count as activity: an open tab must still time out."""
    return request.headers.get("X-Requested-With") == "medsign-refresh"


def _touch(request: Request, id_hash: str, last_seen: datetime, moment: datetime) -> None:
    if moment - last_seen < sessions.TOUCH_EVERY:
        return
    with write_db(request) as db:
        sessions.touch(db, id_hash, last_seen=last_seen, now=moment)
        db.commit()


async def guard(request: Request) -> None:
    visitor = await run_in_threadpool(_load_visitor, request)
    request.state.visitor = visitor
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not sessions.csrf_matches(visitor.csrf_token, given):
        raise CsrfRejected()


def visitor(request: Request) -> Visitor:
    value: Visitor = request.state.visitor
    return value


def ensure_csrf(request: Request) -> Visitor:
    """The visitor, with a CSRF token for the page's forms: the session's, or an anonymous
    one in its own cookie (no row: looking at a page stores nothing)."""
    current = visitor(request)
    if current.csrf_token is not None:
        return current
    request.state.web_csrf_cookie = sessions.new_csrf_token()
    request.state.visitor = replace(current, csrf_token=request.state.web_csrf_cookie)
    return visitor(request)


def ensure_session(request: Request) -> Visitor:
    """The visitor, with an (anonymous) session made now if there is none: for a submitted
    form whose next step needs state kept on the server (the ESIA ``state``)."""
    current = visitor(request)
    if current.session is not None:
        return current
    settings, moment = web_settings(request), now(request)
    with write_db(request) as db:
        token, row = sessions.create(db, owner=Owner(), policy=settings.sessions,
                                     now=moment, ip=current.address,
                                     user_agent=current.user_agent)
        db.commit()
    request.state.web_cookie = token
    request.state.visitor = replace(current, session=row.id_hash, csrf_token=row.csrf_token)
    return visitor(request)


def start_session(request: Request, token: str) -> None:
    """After login: the new session's cookie replaces the old one."""
    request.state.web_cookie = token


def replace_session(request: Request, db: Session, owner: Owner) -> str:
    """A fresh session for whoever has just proved who they are, in the caller's
    transaction: expired sessions purged, the old cookie's session ended (no fixation). The
    caller commits, then hands the token to ``start_session``."""
    settings, moment, current = web_settings(request), now(request), visitor(request)
    sessions.purge(db, policy=settings.sessions, now=moment)
    token, _ = sessions.create(db, owner=owner, policy=settings.sessions, now=moment,
                               ip=current.address, user_agent=current.user_agent)
    sessions.end(db, request.cookies.get(cookie_name(settings)))
    return token


def staff_user(request: Request) -> StaffUser:
    user = visitor(request).staff
    if user is None:
        raise LoginRequired("/login")
    return user


def _require(*roles: Role) -> Any:
    def check(user: Annotated[StaffUser, Depends(staff_user)]) -> StaffUser:
        if user.role not in roles:
            raise AccessDenied()
        return user
    return check


def patient_user(request: Request) -> PortalUser:
    """A signed-in patient; without a session, to the login of where they are: the app
    «К врачу»'s own, or the portal's."""
    user = visitor(request).patient
    if user is None:
        raise LoginRequired("/app/login" if request.url.path.startswith("/app/")
                            else "/portal/login")
    return user


Guard = Depends(guard)
CurrentVisitor = Annotated[Visitor, Depends(visitor)]
Doctor = Annotated[StaffUser, Depends(_require(Role.doctor))]
Operator = Annotated[StaffUser, Depends(_require(Role.operator, Role.admin))]
Admin = Annotated[StaffUser, Depends(_require(Role.admin))]
Patient = Annotated[PortalUser, Depends(patient_user)]
