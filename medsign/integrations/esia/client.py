"""Typed async client of ESIA (Госуслуги) OAuth 2.0 for the portal's login (flow E).

The authorization-code flow as ESIA runs it for a client system: the browser goes to
:meth:`EsiaClient.authorization_request`'s URL, comes back to ``redirect_url`` with ``code`` and
``state``; :func:`read_callback` checks the state against the one kept in the session;
:meth:`EsiaClient.exchange_code` trades the code for a token and :meth:`EsiaClient.person`
reads the account. Every request to ESIA carries ``client_secret``: the system's GOST detached
CMS over ``scope + timestamp + client_id + state`` (see ``schemas``). Background and the
assumptions made: ``docs/esia.md``.

Every failure is an exception of this tree::

    EsiaError                  .message
    ├── EsiaTransient          timeout, connection error, 429, 5xx, the signer unavailable
    │                          (retry later; show "Госуслуги временно недоступны")
    └── EsiaRejected           .status (HTTP status, None when not from an answer), .code,
                               .message; never retry the same request. Codes: ESIA's
                               ("invalid_grant", "invalid_client", "invalid_request",
                               "access_denied", "invalid_token", ...), "invalid_state" (state
                               check), "http_<status>", "malformed_response",
                               "client_secret_failed" (the signer refused: configuration)
"""

from __future__ import annotations

import hmac
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from medsign.crypto import CryptoError, Signer, SignerUnavailable
from medsign.integrations.esia.schemas import (
    DEFAULT_SCOPE,
    AuthorizationRequest,
    MalformedAnswer,
    Person,
    Token,
    b64url_encode,
    format_timestamp,
    person_from_json,
    secret_payload,
    token_from_json,
)
from medsign.integrations.http import ApiClient, ErrorMap, http_client, segment

__all__ = ["AuthorizationRequest", "EsiaClient", "EsiaError", "EsiaRejected", "EsiaTransient",
           "Person", "Token", "check_state", "read_callback"]

AUTHORIZE_PATH = "/aas/oauth2/ac"
TOKEN_PATH = "/aas/oauth2/te"
_CONTACT_SCOPES = frozenset({"mobile", "email", "contacts"})


