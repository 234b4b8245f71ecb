"""The password login shared by staff and patients: throttled, audited, and a new session.

The phases of ``accounts.auth`` run here against the request's database: the slow Argon2
check runs between short transactions, holding no lock. A browser that presents a device token
of the account (``deps.device_cookie_name``) has the attempt claimed against that token first;
after a good login the browser gets the token back, for the next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request

from medsign.accounts import app_devices, auth, sessions
from medsign.accounts.auth import Verdict
from medsign.domain.login_limits import wait_text
from medsign.web import deps

WEAK_TEXT = {
    "staff": "Пароль этой учётной записи не соответствует требованиям безопасности (например, "
             "это пароль демонстрационного стенда). Вход запрещён: попросите администратора "
             "задать новый пароль (консоль → «Пользователи»).",
    "portal": "Пароль этой учётной записи не соответствует требованиям безопасности. Вход "
              "запрещён: обратитесь в службу поддержки, чтобы задать новый пароль.",
}


@dataclass(frozen=True)
class LoginResult:
    verdict: Verdict
    wait: timedelta  # before the next attempt (zero: at once)

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.ok

    def message(self, realm: str) -> str:
        if self.verdict is Verdict.delayed:
            return (f"Слишком много неудачных попыток входа. Следующую попытку можно сделать "
                    f"через {wait_text(self.wait)}. Вход не заблокирован: после паузы введите "
                    f"логин и пароль снова.")
        if self.verdict is Verdict.weak:
            return WEAK_TEXT[realm]
        if self.wait:
            return (f"Неверный логин или пароль. Следующую попытку можно сделать через "
                    f"{wait_text(self.wait)}.")
        return "Неверный логин или пароль."

    @property
    def status(self) -> int:
        return {Verdict.ok: 303, Verdict.delayed: 429, Verdict.weak: 403}.get(self.verdict, 401)


def password_login(request: Request, *, realm: str, login: str, password: str) -> LoginResult:
    settings, moment = deps.web_settings(request), deps.now(request)
    visitor = deps.visitor(request)
    with deps.read_db(request) as db:
        candidate = auth.look_up(db, realm=realm, login=login, address=visitor.address,
                                 now=moment, device_cookie=deps.device_cookie(request))
    if candidate.device is not None:
        with deps.write_db(request) as db:
            candidate = auth.claim_device(db, candidate, moment)
            db.commit()
    verdict = auth.judge(candidate, password,
                         allow_demo_password=settings.allow_demo_passwords)
    with deps.write_db(request) as db:
        settled = auth.settle(db, candidate, verdict, now=moment,
                              policy=settings.sessions, address=visitor.address,
                              user_agent=visitor.user_agent)
        if settled.token is not None:
            sessions.end(db, request.cookies.get(deps.cookie_name(settings)))
        db.commit()
    if settled.token is not None:
        deps.start_session(request, settled.token)
    if settled.devices is not None:
        deps.remember_device(request, settled.devices)
    return LoginResult(verdict, settled.wait if verdict is not Verdict.delayed
                       else candidate.wait)


def logout(request: Request) -> None:
    """End the session; a device bound for the app's quick login is unbound too (whoever
    logs out of this browser means it to forget them)."""
    visitor = deps.visitor(request)
    settings, moment = deps.web_settings(request), deps.now(request)
    app_device = deps.app_device_cookie(request)
    with deps.write_db(request) as db:
        sessions.end(db, request.cookies.get(deps.cookie_name(settings)))
        if app_device is not None:
            app_devices.unbind(db, device_id=app_device, actor=visitor.actor or "anonymous",
                               now=moment, reason="logout")
        if visitor.actor is not None:
            realm = "staff" if visitor.staff is not None else "portal"
            org = visitor.staff.organization_code if visitor.staff else None
            auth.record_logout(db, actor=visitor.actor, realm=realm,
                               login=visitor.actor.split(":", 1)[1], now=moment,
                               organization_code=org)
        db.commit()
    request.state.web_cookie_clear = True
    if app_device is not None:
        deps.keep_app_device(request, None)


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://…``."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target
