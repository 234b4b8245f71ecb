"""The checks every ESIA request goes through, and the errors they raise.

``error`` values are OAuth 2.0's (RFC 6749 §4.1.2.1, §5.2). ``error_description`` starts with
ESIA's code where public material names one (ESIA-007004 refusal, ESIA-007014 missing
parameter, ESIA-007053 bad client_secret, ESIA-007055 unconfirmed account); the other texts
are the emulator's own, in Russian.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from medsign.crypto import SignatureInvalid, TrustStore, verify_detached
from medsign.integrations.esia.schemas import b64url_decode, parse_timestamp, secret_payload

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class OAuthError(Exception):
    """An error ESIA answers with ``error``/``error_description``."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status


class PageError(OAuthError):
    """Shown on ESIA's own error page: the redirect URI cannot be trusted (yet)."""


class RedirectError(OAuthError):
    """Sent back to the client system's redirect URI with ``state``."""

    def __init__(self, error: str, description: str, *, redirect_uri: str,
                 state: str | None) -> None:
        super().__init__(error, description)
        self.redirect_uri, self.state = redirect_uri, state


def missing(name: str) -> str:
    return f"ESIA-007014: Запрос не содержит обязательного параметра «{name}»"


def required(params: Mapping[str, str], *names: str) -> dict[str, str]:
    """The named parameters; ``OAuthError(invalid_request)`` names the first one missing."""
    for name in names:
        if not params.get(name, "").strip():
            raise OAuthError("invalid_request", missing(name))
    return {name: params[name].strip() for name in names}


def check_state_format(state: str) -> None:
    if not _UUID.fullmatch(state):
        raise OAuthError("invalid_request", "Параметр «state» должен быть UUID")


def check_timestamp(timestamp: str, *, now: datetime, skew_s: float) -> None:
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        raise OAuthError("invalid_request", "Параметр «timestamp» не в формате "
                                            "«yyyy.MM.dd HH:mm:ss Z»") from None
    if abs((now - moment).total_seconds()) > skew_s:
        raise OAuthError("invalid_request", "Время запроса («timestamp») расходится со "
                                            "временем ЕСИА больше допустимого")


def check_secret(secret: str, *, scope: str, timestamp: str, client_id: str, state: str,
                 trust: TrustStore | None, now: datetime, error: str) -> None:
    """``secret`` must be base64url of a detached CMS over exactly
    ``scope + timestamp + client_id + state`` (by a certificate from ``trust``, if any)."""
    data = secret_payload(scope, timestamp, client_id, state)
    try:
        der = b64url_decode(secret)
        verify_detached(data, der, trust=trust, at=now if trust is not None else None)
    except (ValueError, SignatureInvalid) as exc:
        detail = exc.code if isinstance(exc, SignatureInvalid) else "не base64url"
        raise OAuthError(error, "ESIA-007053: client_secret сформирован некорректно "
                                f"({detail})") from None
