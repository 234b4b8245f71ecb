"""The emulated ESIA's behaviour, without HTTP: authorize, log in, exchange, read the account.

The routes in ``oauth``, ``rest`` and ``control`` only translate requests to these methods
and the :mod:`~medsign.integrations.esia.emulator.checks` errors to ESIA's answers.
"""

from __future__ import annotations

import secrets
import urllib.parse
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from medsign.crypto import TrustStore
from medsign.integrations.esia.emulator.checks import (
    OAuthError,
    PageError,
    RedirectError,
    check_secret,
    check_state_format,
    check_timestamp,
    missing,
    required,
)
from medsign.integrations.esia.emulator.config import SCOPE_TITLES, EmulatorConfig
from medsign.integrations.esia.emulator.model import (
    IssuedCode,
    IssuedToken,
    LoginRequest,
    TestPerson,
)
from medsign.integrations.esia.emulator.store import Store
from medsign.integrations.esia.emulator.tokens import TokenSigner
from medsign.integrations.esia.schemas import SBJ_ID_CLAIM

_AUTHORIZE_PARAMS = ("response_type", "state", "scope", "timestamp", "client_secret",
                     "access_type")
_TOKEN_PARAMS = ("code", "client_secret", "state", "redirect_uri", "scope", "timestamp",
                 "token_type")


class UnknownPerson(LookupError):
    pass


