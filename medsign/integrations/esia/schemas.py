"""Shapes of the ESIA (Госуслуги) login: what the client hands the web login, and how ESIA's
answers are read.

ESIA's own conventions, kept here so the client and the emulator agree on them:

- ``timestamp`` is ``yyyy.MM.dd HH:mm:ss Z`` (``2026.01.15 12:00:00 +0300``);
- ``client_secret`` is a detached CMS over ``scope + timestamp + client_id + state`` (UTF-8,
  no separators), base64url without padding (readers accept padding too);
- the access token is JWT-shaped; its payload's ``urn:esia:sbj_id`` is the person's oid
  (a JSON number on the real service, so it is read as text either way);
- ``/rs/prns/{oid}`` gives ``birthDate`` as ``dd.MM.yyyy``; contacts are elements with
  ``type`` ``MBT`` (mobile) or ``EML`` (e-mail), ``vrfStu`` ``VERIFIED`` when confirmed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from medsign.domain.errors import DomainError
from medsign.domain.phones import normalize_phone
from medsign.httpsafe import bodies

__all__ = ["DEFAULT_SCOPE", "SBJ_ID_CLAIM", "TIMESTAMP_FORMAT", "AuthorizationRequest",
           "MalformedAnswer", "Person", "Token", "b64url_decode", "b64url_encode",
           "format_timestamp", "jwt_claims", "parse_timestamp", "person_from_json",
           "secret_payload"]

TIMESTAMP_FORMAT = "%Y.%m.%d %H:%M:%S %z"
DEFAULT_SCOPE = "openid fullname birthdate mobile email snils"
SBJ_ID_CLAIM = "urn:esia:sbj_id"
_BIRTH_DATE_FORMAT = "%d.%m.%Y"


class MalformedAnswer(ValueError):
    """ESIA answered 2xx with something this module cannot read."""


@dataclass(frozen=True)
class AuthorizationRequest:
    """``url``: where to send the user's browser (302); keep ``state`` in the user's session
    and check it on return with :func:`~medsign.integrations.esia.client.check_state`."""

    url: str
    state: str
    timestamp: str


@dataclass(frozen=True)
class Token:
    """ESIA's answer to the code exchange. The tokens stay out of ``repr`` (and so of logs)."""

    access_token: str = field(repr=False)
    id_token: str | None = field(repr=False)
    expires_in: int
    oid: str
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Person:
    """The ESIA account as the portal needs it. ``trusted``: a confirmed ("подтверждённая")
    account; ``phone`` is ``+7XXXXXXXXXX`` when ESIA's value is a Russian number;
    ``phone_verified``: ESIA marks that mobile number ``VERIFIED`` (only such a number may
    identify the person — ``medsign.domain.identity``)."""

    oid: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date | None
    snils: str | None
    phone: str | None
    email: str | None
    trusted: bool
    phone_verified: bool = False

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    return moment.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Raises ``ValueError`` on anything but ``yyyy.MM.dd HH:mm:ss Z``."""
    return datetime.strptime(text, TIMESTAMP_FORMAT)


def secret_payload(scope: str, timestamp: str, client_id: str, state: str) -> bytes:
    """The bytes ``client_secret`` signs."""
    return f"{scope}{timestamp}{client_id}{state}".encode()


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Padding is optional; raises ``ValueError`` on anything but base64url."""
    raw = text.strip().rstrip("=")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-shaped token, unverified (see ``docs/esia.md`` for why)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedAnswer("the token is not header.payload.signature")
    try:
        claims = bodies.loads(b64url_decode(parts[1]))
    except ValueError:
        raise MalformedAnswer("the token's payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise MalformedAnswer("the token's payload is not a JSON object")
    return claims


def token_from_json(body: Mapping[str, Any]) -> Token:
    access = _text(body, "access_token")
    oid = jwt_claims(access).get(SBJ_ID_CLAIM)
    if isinstance(oid, bool) or not isinstance(oid, int | str) or not str(oid):
        raise MalformedAnswer(f"the access token has no '{SBJ_ID_CLAIM}'")
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise MalformedAnswer("the answer has no integer 'expires_in'")
    return Token(access_token=access, id_token=_optional(body, "id_token"),
                 expires_in=expires_in, oid=str(oid),
                 refresh_token=_optional(body, "refresh_token"))


def person_from_json(oid: str, body: Mapping[str, Any],
                     contacts: list[Mapping[str, Any]]) -> Person:
    mobile = _contact_element(contacts, "MBT")
    return Person(oid=oid, last_name=_text(body, "lastName"),
                  first_name=_text(body, "firstName"),
                  middle_name=_optional(body, "middleName"),
                  birth_date=_birth_date(_optional(body, "birthDate")),
                  snils=_optional(body, "snils"),
                  phone=_phone(_value(mobile)),
                  email=_value(_contact_element(contacts, "EML")),
                  trusted=body.get("trusted") is True,
                  phone_verified=mobile is not None and mobile.get("vrfStu") == "VERIFIED")


def _contact_element(contacts: list[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    """The verified contact of ``kind`` if there is one, else the first of that kind."""
    found = [c for c in contacts if c.get("type") == kind and isinstance(c.get("value"), str)
             and c["value"].strip()]
    found.sort(key=lambda c: c.get("vrfStu") != "VERIFIED")  # stable: verified first
    return found[0] if found else None


def _value(element: Mapping[str, Any] | None) -> str | None:
    return str(element["value"]).strip() if element is not None else None


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return normalize_phone(raw)
    except DomainError:
        return raw  # a foreign number stays as ESIA spelled it


def _birth_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, _BIRTH_DATE_FORMAT).date()
    except ValueError:
        raise MalformedAnswer(f"birthDate {text!r} is not dd.MM.yyyy") from None


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MalformedAnswer(f"the answer has no '{key}' string")
    return value.strip()


def _optional(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None
