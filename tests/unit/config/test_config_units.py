from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsign.config import format_duration, format_size, parse_duration, parse_size


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


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "99999999999d", 10**20])
def test_absurd_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="длительность"):
        parse_duration(bad)
