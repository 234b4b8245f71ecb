"""Medical organisations: quiet hours in local time, time zone, document templates."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from medsign.domain.consents import ConsentKind
from medsign.domain.errors import DomainError
from medsign.domain.organizations import (
    NO_QUIET_HOURS,
    Organization,
    QuietHours,
    Requisites,
    parse_quiet_hours,
)

NIGHT = QuietHours(time(21, 0), time(9, 0))
LUNCH = QuietHours(time(13, 0), time(14, 0))
MSK = ZoneInfo("Europe/Moscow")


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=MSK)


def requisites() -> Requisites:
    return Requisites("ГБУЗ ГП № 1", "Москва", "1027700132195", "7707083893", "773601001")


# --- quiet hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "quiet"),
    [
        (time(22, 30), True),
        (time(0, 0), True),
        (time(8, 59), True),
        (time(9, 0), False),
        (time(12, 0), False),
        (time(21, 0), False),
        (time(21, 0, 1), True),
    ],
)
def test_quiet_hours_wrapping_midnight_cover_the_night_but_not_their_edges(
    t: time, quiet: bool
) -> None:
    assert NIGHT.contains(t) is quiet


@pytest.mark.parametrize(
    ("t", "quiet"), [(time(12, 59), False), (time(13, 30), True), (time(14, 0), False)]
)
def test_quiet_hours_within_one_day_cover_only_that_interval(t: time, quiet: bool) -> None:
    assert LUNCH.contains(t) is quiet


def test_equal_start_and_end_mean_no_quiet_hours_at_all() -> None:
    assert not any(NO_QUIET_HOURS.contains(time(h, m)) for h in range(24) for m in (0, 30))
    assert NO_QUIET_HOURS.next_allowed(msk(3, 3)) == msk(3, 3)


def test_quiet_hours_ignore_the_time_zone_attached_to_a_local_time() -> None:
    assert NIGHT.contains(time(23, 0, tzinfo=MSK))


def test_a_moment_outside_quiet_hours_is_allowed_as_is() -> None:
    assert NIGHT.next_allowed(msk(3, 15, 20)) == msk(3, 15, 20)
    assert NIGHT.previous_allowed(msk(3, 15, 20)) == msk(3, 15, 20)


def test_quiet_hours_wrapping_midnight_push_the_evening_to_the_next_morning() -> None:
    assert NIGHT.next_allowed(msk(3, 23, 15)) == msk(4, 9)


def test_quiet_hours_wrapping_midnight_push_the_small_hours_to_the_same_morning() -> None:
    assert NIGHT.next_allowed(msk(4, 2, 0)) == msk(4, 9)


def test_the_last_allowed_moment_before_the_small_hours_is_the_previous_evening() -> None:
    assert NIGHT.previous_allowed(msk(4, 2, 0)) == msk(3, 21)
    assert NIGHT.previous_allowed(msk(3, 23, 0)) == msk(3, 21)


def test_quiet_hours_within_a_day_push_to_their_end_and_pull_to_their_start() -> None:
    assert LUNCH.next_allowed(msk(3, 13, 20)) == msk(3, 14)
    assert LUNCH.previous_allowed(msk(3, 13, 20)) == msk(3, 13)


def test_next_allowed_keeps_the_time_zone_of_its_argument() -> None:
    assert NIGHT.next_allowed(msk(3, 23)).tzinfo is MSK


def test_quiet_hours_must_be_local_wall_times() -> None:
    with pytest.raises(DomainError) as caught:
        QuietHours(time(21, tzinfo=MSK), time(9))
    assert caught.value.code == "invalid_quiet_hours"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:00-09:00", NIGHT),
        (" 21:00 – 9:00 ", NIGHT),
        ("13:00-14:00", LUNCH),
        ("00:00-00:00", NO_QUIET_HOURS),
    ],
)
def test_quiet_hours_are_written_as_two_times_joined_by_a_dash(
    text: str, expected: QuietHours
) -> None:
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize("quiet", [NIGHT, LUNCH, NO_QUIET_HOURS, QuietHours(time(7, 5), time(7))])
def test_quiet_hours_are_shown_in_the_form_they_are_read_in(quiet: QuietHours) -> None:
    assert parse_quiet_hours(str(quiet)) == quiet
    assert str(NIGHT) == "21:00-09:00"


@pytest.mark.parametrize(
    "text", ["", "21-09", "21:00", "25:00-09:00", "21:60-09:00", "21:00/09:00"]
)
def test_unreadable_quiet_hours_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_quiet_hours(text)
    assert caught.value.code == "invalid_quiet_hours"
    assert "21:00-09:00" in caught.value.message


# --- organisation --------------------------------------------------------------------------


def test_an_organisation_lives_in_a_known_iana_time_zone() -> None:
    org = Organization("mo-1", requisites(), "Asia/Yekaterinburg", NIGHT)
    assert org.tz == ZoneInfo("Asia/Yekaterinburg")


@pytest.mark.parametrize("tz", ["", "Moscow", "MSK+2", "Europe/Moskva", "../etc/passwd", "Europe"])
def test_an_unknown_time_zone_is_refused(tz: str) -> None:
    with pytest.raises(DomainError) as caught:
        Organization("mo-1", requisites(), tz, NIGHT)
    assert (caught.value.code, caught.value.field) == ("invalid_timezone", "timezone")


def test_an_organisation_needs_a_code() -> None:
    with pytest.raises(DomainError) as caught:
        Organization(" ", requisites(), "Europe/Moscow")
    assert caught.value.field == "code"


def test_the_template_for_a_document_kind_is_the_configured_partner_template() -> None:
    org = Organization(
        "mo-1",
        requisites(),
        "Europe/Moscow",
        NIGHT,
        "dep-7",
        {ConsentKind.medical_intervention: "tpl-ids"},
    )
    assert org.template_for(ConsentKind.medical_intervention) == "tpl-ids"


@pytest.mark.parametrize("templates", [{}, {ConsentKind.personal_data: "  "}])
def test_a_document_kind_without_a_template_cannot_be_sent_for_signing(
    templates: dict[ConsentKind, str],
) -> None:
    org = Organization("mo-1", requisites(), "Europe/Moscow", NIGHT, None, templates)
    with pytest.raises(DomainError) as caught:
        org.template_for(ConsentKind.personal_data)
    assert caught.value.code == "template_not_configured"
    assert "Согласие на обработку персональных данных" in caught.value.message
