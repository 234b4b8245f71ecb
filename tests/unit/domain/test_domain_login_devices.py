"""Device tokens as plain objects: whom a token vouches for, and what a cookie holds."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from medsign.domain.login_devices import (
    DEVICE,
    TOKEN_BYTES,
    Device,
    DeviceRule,
    cookie_value,
    tokens_in,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
RULE = DeviceRule(lifetime=timedelta(days=90), failures=5, per_cookie=3)


def token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def device(*, failures: int = 0, expires_at: datetime = T0 + timedelta(days=1)) -> Device:
    return Device("staff", 7, failures, expires_at)


def test_a_token_vouches_for_its_own_account_in_its_own_realm_only() -> None:
    assert device().vouches_for("staff", 7, T0, RULE)
    assert not device().vouches_for("staff", 8, T0, RULE)
    assert not device().vouches_for("portal", 7, T0, RULE)  # portal account #7 is someone else


def test_an_expired_token_vouches_for_nobody() -> None:
    ends = T0 + timedelta(hours=1)
    assert device(expires_at=ends).vouches_for("staff", 7, ends - timedelta(seconds=1), RULE)
    assert not device(expires_at=ends).vouches_for("staff", 7, ends, RULE)
    assert not device(expires_at=ends).live(ends, RULE)


def test_a_token_that_used_up_its_failures_vouches_no_more() -> None:
    assert device(failures=RULE.failures - 1).vouches_for("staff", 7, T0, RULE)
    assert not device(failures=RULE.failures).vouches_for("staff", 7, T0, RULE)
    assert not device(failures=RULE.failures).live(T0, RULE)


def test_the_default_rule_is_ninety_days_and_five_wrong_passwords() -> None:
    assert (DEVICE.lifetime, DEVICE.failures) == (timedelta(days=90), 5)


def test_a_cookie_yields_its_well_formed_tokens_once_each_and_no_more_than_the_rule_keeps(
        ) -> None:
    a, b, c, d = (token() for _ in range(4))
    assert tokens_in(f"{a}.{b}", RULE) == (a, b)
    assert tokens_in(f"{a}.{a}.junk.{b}..{'=' * 43}", RULE) == (a, b)
    assert tokens_in(f"{a}.{b}.{c}.{d}", RULE) == (a, b, c)
    assert tokens_in(None, RULE) == tokens_in("", RULE) == ()
    assert tokens_in(f"{a}." + "x" * 2000, RULE) == ()  # not one of ours: not even split


def test_after_a_login_its_token_comes_first_and_the_oldest_falls_off() -> None:
    a, b, c, d = (token() for _ in range(4))
    assert cookie_value(a, [], RULE) == a
    assert cookie_value(c, [a, b], RULE) == f"{c}.{a}.{b}"
    assert cookie_value(d, [c, a, b], RULE) == f"{d}.{c}.{a}"
    assert cookie_value(a, [b, a], RULE) == f"{a}.{b}"
    assert tokens_in(cookie_value(d, [c, a, b], RULE), RULE) == (d, c, a)
