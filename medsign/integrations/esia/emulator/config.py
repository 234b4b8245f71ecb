"""What the ESIA emulator can be told when it is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from medsign.crypto import TrustStore
from medsign.integrations.esia.emulator.model import TestPerson

# Scopes a person-facing system may ask for (the emulator refuses others with invalid_scope),
# with how the login page names them.
SCOPE_TITLES = {
    "openid": "идентификатор учётной записи",
    "fullname": "фамилия, имя и отчество",
    "birthdate": "дата рождения",
    "gender": "пол",
    "snils": "СНИЛС",
    "inn": "ИНН",
    "id_doc": "данные документа, удостоверяющего личность",
    "birthplace": "место рождения",
    "medical_doc": "полис ОМС",
    "mobile": "номер мобильного телефона",
    "email": "адрес электронной почты",
    "contacts": "контактные данные",
    "addresses": "адреса",
}

DEFAULT_PERSONS = (
    TestPerson(oid="1000299654", last_name="Иванова", first_name="Анна",
               middle_name="Сергеевна", birth_date=date(1985, 3, 14), gender="F",
               snils="112-233-445 95", mobile="+79161234567", email="anna.ivanova@example.org"),
    TestPerson(oid="1000299655", last_name="Петров", first_name="Дмитрий",
               middle_name="Александрович", birth_date=date(1972, 11, 2), gender="M",
               snils="123-456-789 64", mobile="+79037654321", email="d.petrov@example.org"),
    TestPerson(oid="1000299656", last_name="Ахмедова", first_name="Лейла", middle_name=None,
               birth_date=date(2001, 7, 30), gender="F", snils="097-531-864 08",
               mobile="+79261112233", email=None),
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EmulatorConfig:
    """``client_id``: the mnemonic of the one registered client system.
    ``redirect_urls``: where it may send users back; ``redirect_match`` ``"exact"`` (default)
    or ``"prefix"`` (any URL starting with one of them, as a system's registered addresses).
    ``trust``: the client system's CA (a ``TrustStore`` or PEM files) that ``client_secret``
    certificates must chain to; empty: any well-formed GOST CMS whose signed content matches.
    ``code_ttl_s``: an authorization code's life; ``token_ttl_s``: the access token's;
    ``timestamp_skew_s``: how far ``timestamp`` may be from the emulator's clock;
    ``login_ttl_s``: how long the login page waits for the user's choice.
    ``persons``: the test people on the login page (``DEFAULT_PERSONS``: three).
    ``state_dir``: keep the token-signing key and the emulator's state there (restarts keep
    codes, tokens and added people); ``None``: all in memory.
    ``secret_error``: the ``error`` for a bad ``client_secret`` (``invalid_client``; the real
    v2 endpoint was seen answering ``access_denied`` with ESIA-007053).
    ``require_trusted``: refuse a login by an unconfirmed account (``access_denied``,
    ESIA-007055), as ESIA does for systems that require confirmed accounts.
    ``issuer``: ``iss`` of the tokens. ``clock``: timezone-aware now (tests move it).
    """

    client_id: str
    redirect_urls: tuple[str, ...]
    trust: TrustStore | tuple[Path, ...] = ()
    redirect_match: str = "exact"
    code_ttl_s: float = 300.0
    token_ttl_s: float = 3600.0
    timestamp_skew_s: float = 300.0
    login_ttl_s: float = 900.0
    persons: tuple[TestPerson, ...] = DEFAULT_PERSONS
    state_dir: Path | None = None
    secret_error: str = "invalid_client"
    require_trusted: bool = False
    issuer: str = "http://esia.gosuslugi.ru/"
    clock: Callable[[], datetime] = field(default=_utc_now, compare=False)

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is required")
        if not self.redirect_urls:
            raise ValueError("at least one redirect URL is required")
        if self.redirect_match not in ("exact", "prefix"):
            raise ValueError("redirect_match is 'exact' or 'prefix'")

    def trust_store(self) -> TrustStore | None:
        if isinstance(self.trust, TrustStore):
            return self.trust
        if not self.trust:
            return None
        return TrustStore.from_pem(b"\n".join(Path(p).read_bytes() for p in self.trust))

    def redirect_allowed(self, uri: str) -> bool:
        if self.redirect_match == "prefix":
            return any(uri.startswith(url) for url in self.redirect_urls)
        return uri in self.redirect_urls
