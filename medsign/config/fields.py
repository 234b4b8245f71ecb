"""Annotated field types of the settings model.

Each type parses with our own function (``PlainValidator``) so that a bad value yields one
error whose message is the Russian description of the accepted forms — the loader copies
that message into :attr:`Problem.expected` as is. Types that pydantic-settings would take
for JSON in an environment variable (a sequence, a dataclass) are marked ``NoDecode``: the
variable holds the same text as the file (``10.0.0.1, 10.0.0.0/8``, ``21:00-09:00``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, PlainValidator, SecretStr
from pydantic_core import PydanticCustomError
from pydantic_settings import NoDecode

from medsign.config import units
from medsign.domain.app_regions import Region, parse_regions
from medsign.domain.errors import DomainError
from medsign.domain.login_limits import IpNetwork, parse_networks
from medsign.domain.organizations import QuietHours, parse_quiet_hours

CUSTOM_ERROR = "medsign_config"


def fail(expected: str) -> PydanticCustomError:
    """An error whose message is the Russian ``expected`` text, verbatim."""
    return PydanticCustomError(CUSTOM_ERROR, expected)


@dataclass(frozen=True)
class Display:
    """Marks how ``describe_settings`` shows a field whose Python type does not say it."""

    format: Callable[[Any], str]


def _parsing(parse: Callable[[object], Any]) -> Callable[[object], Any]:
    def validate(value: object) -> Any:
        try:
            return parse(value)
        except ValueError as error:
            raise fail(str(error)) from None

    return validate


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise fail(units.DURATION_FORMS + ", больше нуля")
    return value


def _positive_size(value: int) -> int:
    if value <= 0:
        raise fail(units.SIZE_FORMS + ", больше нуля")
    return value


def _optional_path(value: object) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise fail("путь к файлу (строка); пусто — значение по умолчанию")
    return Path.cwd() / Path(value).expanduser()


def _optional_directory(value: object) -> Path | None:
    if not isinstance(value, str | Path | None):
        raise fail("путь к каталогу (строка); пусто — значение по умолчанию")
    return _optional_path(value)


def _http_url(value: object) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail("адрес вида https://хост[:порт][/путь]")
    return str(value).rstrip("/")


def _optional_http_url(value: object) -> str:
    return "" if value == "" else _http_url(value)


def _secret_input(value: object) -> object:
    if not isinstance(value, str | SecretStr):
        raise fail("строка")
    return value


_WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{5,256}")


def _webhook_secret(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if text and not _WEBHOOK_SECRET_RE.fullmatch(text):
        raise fail("от 5 до 256 символов из A-Z, a-z, 0-9, «_» и «-» (требование MAX) или пусто")
    return value


def normalize_database_url(value: object) -> str:
    """SQLite paths become absolute (against the current directory); PostgreSQL gets psycopg."""
    text = value.strip() if isinstance(value, str) else ""
    if text in ("sqlite://", "sqlite:///:memory:"):
        return text
    if text.startswith("sqlite:///") and len(text) > len("sqlite:///"):
        path, sep, query = text.removeprefix("sqlite:///").partition("?")
        return f"sqlite:///{Path.cwd() / path}{sep}{query}"
    for prefix in ("postgresql://", "postgresql+psycopg://"):
        if text.startswith(prefix) and len(text) > len(prefix):
            return "postgresql+psycopg://" + text.removeprefix(prefix)
    raise fail(
        "sqlite:///путь/к/файлу.db (относительный путь — от текущего каталога), "
        "postgresql://… или postgresql+psycopg://…"
    )


# Query parameters that carry a secret: password=, passwd=, pwd=, token=, access_token=,
# secret=, client_secret=, api_key=, sslpassword= and the like.
_SECRET_PARAMETER = re.compile(r"([?&;][^=&;#]*(?:pass|pwd|token|secret|key)[^=&;#]*=)[^&;#]*",
                               re.IGNORECASE)


def mask_url_password(url: str) -> str:
    """Every password a URL carries replaced by ``***``: in the user-info
    (``postgresql+psycopg://u:secret@h/db`` -> ``…u:***@h/db``) and in query parameters
    (``…?sslmode=require&password=secret`` -> ``…&password=***``). Text that is not a URL is
    returned as it is."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    authority, sep, tail = _split_authority(rest)
    userinfo, at, host = authority.rpartition("@")
    if at and ":" in userinfo:
        authority = userinfo.split(":", 1)[0] + ":***@" + host
    return scheme + "://" + authority + _SECRET_PARAMETER.sub(r"\1***", sep + tail)


def _split_authority(rest: str) -> tuple[str, str, str]:
    """``user:pw@host/db?x`` -> (``user:pw@host``, ``/``, ``db?x``): the authority ends at the
    first ``/``, ``?`` or ``#`` after the last ``@`` (a password may hold any of them)."""
    start = rest.rfind("@") + 1
    ends = [i for i in (rest.find(c, start) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(rest)
    return rest[:end], rest[end:end + 1], rest[end + 1:]


def _networks(value: object) -> tuple[IpNetwork, ...]:
    """A TOML list, or (from the environment) one string separated by commas or spaces."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if isinstance(items, tuple) and all(isinstance(i, IpNetwork) for i in items):
        return items  # already parsed: a copy of the settings
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise fail("список IP-адресов или сетей CIDR, например [\"10.0.0.1\", \"10.0.0.0/8\"]")
    try:
        return parse_networks(items)
    except ValueError as error:
        raise fail(f"список IP-адресов или сетей CIDR: {error}") from None


_CRL_FORMS = ("список путей к файлам CRL или адресов http(s)://, например "
              "[\"/etc/medsign/uc.crl\", \"http://uc.example.ru/uc.crl\"]")


def _crl_sources(value: object) -> tuple[str, ...]:
    """A TOML list, or (from the environment) one string separated by commas: each item a
    file (made absolute like any path here) or an http(s) address, kept as written."""
    items = [i.strip() for i in value.split(",") if i.strip()] if isinstance(value, str) \
        else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) and i for i in items):
        raise fail(_CRL_FORMS)
    return tuple(_crl_source(item) for item in items)


def _crl_source(item: str) -> str:
    if "://" not in item:
        return str(Path.cwd() / Path(item).expanduser())
    parts = urlsplit(item)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(f"{_CRL_FORMS}; не подходит: {item}")
    return item


def _quiet_hours(value: object) -> QuietHours:
    """The domain's own parser: the МИС sends an organisation's quiet hours in the same form."""
    if isinstance(value, QuietHours):
        return value
    if not isinstance(value, str):
        raise fail(units.QUIET_HOURS_FORMS)
    try:
        return parse_quiet_hours(value)
    except DomainError:
        raise fail(units.QUIET_HOURS_FORMS) from None


def _serialize_duration(value: timedelta) -> str:
    return units.format_duration(value)


Duration = Annotated[
    timedelta,
    PlainValidator(_parsing(units.parse_duration)),
    PlainSerializer(_serialize_duration),
]
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
ByteSize = Annotated[
    int,
    PlainValidator(_parsing(units.parse_size)),
    AfterValidator(_positive_size),
    Display(units.format_size),
]
Networks = Annotated[
    tuple[IpNetwork, ...],
    NoDecode,
    PlainValidator(_networks),
    PlainSerializer(lambda value: [str(n) for n in value], return_type=list[str]),
    Display(lambda value: ", ".join(str(n) for n in value)),
]
CrlSources = Annotated[
    tuple[str, ...],
    NoDecode,
    PlainValidator(_crl_sources),
    PlainSerializer(list, return_type=list[str]),
    Display(", ".join),
]
QuietHoursField = Annotated[
    QuietHours,
    NoDecode,
    PlainValidator(_quiet_hours),
    PlainSerializer(str),
]
OptionalPath = Annotated[Path | None, PlainValidator(_optional_path)]
# The app's regions: a TOML list of tables, or the same list as JSON in the variable.
Regions = Annotated[
    tuple[Region, ...],
    NoDecode,
    PlainValidator(_parsing(parse_regions)),
    PlainSerializer(lambda value: [r.as_table() for r in value], return_type=list[Any]),
    Display(lambda value: json.dumps([r.as_table() for r in value], ensure_ascii=False)
            if value else ""),
]


@dataclass(frozen=True)
class Folder:
    """Marks a path setting that names a directory, not a file (the rules check them apart)."""


OptionalDirectory = Annotated[Path | None, PlainValidator(_optional_directory), Folder()]
WebUrl = Annotated[str, PlainValidator(_http_url)]
OptionalWebUrl = Annotated[str, PlainValidator(_optional_http_url)]
Secret = Annotated[SecretStr, BeforeValidator(_secret_input)]
WebhookSecret = Annotated[Secret, AfterValidator(_webhook_secret)]
# Like SecretStr, the password never reaches JSON; the Python value keeps it for the engine.
DatabaseUrl = Annotated[
    str,
    PlainValidator(normalize_database_url),
    PlainSerializer(mask_url_password, when_used="json"),
]
