"""The growing login delay and the client-address rule, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medsign.domain.login_limits import (
    PER_ACCOUNT,
    PER_ADDRESS,
    DelayRule,
    Failures,
    after_failure,
    attempts_per_day,
    client_address,
    parse_networks,
    wait_text,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
RULE = DelayRule(free=3, base=timedelta(seconds=2), cap=timedelta(minutes=15),
                 forget=timedelta(days=1))


def failed(n: int, *, every: timedelta = timedelta(seconds=1)) -> Failures:
    f = Failures()
    for i in range(n):
        f = after_failure(f, RULE, T0 + every * i)
    return f


def test_the_first_free_failures_cost_no_wait() -> None:
    f = failed(2)
    assert f.count == 2 and f.wait(RULE, f.last_at or T0) == timedelta(0)
    assert f.not_before(RULE) is None


def test_each_failure_after_the_free_ones_doubles_the_wait_up_to_the_cap() -> None:
    assert [RULE.delay(n).total_seconds() for n in range(3, 13)] == [
        2, 4, 8, 16, 32, 64, 128, 256, 512, 900]
    assert RULE.delay(10_000) == RULE.cap


def test_the_wait_runs_from_the_last_failure_and_ends() -> None:
    f = failed(4)
    last = f.last_at or T0
    assert f.not_before(RULE) == last + timedelta(seconds=4)
    assert f.wait(RULE, last + timedelta(seconds=1)) == timedelta(seconds=3)
    assert f.wait(RULE, last + timedelta(seconds=4)) == timedelta(0)  # not a lock


def test_a_count_left_alone_for_the_forget_period_starts_over() -> None:
    f = failed(10)
    again = after_failure(f, RULE, (f.last_at or T0) + RULE.forget)
    assert again.count == 1


def test_guessing_an_account_is_limited_to_about_a_hundred_tries_a_day() -> None:
    assert attempts_per_day(PER_ACCOUNT) == 108
    assert attempts_per_day(RULE) == 3 + 9 + (86400 - 1022) // 900
    assert PER_ADDRESS.free > PER_ACCOUNT.free  # a clinic behind one NAT gets more room


def test_the_wait_is_said_in_seconds_or_whole_minutes_rounded_up() -> None:
    assert wait_text(timedelta(seconds=0.2)) == "1 с"
    assert wait_text(timedelta(seconds=59)) == "59 с"
    assert wait_text(timedelta(seconds=61)) == "2 мин"
    assert wait_text(timedelta(minutes=15)) == "15 мин"


PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1", "::1"])


def test_without_trusted_proxies_the_peer_counts_whatever_the_header_says() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1"], ()) == "203.0.113.5"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1"], PROXIES) == "203.0.113.5"


def test_from_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() -> None:
    # The client wrote "1.2.3.4" itself; nginx appended the address it really saw.
    assert client_address("127.0.0.1", ["1.2.3.4, 198.51.100.7"], PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", ["1.2.3.4", "198.51.100.7, 10.1.1.1"],
                          PROXIES) == "198.51.100.7"
    assert client_address("::1", ["2001:db8::5"], PROXIES) == "2001:db8::5"


def test_garbage_in_the_header_stops_at_the_last_trusted_hop() -> None:
    assert client_address("127.0.0.1", ["nonsense, 10.0.0.9"], PROXIES) == "10.0.0.9"
    assert client_address("127.0.0.1", ["nonsense"], PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", [], PROXIES) == "127.0.0.1"


def test_networks_are_parsed_and_a_bad_one_is_named() -> None:
    assert [str(n) for n in parse_networks(["10.1.2.3/8", "::1"])] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="«nginx»"):
        parse_networks(["nginx"])
