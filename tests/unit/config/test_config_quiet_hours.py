"""``notifications.default_quiet_hours`` is the domain's QuietHours, read by the domain's parser:
one type and one rule for the window's edges, whether the hours come from the file or the МИС."""

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from medsign.config import ConfigError, describe_settings, load_settings
from medsign.domain.organizations import QuietHours, parse_quiet_hours

VARIABLE = "MEDSIGN_NOTIFICATIONS__DEFAULT_QUIET_HOURS"
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def quiet_hours(text: str) -> QuietHours:
    return load_settings(env={VARIABLE: text}).notifications.default_quiet_hours


def test_the_default_is_the_domains_quiet_hours_from_nine_pm_to_nine_am() -> None:
    default = load_settings(env={}).notifications.default_quiet_hours
    assert type(default) is QuietHours
    assert default == QuietHours(time(21), time(9))


def test_both_edges_of_the_window_are_allowed_moments() -> None:
    night = quiet_hours("21:00-09:00")
    assert not night.contains(time(21, 0)) and night.contains(time(21, 0, 1))
    assert night.contains(time(8, 59, 59)) and not night.contains(time(9, 0))
    # so the edges are the answers: the last moment before the night, the first after it
    assert night.previous_allowed(datetime(2026, 3, 3, 23, tzinfo=MSK)) == \
        datetime(2026, 3, 3, 21, tzinfo=MSK)
    assert night.next_allowed(datetime(2026, 3, 3, 23, tzinfo=MSK)) == \
        datetime(2026, 3, 4, 9, tzinfo=MSK)


def test_the_configured_and_the_organisations_quiet_hours_are_equal_for_equal_text() -> None:
    for text in ("21:00-09:00", "13:00-14:00", "00:00-00:00"):
        assert quiet_hours(text) == parse_quiet_hours(text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("22:00-07:00", "22:00-07:00"), ("9:00 – 13:30", "09:00-13:30"),
     ("00:00-00:00", "00:00-00:00")],
)
def test_the_forms_the_domain_accepts_are_accepted_and_shown_canonically(
    text: str, shown: str
) -> None:
    settings = load_settings(env={VARIABLE: text})
    assert dict(describe_settings(settings))["notifications.default_quiet_hours"] == shown


@pytest.mark.parametrize(
    "bad", ["21:00", "21:00-", "21-09", "21:00-09:00-10:00", "24:00-09:00", "12:60-13:00", "noon"]
)
def test_bad_quiet_hours_are_explained(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={VARIABLE: bad})
    (problem,) = caught.value.problems
    assert problem.key == "notifications.default_quiet_hours" and problem.value == bad
    assert "ЧЧ:ММ-ЧЧ:ММ" in problem.expected and problem.source == VARIABLE


def test_quiet_hours_that_are_not_text_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[notifications]\ndefault_quiet_hours = 2100\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    (problem,) = caught.value.problems
    assert problem.value == "2100" and "ЧЧ:ММ-ЧЧ:ММ" in problem.expected