class Emulator:
    def __init__(self, config: EmulatorConfig, store: Store, signer: TokenSigner,
                 trust: TrustStore | None) -> None:
        self.config, self.store, self.signer, self.trust = config, store, signer, trust

    def now(self) -> datetime:
        return self.config.clock()

    # -- /aas/oauth2/ac and the login page -------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> LoginRequest:
        """A login request waiting for the user, or ``PageError``/``RedirectError``."""
        client_id = self._client(params, PageError)
        redirect_uri = params.get("redirect_uri", "").strip()
        if not redirect_uri:
            raise PageError("invalid_request", missing("redirect_uri"))
        if not self.config.redirect_allowed(redirect_uri):
            raise PageError("invalid_request", f"Адрес возврата «{redirect_uri}» не "
                                               "зарегистрирован для системы-клиента")
        try:
            request = self._login_request(params, client_id, redirect_uri)
        except OAuthError as exc:
            raise RedirectError(exc.error, exc.description, redirect_uri=redirect_uri,
                                state=params.get("state", "").strip() or None) from None
        self.store.logins[request.id] = request
        self.store.save()
        return request

    def pending(self, request_id: str) -> LoginRequest:
        request = self.store.logins.get(request_id)
        age = self.config.login_ttl_s
        if request is None or self.now() - request.created_at > timedelta(seconds=age):
            raise PageError("invalid_request", "Сеанс входа не найден или истёк: вернитесь "
                                               "в систему и начните вход заново")
        return request

    def login(self, request_id: str, oid: str) -> str:
        """The redirect back with ``code`` and ``state`` (or ``access_denied`` for an
        unconfirmed account when the system requires confirmed ones)."""
        request = self.pending(request_id)
        person = self.store.persons.get(oid)
        if person is None:
            raise UnknownPerson(oid)
        del self.store.logins[request_id]
        if self.config.require_trusted and not person.trusted:
            self.store.save()
            return _refusal(request, "ESIA-007055: Вход в систему осуществляется с "
                                     "неподтверждённой учётной записью")
        code = self._new_code(request, person)
        self.store.codes[code.code] = code
        self.store.save()
        return with_query(request.redirect_uri, code=code.code, state=request.state)

    def cancel(self, request_id: str) -> str:
        request = self.pending(request_id)
        del self.store.logins[request_id]
        self.store.save()
        return _refusal(request, "ESIA-007004: Владелец ресурса отклонил запрос на доступ")

    def _client(self, params: Mapping[str, str], error: type[OAuthError]) -> str:
        client_id = params.get("client_id", "").strip()
        if not client_id:
            raise error("invalid_request", missing("client_id"))
        if client_id != self.config.client_id:
            raise error("invalid_client", f"Система-клиент «{client_id}» не зарегистрирована")
        return client_id

    def _login_request(self, params: Mapping[str, str], client_id: str,
                       redirect_uri: str) -> LoginRequest:
        p = required(params, *_AUTHORIZE_PARAMS)
        if p["response_type"] != "code":
            raise OAuthError("unsupported_response_type", "Поддерживается только "
                                                          "«response_type=code»")
        if p["access_type"] not in ("online", "offline"):
            raise OAuthError("invalid_request", "«access_type» — online или offline")
        self._check_signed(p, client_id)
        return LoginRequest(id=secrets.token_urlsafe(16), client_id=client_id,
                            redirect_uri=redirect_uri, scope=p["scope"], state=p["state"],
                            access_type=p["access_type"], created_at=self.now())

    def _check_signed(self, p: Mapping[str, str], client_id: str) -> None:
        """state, scope, timestamp and client_secret: the checks both endpoints make."""
        check_state_format(p["state"])
        unknown = sorted(set(p["scope"].split()) - SCOPE_TITLES.keys())
        if unknown:
            raise OAuthError("invalid_scope", f"Неизвестная область доступа: {unknown[0]}")
        check_timestamp(p["timestamp"], now=self.now(), skew_s=self.config.timestamp_skew_s)
        check_secret(p["client_secret"], scope=p["scope"], timestamp=p["timestamp"],
                     client_id=client_id, state=p["state"], trust=self.trust, now=self.now(),
                     error=self.config.secret_error)

    def _new_code(self, request: LoginRequest, person: TestPerson) -> IssuedCode:
        now = self.now()
        return IssuedCode(code=secrets.token_urlsafe(32), client_id=request.client_id,
                          redirect_uri=request.redirect_uri, scope=request.scope,
                          state=request.state, oid=person.oid, created_at=now,
                          expires_at=now + timedelta(seconds=self.config.code_ttl_s))

    # -- /aas/oauth2/te ---------------------------------------------------------------------

    def exchange(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The token answer, or ``OAuthError`` as ESIA answers it (JSON, 400)."""
        grant = required(form, "grant_type")["grant_type"]
        if grant != "authorization_code":
            raise OAuthError("unsupported_grant_type", "Поддерживается только "
                                                       "«grant_type=authorization_code»")
        client_id = self._client(form, OAuthError)
        p = required(form, *_TOKEN_PARAMS)
        if p["token_type"] != "Bearer":
            raise OAuthError("invalid_request", "«token_type» должен быть Bearer")
        self._check_signed(p, client_id)
        code = self._redeem(p, client_id)
        return self._issue(code, p["state"])

    def _redeem(self, p: Mapping[str, str], client_id: str) -> IssuedCode:
        code = self.store.codes.get(p["code"])
        if code is None:
            raise OAuthError("invalid_grant", "Авторизационный код не найден")
        if code.used_at is not None:
            self._revoke(code)  # RFC 6749 §4.1.2: a replayed code voids what it gave
            raise OAuthError("invalid_grant", "Авторизационный код уже использован")
        if self.now() >= code.expires_at:
            raise OAuthError("invalid_grant", "Срок действия авторизационного кода истёк")
        _check_binding(code, p, client_id)
        code.used_at = self.now()
        return code

    def _revoke(self, code: IssuedCode) -> None:
        for access in code.tokens:
            if access in self.store.tokens:
                self.store.tokens[access].revoked = True
        self.store.save()

    def _issue(self, code: IssuedCode, state: str) -> dict[str, Any]:
        now, ttl = self.now(), int(self.config.token_ttl_s)
        access = self.signer.make(self._access_claims(code, now, ttl), kind="access")
        self.store.tokens[access] = IssuedToken(
            access_token=access, oid=code.oid, client_id=code.client_id, scope=code.scope,
            code=code.code, issued_at=now, expires_at=now + timedelta(seconds=ttl))
        code.tokens.append(access)
        self.store.save()
        id_token = self.signer.make(self._id_claims(code, now, ttl), kind="id")
        return {"access_token": access, "id_token": id_token, "expires_in": ttl,
                "state": state, "token_type": "Bearer", "refresh_token": str(uuid.uuid4())}

    def _access_claims(self, code: IssuedCode, now: datetime, ttl: int) -> dict[str, Any]:
        at = int(now.timestamp())
        scopes = " ".join(s if s == "openid" else f"{s}?oid={code.oid}"
                          for s in code.scope.split())
        return {"nbf": at, "scope": scopes, "iss": self.config.issuer,
                "urn:esia:sid": _sid(code), SBJ_ID_CLAIM: _oid_claim(code.oid),
                "exp": at + ttl, "iat": at, "client_id": code.client_id}

    def _id_claims(self, code: IssuedCode, now: datetime, ttl: int) -> dict[str, Any]:
        at, person = int(now.timestamp()), self.store.persons.get(code.oid)
        subject = {"urn:esia:sbj:typ": "P", "urn:esia:sbj:oid": _oid_claim(code.oid),
                   "urn:esia:sbj:nam": f"OID.{code.oid}",
                   "urn:esia:sbj:is_tru": bool(person and person.trusted)}
        return {"iss": self.config.issuer, "sub": _oid_claim(code.oid), "aud": code.client_id,
                "nbf": at, "iat": at, "exp": at + ttl, "auth_time": at, "amr": "PWD",
                "urn:esia:amd": "PWD", "urn:esia:sid": _sid(code), "urn:esia:sbj": subject}

    # -- /rs/prns ---------------------------------------------------------------------------

    def bearer(self, authorization: str | None, oid: str) -> tuple[IssuedToken, TestPerson]:
        """The token of ``Authorization: Bearer …`` and the person it may read; ``OAuthError``
        401 (no, unknown, altered, revoked or expired token) or 403 (another person)."""
        scheme, _, raw = (authorization or "").partition(" ")
        token = self.store.tokens.get(raw.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.revoked or self.signer.verify(token.access_token) is None:
            raise OAuthError("invalid_token", "Маркер доступа недействителен", status=401)
        if self.now() >= token.expires_at:
            raise OAuthError("invalid_token", "Срок действия маркера доступа истёк", status=401)
        person = self.store.persons.get(oid)
        if token.oid != oid or person is None:
            raise OAuthError("access_denied", "Маркер выдан для другой учётной записи",
                             status=403)
        return token, person

    # -- control ----------------------------------------------------------------------------

    def add_person(self, person: TestPerson) -> None:
        if person.oid in self.store.persons:
            raise OAuthError("conflict", f"oid {person.oid} уже занят", status=409)
        self.store.persons[person.oid] = person
        self.store.save()


def _check_binding(code: IssuedCode, p: Mapping[str, str], client_id: str) -> None:
    """The exchange must match the authorization the code came from."""
    if code.client_id != client_id:
        raise OAuthError("invalid_grant", "Авторизационный код выдан другой системе-клиенту")
    if code.redirect_uri != p["redirect_uri"]:
        raise OAuthError("invalid_grant", "«redirect_uri» не совпадает с указанным при "
                                          "получении кода")
    if set(code.scope.split()) != set(p["scope"].split()):
        raise OAuthError("invalid_scope", "«scope» не совпадает с указанным при получении кода")
    if p["state"] == code.state:
        raise OAuthError("invalid_request", "Для получения маркера нужен новый «state»")


def _refusal(request: LoginRequest, description: str) -> str:
    return with_query(request.redirect_uri, error="access_denied",
                      error_description=description, state=request.state)


def with_query(url: str, **params: str | None) -> str:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _sid(code: IssuedCode) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"esia-emulator:{code.code}"))


def _oid_claim(oid: str) -> int | str:
    return int(oid) if oid.isdigit() else oid  # ESIA's oid is a JSON number
