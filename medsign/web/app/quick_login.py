"""Quick login in the app «К врачу» (seed 3.4.2): the PIN created after the first login, the
choice of biometrics, and the unlock screen; the rules are ``accounts.app_devices`` and
``accounts.app_passkeys``, the design and threat model ``docs/patient-app.md``.

Pages::

    /app/welcome   after the app's login: «Создание PIN-кода», then the choice of
                   biometrics or the PIN where the device can; a bound device goes home
    /app/unlock    the quick login screen (PIN keypad or biometrics; «Войти с паролем»)

JSON (``/app/api/device/...``; CSRF in ``X-CSRF-Token`` like every other post; errors as
``application/problem+json`` with a Russian ``detail``)::

    bind                      the device's public key and PIN (a logged-in patient)
    method                    the patient's choice: {"method": "pin" | "biometrics"}
    webauthn/register/options, webauthn/register    biometrics for this device
    challenge, unlock         a one-time challenge; its signature and the PIN
    webauthn/login/options, webauthn/login          unlock by biometrics
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from medsign.accounts import app_devices, app_passkeys
from medsign.accounts.app_devices import Device, Outcome, Unlock
from medsign.accounts.sessions import Owner
from medsign.domain import app_devices as rules
from medsign.domain.app_devices import Method, Purpose, QuickLoginRule, RelyingParty
from medsign.errors import Forbidden
from medsign.web import deps
from medsign.web.deps import LoginRequired
from medsign.web.templating import render

router = APIRouter(prefix="/app", dependencies=[deps.Guard], include_in_schema=False)
HOME = "/app/home"  # the app's start screen (the shell's)
LOGIN = "/app/login"  # the app's full login (the shell's)
MEDIA = "application/problem+json"
QUICK_LOGIN_OFF = "Быстрый вход на этом сайте отключён: войдите с паролем."
BIOMETRICS_OFF = "Вход по отпечатку пальца или Face ID на этом сайте недоступен."
Short = Annotated[str, Field(max_length=200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BindBody(Body):
    public_key: Annotated[str, Field(max_length=app_devices.MAX_KEY_CHARS)]
    pin: Short


class MethodBody(Body):
    method: Method


class UnlockBody(Body):
    challenge: Short
    signature: Short
    pin: Short


class CredentialBody(Body):
    challenge: Short
    credential: dict[str, Any]


# -- pages ---------------------------------------------------------------------------------
@router.get("/welcome")
def welcome(request: Request) -> Response:
    """Where the app's login lands: a new device creates its PIN, a bound one goes home."""
    visitor = deps.ensure_csrf(request)
    if visitor.patient is None:
        raise LoginRequired(LOGIN)
    rule = deps.web_settings(request).quick_login
    if rule is None:
        return RedirectResponse(HOME, status_code=303)
    with deps.read_db(request) as db:
        device = app_devices.live_device(db, deps.app_device_cookie(request),
                                         deps.now(request), rule)
    if device is not None and device.account_id == visitor.patient.id:
        return RedirectResponse(HOME, status_code=303)
    return render(request, "app/welcome.html", title="Создание PIN-кода",
                  biometrics=deps.web_settings(request).relying_party is not None,
                  mismatch=rules.PIN_MISMATCH, home=HOME)


@router.get("/unlock")
def unlock_page(request: Request) -> Response:
    deps.ensure_csrf(request)
    rule = deps.web_settings(request).quick_login
    device = _device(request, rule) if rule is not None else None
    if device is None:
        return RedirectResponse(LOGIN, status_code=303)
    biometrics = device.method is Method.biometrics and device.has_biometrics and \
        deps.web_settings(request).relying_party is not None
    return render(request, "app/unlock.html", title="Вход в приложение", biometrics=biometrics,
                  home=HOME, login=LOGIN)


# -- binding (a logged-in patient) ---------------------------------------------------------
@router.post("/api/device/bind")
def bind(request: Request, body: BindBody) -> Response:
    user, rule = deps.patient_user(request), _rule(request)
    moment = deps.now(request)
    with deps.write_db(request) as db:
        # first: it checks the input and hashes the PIN (slow) before it writes anything
        device_id = app_devices.bind(db, account_id=user.id, public_key=body.public_key,
                                     pin=body.pin, label=deps.visitor(request).user_agent,
                                     now=moment, actor=user.actor, rule=rule)
        old = deps.app_device_cookie(request)
        if old is not None:  # this browser binds anew: its former device goes
            app_devices.unbind(db, device_id=old, actor=user.actor, now=moment, reason="rebound")
        db.commit()
    deps.keep_app_device(request, device_id)
    return JSONResponse({"device_id": device_id,
                         "biometrics": deps.web_settings(request).relying_party is not None})


@router.post("/api/device/method")
def choose(request: Request, body: MethodBody) -> Response:
    user, device = deps.patient_user(request), _own_device(request)
    with deps.write_db(request) as db:
        chosen = app_devices.choose_method(db, device_id=device.id, account_id=user.id,
                                           method=body.method, now=deps.now(request),
                                           actor=user.actor)
        db.commit()
    if not chosen:
        return _problem(409, "biometrics_missing", "Вход по отпечатку пальца или Face ID ещё "
                                                   "не настроен на этом устройстве.")
    return JSONResponse({"next": HOME})


@router.post("/api/device/webauthn/register/options")
def register_options(request: Request) -> Response:
    user, device, rp = deps.patient_user(request), _own_device(request), _rp(request)
    with deps.write_db(request) as db:
        ceremony = app_passkeys.registration_options(
            db, device=device, user_name=user.login, rp=rp, now=deps.now(request),
            rule=_rule(request))
        db.commit()
    return JSONResponse({"options": ceremony.options, "challenge": ceremony.challenge})


