"""How the evidence reads: times on the organisation's clock to the second, people in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medsign.domain.evidence import (
    StaffName,
    actor_words,
    local_iso,
    local_time,
    short_name,
    staff_logins,
)

MOMENT = datetime(2026, 12, 7, 7, 15, 3, 987654, tzinfo=UTC)
STAFF = {"petrov": StaffName("Петров Пётр Петрович", "doctor"),
         "ivanova": StaffName("Иванова Ирина Игоревна", "operator"),
         "root": StaffName("Смирнов Олег", "admin")}


@pytest.mark.parametrize(("zone", "expected"), [
    ("Europe/Moscow", "07.12.2026 10:15:03 (Москва, UTC+3)"),
    ("Europe/Kaliningrad", "07.12.2026 09:15:03 (Калининград, UTC+2)"),
    ("Asia/Yekaterinburg", "07.12.2026 12:15:03 (Екатеринбург, UTC+5)"),
    ("Asia/Kamchatka", "07.12.2026 19:15:03 (Камчатка, UTC+12)"),
    ("Asia/Kolkata", "07.12.2026 12:45:03 (Asia/Kolkata, UTC+5:30)"),
    ("America/New_York", "07.12.2026 02:15:03 (America/New_York, UTC−5)"),
    ("UTC", "07.12.2026 07:15:03 (UTC)"),
])
def test_a_time_is_shown_on_the_organisations_clock_to_the_second(zone: str,
                                                                  expected: str) -> None:
    assert local_time(MOMENT, zone) == expected


def test_the_machine_readable_time_keeps_the_offset_and_drops_the_microseconds() -> None:
    assert local_iso(MOMENT, "Asia/Vladivostok") == "2026-12-07T17:15:03+10:00"
    assert local_iso(None, "Europe/Moscow") is None


@pytest.mark.parametrize(("actor", "words"), [
    ("web:petrov", "врач Петров П. П."),
    ("staff:ivanova", "оператор Иванова И. И."),
    ("web:root", "администратор Смирнов О."),
    ("web:gone", "сотрудник (учётная запись gone)"),
    ("max:123456", "пациент в MAX"),
    ("portal:p1", "пациент на портале"),
    ("api:mis", "МИС клиники"),
    ("system:signing", "система"),
    ("system", "система"),
    ("cli", "система"),
])
def test_actors_are_named_in_words(actor: str, words: str) -> None:
    assert actor_words(actor, STAFF) == words


def test_short_names_keep_the_surname_and_initials() -> None:
    assert short_name("Петров  Пётр Петрович") == "Петров П. П."
    assert short_name("Иванова") == "Иванова"
    assert short_name("") == ""


def test_only_staff_actors_are_looked_up() -> None:
    assert staff_logins(["web:a", "staff:b", "api:mis", "max:1", "system:signing"]) == {"a", "b"}
