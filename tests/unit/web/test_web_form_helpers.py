from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medsign.web.config import cookie_secure_for
from medsign.web.forms import day_range, decode_cursor, encode_cursor
from medsign.web.login.password import safe_next


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)", "doctor", ""])
def test_redirects_after_login_stay_on_the_site(target: str) -> None:
    assert safe_next(target, "/home") == "/home"


def test_a_local_path_with_a_query_is_kept() -> None:
    assert safe_next("/doctor?q=иванова", "/home") == "/doctor?q=иванова"


@pytest.mark.parametrize(("url", "profile", "secure"), [
    ("http://127.0.0.1:8000", "demo", False), ("http://localhost:8000", "development", False),
    ("http://127.0.0.1:8000", "production", True), ("http://clinic.local", "demo", True),
    ("https://medsign.example", "demo", True), ("https://medsign.example", "production", True),
])
def test_cookies_are_secure_except_on_plain_http_localhost(url: str, profile: str,
                                                          secure: bool) -> None:
    assert cookie_secure_for(url, profile) is secure


def test_a_day_is_read_in_the_given_time_zone() -> None:
    bounds = day_range("2026-03-10", "Europe/Moscow")
    assert bounds is not None
    assert bounds[0].astimezone(UTC) == datetime(2026, 3, 9, 21, 0, tzinfo=UTC)
    assert (bounds[1] - bounds[0]).days == 1
    assert day_range("10.03.2026", "Europe/Moscow") is None


@pytest.mark.parametrize("garbage", ["", "%%%", "bm90IGpzb24", "W10", "x" * 600])
def test_a_cursor_that_is_not_ours_means_the_first_page(garbage: str) -> None:
    assert decode_cursor(garbage) is None


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor({"b": 42})) == {"b": 42}
