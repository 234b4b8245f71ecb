"""«Войти через Госуслуги (ЕСИА)»: the OAuth round trip of the portal login (seed 3.4.1).

``/portal/esia/start`` (a form: CSRF-checked) keeps a fresh ``state`` in the session and sends
the browser to ESIA; ``/portal/esia/callback`` checks ``state`` (once: it is removed at
return), exchanges the code, reads the person, finds the patients by the rule documented in
``accounts.portal``, creates the portal account the first time, and signs in with a new
session. Each answer of ESIA is counted for the console's health view.

The form may say where to go after the login (``next``: a local path only, e.g. the app's
``/app/welcome``). ESIA returns to the one registered callback address, so ``next`` waits in
the session beside ``state`` and is removed with it; a login started from the app also shows
its failures on the app's login screen.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from medsign.accounts import portal, sessions
from medsign.accounts.sessions import Owner
from medsign.errors import Forbidden, NotFound
from medsign.integrations.esia import EsiaRejected, EsiaTransient, Person, read_callback
from medsign.records import audit
from medsign.web import deps
from medsign.web.app import routes as app_routes
from medsign.web.login.password import safe_next
from medsign.web.portal.routes import login_form

router = APIRouter(prefix="/portal/esia", dependencies=[deps.Guard], include_in_schema=False)
STATE_KEY = "esia_state"
NEXT_KEY = "esia_next"
APP_PREFIX = "/app/"
UNAVAILABLE = "Госуслуги временно недоступны. Попробуйте войти через несколько минут."
REJECTED = {
    "access_denied": "Вход через Госуслуги отменён.",
    "invalid_state": "Ответ Госуслуг не относится к этому входу. Начните вход заново.",
}


@router.post("/start")
async def start(request: Request,
                next: Annotated[str, Form(max_length=1000)] = "") -> Response:  # noqa: A002
    target = safe_next(next, "")
    factory = deps.web_settings(request).esia
    if factory is None:
        return await _fail(request, "Вход через Госуслуги не настроен.", status=503,
                           target=target)
    client = await run_in_threadpool(factory)  # the first one may load (or make) a key
    try:
        auth = await run_in_threadpool(client.authorization_request)  # GOST signing: slow
    except (EsiaTransient, EsiaRejected):
        _observe(request, "authorize", "transient")
        return await _fail(request, UNAVAILABLE, status=503, target=target)
    finally:
        await client.aclose()
    await run_in_threadpool(_keep_state, request, auth.state, target)
    return RedirectResponse(auth.url, status_code=303)


def _keep_state(request: Request, state: str, target: str) -> None:
    visitor = deps.ensure_session(request)  # the form was sent: now the state needs a row
    if visitor.session is None:
        raise RuntimeError("ensure_session() left the visitor without a session")
    with deps.write_db(request) as db:
        sessions.set_data(db, visitor.session,
                          {**visitor.data, STATE_KEY: state, NEXT_KEY: target})
        db.commit()


@router.get("/callback")
async def callback(request: Request) -> Response:
    visitor, factory = deps.visitor(request), deps.web_settings(request).esia
    expected = visitor.data.get(STATE_KEY)
    kept = visitor.data.get(NEXT_KEY)
    target = safe_next(kept if isinstance(kept, str) else None, "")
    if factory is None or visitor.session is None or not isinstance(expected, str):
        return await _fail(request, "Вход через Госуслуги не начат или устарел. Начните заново.")
    await run_in_threadpool(_keep_state_cleared, request)
    try:
        person = await _person(request, expected)
    except EsiaTransient:
        return await _fail(request, UNAVAILABLE, status=503, target=target)
    except EsiaRejected as exc:
        return await _fail(request, REJECTED.get(exc.code, "Госуслуги отказали во входе. "
                                                           "Попробуйте ещё раз."), status=403,
                           target=target)
    try:
        await run_in_threadpool(_sign_in, request, person)
    except NotFound as exc:
        await run_in_threadpool(_audit_unknown, request, person, exc.message)
        return await _fail(request, _unknown_text(person), status=403, target=target)
    except Forbidden as exc:  # the administrator disabled the account
        await run_in_threadpool(_audit_unknown, request, person, exc.code)
        return await _fail(request, exc.message, status=403, target=target)
    return RedirectResponse(target or "/portal", status_code=303)


def _keep_state_cleared(request: Request) -> None:
    visitor = deps.visitor(request)
    if visitor.session is not None:
        with deps.write_db(request) as db:
            data = {k: v for k, v in visitor.data.items() if k not in (STATE_KEY, NEXT_KEY)}
            sessions.set_data(db, visitor.session, data)
            db.commit()


async def _person(request: Request, expected: str) -> Person:
    factory = deps.web_settings(request).esia
    if factory is None:  # callback() answers before calling here when ESIA is off
        raise RuntimeError("ESIA sign-in is not configured")
    code = read_callback(dict(request.query_params), expected_state=expected)
    outcome, step = "transient", "token"
    client = await run_in_threadpool(factory)
    try:
        async with client:
            token = await client.exchange_code(code, state=expected)
            step = "person"
            person = await client.person(token)
        outcome = "ok"
        return person
    except EsiaRejected:
        outcome = "rejected"
        raise
    finally:
        _observe(request, step, outcome)


def _observe(request: Request, method: str, outcome: str) -> None:
    recorder = deps.web_settings(request).health
    if recorder is not None:
        recorder.observe("esia", method, outcome)


def _sign_in(request: Request, person: Person) -> None:
    moment, visitor = deps.now(request), deps.visitor(request)
    with deps.write_db(request) as db:
        account = portal.sign_in_with_esia(db, person=person, now=moment)
        token = deps.replace_session(request, db, Owner(portal_account_id=account.id))
        audit.record(db, at=moment, actor=f"portal:esia-{person.oid}", action="web.login",
                     subject_type="portal_account", subject_id=f"esia-{person.oid}",
                     organization_code=None, details={"realm": "portal", "via": "esia",
                                                      "address": visitor.address})
        db.commit()
    deps.start_session(request, token)


def _audit_unknown(request: Request, person: Person, reason: str) -> None:
    with deps.write_db(request) as db:
        audit.record(db, at=deps.now(request), actor=f"esia:{person.oid}",
                     action="web.login_esia_unknown", subject_type="portal_account",
                     subject_id=f"esia-{person.oid}", organization_code=None,
                     details={"reason": reason, "trusted": person.trusted})
        db.commit()


def _unknown_text(person: Person) -> str:
    if not person.trusted:
        return ("Ваша учётная запись на Госуслугах не подтверждена. Получите статус "
                "«Подтверждённая» и повторите вход.")
    # The same words whether or not someone with this name exists: no hint of another record.
    return ("Мы не смогли точно найти вашу медицинскую карту, поэтому доступ к документам не "
            "открыт. Обратитесь в регистратуру вашей клиники: попросите внести в карту ваш "
            "страховой номер индивидуального лицевого счёта (СНИЛС) или номер мобильного "
            "телефона, подтверждённый на Госуслугах. После этого войдите снова.")


async def _fail(request: Request, text: str, *, status: int = 400, target: str = "") -> Response:
    """The failure on the login screen the login was started from: the app's (a failure of
    the service there is a fault, with the way to the support form) or the portal's."""
    if target.startswith(APP_PREFIX):
        return await run_in_threadpool(app_routes.login_form, request, status=status,
                                       error=text, kind="fault" if status >= 500 else "error")
    return await run_in_threadpool(login_form, request, status=status, next=target,
                                   error=text)
