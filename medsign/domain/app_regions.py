"""The regions of the patient's app «К врачу» (seed 3.3.2): which installations of medsign a
patient can choose at the app's first start, and what each of them offers.

A region is a name, the address of its installation (``https://host[/path]``) and the
services it has, from a fixed list whose Russian titles the region list shows. Names and
addresses are unique in a list: the app remembers a choice by its address, and two entries
that look the same to a patient would be a trap. :func:`parse_regions` is the one check, for
the configuration file and for the environment alike; a bad list is refused as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode, urlsplit


class Service(StrEnum):
    signing = "signing"
    max = "max"
    esia = "esia"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title
        return SERVICE_TITLES[self]


SERVICE_TITLES = {
    Service.signing: "Подписание документов онлайн",
    Service.max: "Уведомления в MAX",
    Service.esia: "Вход через Госуслуги",
}
MAX_NAME = 100
MAX_REGIONS = 200
# How long the browser remembers the choice: the most browsers keep a cookie (400 days).
REMEMBER_REGION = timedelta(days=400)


@dataclass(frozen=True)
class Region:
    name: str
    url: str  # no trailing slash: the app lives at url + "/app/"
    services: tuple[Service, ...] = ()

    @property
    def app_url(self) -> str:
        return f"{self.url}/app/"

    def as_table(self) -> dict[str, object]:
        return {"name": self.name, "url": self.url, "services": [s.value for s in self.services]}


def parse_regions(value: object) -> tuple[Region, ...]:
    """A list of tables ``{name, url, services}`` (or, from an environment variable, the
    same list as JSON text; empty text is an empty list). Raises ``ValueError`` with a
    Russian message that names the entry at fault."""
    items = _decode(value)
    if not isinstance(items, list | tuple) or len(items) > MAX_REGIONS:
        raise ValueError(f"{FORMS}; не больше {MAX_REGIONS} регионов")
    regions = tuple(_region(item, number) for number, item in enumerate(items, 1))
    _unique((r.name.casefold() for r in regions), "одинаковое название")
    _unique((r.url for r in regions), "одинаковый адрес")
    return regions


FORMS = ('список регионов: [{ name = "Название", url = "https://адрес", services = '
         f'["{Service.signing}", "{Service.max}", "{Service.esia}"] }}]')


def _decode(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not value.strip():
        return []
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(f"{FORMS} (в переменной окружения — тот же список в JSON)") from None


def _region(item: object, number: int) -> Region:
    if isinstance(item, Region):
        return item  # already parsed: a copy of the settings
    where = f"регион № {number}"
    if not isinstance(item, dict) or not set(item) <= {"name", "url", "services"}:
        raise ValueError(f"{where}: таблица с ключами name, url и services; {FORMS}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise ValueError(f"{where}: name — непустое название, не длиннее {MAX_NAME} символов")
    return Region(name=name.strip(), url=_url(item.get("url"), where),
                  services=_services(item.get("services", []), where))


def _url(value: object, where: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"{where}: url — адрес вида https://хост[:порт][/путь] без «?» и «#»")
    return str(value).rstrip("/")


def _services(value: object, where: str) -> tuple[Service, ...]:
    known = ", ".join(f"{s.value} ({s.title})" for s in Service)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: services — список из {known}")
    try:
        services = tuple(Service(v) for v in value)
    except ValueError:
        raise ValueError(f"{where}: services — только {known}") from None
    if len(set(services)) != len(services):
        raise ValueError(f"{where}: services — каждая услуга один раз")
    return services


def _unique(values: Iterable[str], same: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"у двух регионов {same}: {value}")
        seen.add(value)


def default_region(name: str, url: str, *, max_enabled: bool, esia_enabled: bool
                   ) -> Region:
    """The list when none is configured: this installation alone, with what it has on."""
    services = (Service.signing, *((Service.max,) if max_enabled else ()),
                *((Service.esia,) if esia_enabled else ()))
    return Region(name=name, url=url.rstrip("/"), services=services)


def find(regions: Iterable[Region], url: str | None) -> Region | None:
    """The region remembered by its address (None for an address no longer listed)."""
    if not url:
        return None
    return next((r for r in regions if r.url == url.rstrip("/")), None)


def start_screen(*, chosen: Region | None, here: Region | None, patient: bool,
                 device: bool) -> str:
    """Where the app's start (``/app/``) leads: the region list until a region is chosen;
    another installation's app when the chosen region is not this one; then the patient's
    home when signed in, the quick login when this browser has a bound device, else the
    login screen."""
    if chosen is None:
        return "/app/region"
    if here is None or chosen.url != here.url:
        return f"{chosen.app_url}?{urlencode({'region': chosen.url})}"
    if patient:
        return "/app/home"
    return "/app/unlock" if device else "/app/login"
