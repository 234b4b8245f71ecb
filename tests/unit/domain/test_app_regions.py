"""The region list of the app «К врачу»: what the configuration may say, and where the app's
start leads."""

from __future__ import annotations

import json
import re

import pytest

from medsign.domain.app_regions import (
    Region,
    Service,
    default_region,
    find,
    parse_regions,
    start_screen,
)

TULA = {"name": "Тульская область", "url": "https://medsign.tula.example/",
        "services": ["signing", "max"]}
OREL = {"name": "Орловская область", "url": "https://medsign.orel.example:8443/ms",
        "services": ["esia"]}


def test_a_list_of_tables_becomes_regions_with_russian_service_titles() -> None:
    tula, orel = parse_regions([TULA, OREL])
    assert tula == Region("Тульская область", "https://medsign.tula.example",
                          (Service.signing, Service.max))
    assert [s.title for s in tula.services] == ["Подписание документов онлайн",
                                                "Уведомления в MAX"]
    assert orel.app_url == "https://medsign.orel.example:8443/ms/app/"
    assert Service.esia.title == "Вход через Госуслуги"


def test_the_environment_gives_the_same_list_as_json() -> None:
    assert parse_regions(json.dumps([TULA])) == parse_regions([TULA])
    assert parse_regions("") == () == parse_regions([])


@pytest.mark.parametrize(("regions", "words"), [
    ([TULA, {**OREL, "name": " тульская ОБЛАСТЬ "}], "одинаковое название"),
    ([TULA, {**OREL, "url": "https://medsign.tula.example"}], "одинаковый адрес"),
    ([{**TULA, "url": "ftp://medsign.tula.example"}], "регион № 1: url"),
    ([{**TULA, "url": "https://medsign.tula.example/?x=1"}], "без «?» и «#»"),
    ([TULA, {**OREL, "url": "medsign.orel.example"}], "регион № 2: url"),
    ([{**TULA, "services": ["signing", "sms"]}], "только signing"),
    ([{**TULA, "services": ["max", "max"]}], "каждая услуга один раз"),
    ([{**TULA, "services": "max"}], "services — список"),
    ([{**TULA, "name": ""}], "name — непустое"),
    ([{**TULA, "name": "х" * 101}], "не длиннее 100"),
    ([{**TULA, "colour": "red"}], "таблица с ключами"),
    ("not json", "в переменной окружения"),
    ({"name": "Тула"}, "список регионов"),
])
def test_a_bad_list_is_refused_with_a_reason(regions: object, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_regions(regions)


def test_the_default_is_this_installation_with_what_it_has_on() -> None:
    assert default_region("Эта", "http://localhost:8000/", max_enabled=False,
                          esia_enabled=True) == Region("Эта", "http://localhost:8000",
                                                       (Service.signing, Service.esia))
    assert default_region("Эта", "http://h", max_enabled=True, esia_enabled=False).services \
        == (Service.signing, Service.max)


def test_a_choice_is_found_by_its_address() -> None:
    regions = parse_regions([TULA, OREL])
    assert find(regions, "https://medsign.tula.example/") == regions[0]
    assert find(regions, "https://gone.example") is None and find(regions, None) is None


HERE = Region("Здесь", "https://here.example")
THERE = Region("Там", "https://there.example")


@pytest.mark.parametrize(("chosen", "patient", "device", "target"), [
    (None, True, True, "/app/region"),
    (THERE, True, True, "https://there.example/app/?region=https%3A%2F%2Fthere.example"),
    (HERE, True, True, "/app/home"),
    (HERE, False, True, "/app/unlock"),
    (HERE, False, False, "/app/login"),
])
def test_where_the_app_starts(chosen: Region | None, patient: bool, device: bool,
                              target: str) -> None:
    assert start_screen(chosen=chosen, here=HERE, patient=patient, device=device) == target


def test_an_installation_missing_from_its_own_list_sends_to_the_chosen_one() -> None:
    assert start_screen(chosen=THERE, here=None, patient=False, device=False).startswith(
        "https://there.example/app/")