@router.post("/api/device/webauthn/register")
def register(request: Request, body: CredentialBody) -> Response:
    user, device, rp = deps.patient_user(request), _own_device(request), _rp(request)
    with deps.write_db(request) as db:
        done = app_passkeys.register(db, device=device, challenge=body.challenge,
                                     credential=_json(body.credential), rp=rp,
                                     now=deps.now(request), actor=user.actor)
        db.commit()
    if not done:
        return _problem(422, "biometrics_refused", rules.BIOMETRICS_FAILED)
    return JSONResponse({"next": HOME})


# -- unlocking (no session) ----------------------------------------------------------------
@router.post("/api/device/challenge")
def challenge(request: Request) -> Response:
    rule = _rule(request)
    with deps.write_db(request) as db:
        device = app_devices.live_device(db, deps.app_device_cookie(request),
                                         deps.now(request), rule)
        if device is None:
            return _not_bound(request)
        value = app_devices.issue_challenge(db, device_id=device.id, purpose=Purpose.unlock,
                                            now=deps.now(request), rule=rule)
        db.commit()
    return JSONResponse({"device_id": device.id, "challenge": value})


@router.post("/api/device/unlock")
def unlock(request: Request, body: UnlockBody) -> Response:
    """The phases of ``accounts.app_devices``: claim, the slow PIN check between
    transactions, settle."""
    rule, moment = _rule(request), deps.now(request)
    with deps.write_db(request) as db:
        claimed = app_devices.claim_pin_attempt(
            db, device_id=deps.app_device_cookie(request) or "", challenge=body.challenge,
            signature=body.signature, now=moment, rule=rule)
        db.commit()
    if isinstance(claimed, Unlock):
        return _unlocked(request, claimed)
    right = app_devices.pin_right(claimed, body.pin)
    with deps.write_db(request) as db:
        result = app_devices.settle_pin(db, claimed, right, now=moment, rule=rule)
        db.commit()
    return _unlocked(request, result)


@router.post("/api/device/webauthn/login/options")
def login_options(request: Request) -> Response:
    rp, device = _rp(request), _device(request, _rule(request))
    if device is None:
        return _not_bound(request)
    with deps.write_db(request) as db:
        ceremony = app_passkeys.login_options(db, device=device, rp=rp, now=deps.now(request),
                                              rule=_rule(request))
        db.commit()
    if ceremony is None:
        return _problem(409, "biometrics_missing", rules.NOT_BOUND)
    return JSONResponse({"options": ceremony.options, "challenge": ceremony.challenge})


@router.post("/api/device/webauthn/login")
def login(request: Request, body: CredentialBody) -> Response:
    rp, device = _rp(request), _device(request, _rule(request))
    if device is None:
        return _not_bound(request)
    with deps.write_db(request) as db:
        result = app_passkeys.login(db, device=device, challenge=body.challenge,
                                    credential=_json(body.credential), rp=rp,
                                    now=deps.now(request), rule=_rule(request))
        db.commit()
    return _unlocked(request, result)


# -- helpers -------------------------------------------------------------------------------
def _unlocked(request: Request, result: Unlock) -> Response:
    if result.ok and result.account_id is not None:
        _start_session(request, result.account_id)
        return JSONResponse({"next": HOME})
    if result.outcome is Outcome.wrong_pin:
        return _problem(401, "wrong_pin", rules.wrong_pin_text(result.attempts_left),
                        attempts_left=result.attempts_left)
    if result.outcome is Outcome.unbound:
        deps.keep_app_device(request, None)
        return _problem(403, "unbound", rules.UNBOUND, next=LOGIN)
    if result.outcome is Outcome.expired:
        return _problem(409, "challenge_expired", rules.EXPIRED)
    if result.outcome is Outcome.bad_signature:
        return _problem(403, "not_this_device", rules.NOT_THIS_DEVICE)
    if result.outcome is Outcome.biometrics_refused:
        return _problem(403, "biometrics_refused", rules.BIOMETRICS_FAILED)
    return _not_bound(request)


def _start_session(request: Request, account_id: int) -> None:
    """A normal portal session, as the portal's own login starts one."""
    with deps.write_db(request) as db:
        token = deps.replace_session(request, db, Owner(portal_account_id=account_id))
        db.commit()
    deps.start_session(request, token)


def _rule(request: Request) -> QuickLoginRule:
    rule = deps.web_settings(request).quick_login
    if rule is None:
        raise Forbidden("quick_login_off", QUICK_LOGIN_OFF)
    return rule


def _rp(request: Request) -> RelyingParty:
    rp = deps.web_settings(request).relying_party
    if rp is None:
        raise Forbidden("biometrics_off", BIOMETRICS_OFF)
    return rp


def _device(request: Request, rule: QuickLoginRule) -> Device | None:
    with deps.read_db(request) as db:
        return app_devices.live_device(db, deps.app_device_cookie(request), deps.now(request),
                                       rule)


def _own_device(request: Request) -> Device:
    device = _device(request, _rule(request))
    user = deps.patient_user(request)
    if device is None or device.account_id != user.id:
        raise Forbidden("not_bound", rules.NOT_BOUND)
    return device


def _not_bound(request: Request) -> Response:
    if deps.app_device_cookie(request) is not None:
        deps.keep_app_device(request, None)
    return _problem(403, "not_bound", rules.NOT_BOUND, next=LOGIN)


def _problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": status, "code": code, "detail": detail, **extra},
                        status_code=status, media_type=MEDIA)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value)