class EsiaError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EsiaTransient(EsiaError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EsiaRejected(EsiaError):
    def __init__(self, code: str, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.status = status

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"


ERRORS = ErrorMap(
    transient=lambda message, status, _retry_after: EsiaTransient(message, status=status),
    rejected=lambda status, code, message: EsiaRejected(code, message, status=status),
    transient_type=EsiaTransient, rejected_type=EsiaRejected)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def check_state(expected: str, given: str | None) -> None:
    """Raise ``EsiaRejected("invalid_state")`` unless ``given`` is the session's ``expected``
    state (compared in constant time)."""
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise EsiaRejected("invalid_state", "state в ответе ЕСИА не совпадает с сохранённым")


def read_callback(params: Mapping[str, str], *, expected_state: str) -> str:
    """The ``code`` of ESIA's redirect back (its query parameters), after the state check.

    ESIA's own refusal (``error=access_denied`` when the user pressed «Отмена», ...) is raised
    as ``EsiaRejected(error, error_description)`` before the state is looked at: nothing is
    accepted from such an answer, so a forged one can only show an error.
    """
    error = params.get("error")
    if error:
        raise EsiaRejected(error, params.get("error_description") or error)
    check_state(expected_state, params.get("state"))
    code = params.get("code")
    if not code:
        raise EsiaRejected("invalid_request", "в ответе ЕСИА нет авторизационного кода")
    return code


class EsiaClient(ApiClient):
    """``authorize_path``/``token_path`` choose ESIA's endpoint versions (v1 by default: the
    ``client_secret`` scheme above is v1's); ``clock`` gives the moment of ``timestamp`` and
    of the CMS signingTime (timezone-aware)."""

    def __init__(self, base_url: str, client_id: str, redirect_url: str, *, signer: Signer,
                 scope: str = DEFAULT_SCOPE, ca_bundle: Path | None = None,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], datetime] = _utc_now, access_type: str = "online",
                 authorize_path: str = AUTHORIZE_PATH, token_path: str = TOKEN_PATH) -> None:
        super().__init__(http_client(base_url, ca_bundle=ca_bundle, timeout=timeout,
                                     transport=transport))
        self._base_url = base_url.rstrip("/")
        self.client_id, self.redirect_url, self.scope = client_id, redirect_url, scope
        self._signer, self._clock, self._access_type = signer, clock, access_type
        self._authorize_path, self._token_path = authorize_path, token_path

    errors = ERRORS

    def authorization_request(self) -> AuthorizationRequest:
        """A fresh state, timestamp and client_secret, and the ESIA URL carrying them. Make it
        when the user clicks «Войти через Госуслуги»: ESIA refuses a stale timestamp."""
        state, timestamp, secret = self._signed()
        query = urllib.parse.urlencode({
            "client_id": self.client_id, "client_secret": secret,
            "redirect_uri": self.redirect_url, "scope": self.scope, "response_type": "code",
            "state": state, "timestamp": timestamp, "access_type": self._access_type,
        }, quote_via=urllib.parse.quote)
        return AuthorizationRequest(f"{self._base_url}{self._authorize_path}?{query}",
                                    state, timestamp)

    async def exchange_code(self, code: str, *, state: str) -> Token:
        """Trade ``code`` for a token. ``state`` is the authorization request's, already
        checked by :func:`read_callback`/:func:`check_state`; ESIA wants a new state (and
        timestamp and secret) on this request, and echoes the new one back."""
        if not state:
            raise EsiaRejected("invalid_state", "обмен кода без проверенного state")
        new_state, timestamp, secret = self._signed()
        form = {"client_id": self.client_id, "code": code, "grant_type": "authorization_code",
                "client_secret": secret, "state": new_state, "redirect_uri": self.redirect_url,
                "scope": self.scope, "timestamp": timestamp, "token_type": "Bearer"}
        body = ERRORS.json_object(await self._request("POST", self._token_path, data=form))
        echoed = body.get("state")
        if echoed is not None and echoed != new_state:
            raise EsiaRejected("invalid_state", "ЕСИА вернула чужой state", status=200)
        try:
            return token_from_json(body)
        except MalformedAnswer as exc:
            raise _malformed(str(exc)) from None

    async def person(self, token: Token) -> Person:
        """``/rs/prns/{oid}`` and, when the scope asks for phone or e-mail, its contacts."""
        headers = {"Authorization": f"Bearer {token.access_token}"}
        base = f"/rs/prns/{segment(token.oid)}"
        body = ERRORS.json_object(await self._request("GET", base, headers=headers))
        contacts: list[Mapping[str, Any]] = []
        if _CONTACT_SCOPES & set(self.scope.split()):
            answer = await self._request("GET", f"{base}/ctts",
                                         params={"embed": "(elements)"}, headers=headers)
            contacts = _elements(ERRORS.json_object(answer))
        try:
            return person_from_json(token.oid, body, contacts)
        except MalformedAnswer as exc:
            raise _malformed(str(exc)) from None

    def _signed(self) -> tuple[str, str, str]:
        """A new ``(state, timestamp, client_secret)``."""
        moment = self._clock()
        state, timestamp = str(uuid.uuid4()), format_timestamp(moment)
        payload = secret_payload(self.scope, timestamp, self.client_id, state)
        try:
            cms = self._signer.sign(payload, signing_time=moment)
        except SignerUnavailable as exc:
            raise EsiaTransient(f"client_secret: {exc.message}") from exc
        except CryptoError as exc:
            raise EsiaRejected("client_secret_failed", exc.message) from exc
        return state, timestamp, b64url_encode(cms)






def _elements(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Embedded contact objects; links (an answer without ``embed``) are skipped."""
    elements = body.get("elements")
    if not isinstance(elements, list):
        raise _malformed("the contacts answer has no 'elements' list")
    return [e for e in elements if isinstance(e, dict)]


def _malformed(detail: str, status: int = 200) -> EsiaRejected:
    return EsiaRejected("malformed_response", detail, status=status)
