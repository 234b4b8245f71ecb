"""What the ESIA emulator remembers: test people, pending logins, codes and tokens.

A :class:`TestPerson` answers ``/rs/prns/{oid}`` in ESIA's shape (:meth:`TestPerson.esia_json`);
the fields a token may see depend on its scope, as on the real service.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

_OID = re.compile(r"[0-9]{1,19}")
_SNILS = re.compile(r"[0-9]{3}-[0-9]{3}-[0-9]{3} [0-9]{2}")
_MOBILE = re.compile(r"\+7[0-9]{10}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SCOPED_FIELDS = {"fullname": ("firstName", "lastName", "middleName"),
                  "birthdate": ("birthDate",), "gender": ("gender",), "snils": ("snils",)}


class InvalidPerson(ValueError):
    pass


@dataclass(frozen=True)
class TestPerson:
    """``mobile``: ``+7XXXXXXXXXX`` (shown by ESIA as ``+7(XXX)XXXXXXX``);
    ``mobile_verified``: ESIA has confirmed that number by a code (``vrfStu`` ``VERIFIED``,
    else ``NOT_VERIFIED``); ``snils``: ``XXX-XXX-XXX XX``; ``trusted``: a confirmed account."""

    __test__ = False  # not a pytest test class, whatever its name says

    oid: str
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    gender: str
    snils: str | None
    mobile: str | None
    email: str | None
    trusted: bool = True
    mobile_verified: bool = True

    def __post_init__(self) -> None:
        texts = (self.oid, self.last_name, self.first_name, self.gender)
        optional = (self.middle_name, self.snils, self.mobile, self.email)
        if (not all(isinstance(t, str) for t in texts)
                or not all(t is None or isinstance(t, str) for t in optional)
                or not isinstance(self.trusted, bool) or not isinstance(self.mobile_verified, bool)
                or not isinstance(self.birth_date, date)):
            raise InvalidPerson("wrong field types")
        problems = [text for ok, text in (
            (bool(_OID.fullmatch(self.oid)), "oid: digits"),
            (bool(self.last_name.strip() and self.first_name.strip()), "name: required"),
            (self.gender in ("M", "F"), "gender: M or F"),
            (self.snils is None or bool(_SNILS.fullmatch(self.snils)), "snils: XXX-XXX-XXX XX"),
            (self.mobile is None or bool(_MOBILE.fullmatch(self.mobile)), "mobile: +7XXXXXXXXXX"),
            (self.email is None or bool(_EMAIL.fullmatch(self.email)), "email: an address"),
        ) if not ok]
        if problems:
            raise InvalidPerson("; ".join(problems))

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    @property
    def esia_mobile(self) -> str | None:
        m = self.mobile
        return f"{m[:2]}({m[2:5]}){m[5:]}" if m else None

    def esia_json(self, scopes: frozenset[str]) -> dict[str, Any]:
        """The ``/rs/prns/{oid}`` body, limited to what ``scopes`` grant."""
        every = {"firstName": self.first_name, "lastName": self.last_name,
                 "middleName": self.middle_name, "birthDate": f"{self.birth_date:%d.%m.%Y}",
                 "gender": self.gender, "snils": self.snils}
        granted = {name for scope in scopes for name in _SCOPED_FIELDS.get(scope, ())}
        body: dict[str, Any] = {"stateFacts": ["EntityRoot"], "eTag": _etag(self),
                                "trusted": self.trusted, "citizenship": "RUS",
                                "status": "REGISTERED", "verifying": False,
                                "containsUpCfmCode": False}
        body.update({k: v for k, v in every.items() if k in granted and v is not None})
        return body

    def contacts(self, scopes: frozenset[str]) -> list[dict[str, Any]]:
        """The contact elements ``scopes`` grant: ``MBT`` (mobile), ``EML`` (e-mail)."""
        wide = "contacts" in scopes
        found = [(1, "MBT", self.esia_mobile, wide or "mobile" in scopes, self.mobile_verified),
                 (2, "EML", self.email, wide or "email" in scopes, True)]
        return [{"stateFacts": ["Identifiable"], "id": number, "type": kind,
                 "vrfStu": "VERIFIED" if verified else "NOT_VERIFIED", "value": value,
                 "eTag": _etag(self, kind)}
                for number, kind, value, allowed, verified in found if value and allowed]

    def to_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["birth_date"] = self.birth_date.isoformat()
        return body

    @classmethod
    def from_json(cls, body: Any) -> TestPerson:
        """From the control API's JSON (``to_json``'s shape); raises ``InvalidPerson``."""
        if not isinstance(body, dict):
            raise InvalidPerson("a JSON object is expected")
        try:
            values = {f.name: body[f.name] for f in dataclasses.fields(cls) if f.name in body}
            values["birth_date"] = date.fromisoformat(str(body["birth_date"]))
            values.setdefault("middle_name", None)
            for optional in ("snils", "mobile", "email"):
                values.setdefault(optional, None)
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidPerson(f"{type(exc).__name__}: {exc}") from None


def _etag(person: TestPerson, salt: str = "") -> str:
    return hashlib.sha1(f"{person.oid}|{person.full_name}|{salt}".encode()).hexdigest().upper()


@dataclass(frozen=True)
class LoginRequest:
    """An authorization request that passed the checks, waiting for the user's choice."""

    id: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    access_type: str
    created_at: datetime


@dataclass
class IssuedCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    oid: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    tokens: list[str] = field(default_factory=list)


@dataclass
class IssuedToken:
    access_token: str
    oid: str
    client_id: str
    scope: str
    code: str
    issued_at: datetime
    expires_at: datetime
    revoked: bool = False

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


def to_dict(record: LoginRequest | IssuedCode | IssuedToken) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in dataclasses.asdict(record).items()}


def code_from_dict(body: dict[str, Any]) -> IssuedCode:
    return IssuedCode(**_with_times(body, "created_at", "expires_at", "used_at"))


def token_from_dict(body: dict[str, Any]) -> IssuedToken:
    return IssuedToken(**_with_times(body, "issued_at", "expires_at"))


def login_from_dict(body: dict[str, Any]) -> LoginRequest:
    return LoginRequest(**_with_times(body, "created_at"))


def _with_times(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: datetime.fromisoformat(v) if k in names and v is not None else v
            for k, v in body.items()}
