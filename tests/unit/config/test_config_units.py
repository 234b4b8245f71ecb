from datetime import time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsign.config import (
    QuietHours,
    format_duration,
    format_size,
    parse_duration,
    parse_quiet_hours,
    parse_size,
    parse_time_of_day,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("24h", 86400),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1H 30M", 5400),
        ("2d3h4m5s", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("0.5s", 0.5),
        ("90", 90),
        (90, 90),
        (1.5, 1.5),
        (0, 0),
    ],
)
def test_durations_accept_human_forms_and_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "abc", "5 minutes", "30ms", "1m1h", "-5s", -1, True, None])
def test_bad_durations_are_explained_in_russian(bad: object) -> None:
    with pytest.raises(ValueError, match="длительность"):
        parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**7))
def test_formatted_durations_parse_back(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_durations_format_in_the_shortest_form() -> None:
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(hours=48)) == "48h"
    assert format_duration(timedelta(0)) == "0s"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("20MiB", 20 * 1024**2),
        ("512KiB", 512 * 1024),
        ("1GiB", 1024**3),
        ("100B", 100),
        ("20 mib", 20 * 1024**2),
        ("4096", 4096),
        (4096, 4096),
        (4096.0, 4096),
    ],
)
def test_sizes_accept_binary_units_and_bytes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["20MB", "1.5MiB", "lots", "", -1, 1.5, False])
def test_bad_sizes_are_explained_in_russian(bad: object) -> None:
    with pytest.raises(ValueError, match="размер"):
        parse_size(bad)


@given(st.integers(min_value=0, max_value=2**40))
def test_formatted_sizes_parse_back(size: int) -> None:
    assert parse_size(format_size(size)) == size


def test_times_of_day_are_hh_mm() -> None:
    assert parse_time_of_day("09:05") == time(9, 5)
    for bad in ("9:05", "24:00", "12:60", "noon", 900):
        with pytest.raises(ValueError, match="ЧЧ:ММ"):
            parse_time_of_day(bad)


def test_quiet_hours_may_wrap_midnight() -> None:
    night = parse_quiet_hours("21:00-09:00")
    assert night.contains(time(23, 0)) and night.contains(time(8, 59))
    assert not night.contains(time(9, 0)) and not night.contains(time(20, 59))
    assert str(night) == "21:00-09:00"


def test_quiet_hours_within_a_day() -> None:
    lunch = parse_quiet_hours("13:00-14:00")
    assert lunch.contains(time(13, 30)) and not lunch.contains(time(14, 0))


def test_quiet_hours_with_equal_ends_are_none() -> None:
    none = parse_quiet_hours("00:00-00:00")
    assert none.is_empty
    assert not none.contains(time(0, 0)) and not none.contains(time(12, 0))


@pytest.mark.parametrize("bad", ["21:00", "21:00-", "21-09", "21:00-09:00-10:00", None])
def test_bad_quiet_hours_are_explained(bad: object) -> None:
    with pytest.raises(ValueError, match="ЧЧ:ММ-ЧЧ:ММ"):
        parse_quiet_hours(bad)


def test_quiet_hours_pass_through() -> None:
    value = QuietHours(time(22), time(7))
    assert parse_quiet_hours(value) is value


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "99999999999d", 10**20])
def test_absurd_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="длительность"):
        parse_duration(bad)
