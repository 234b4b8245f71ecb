"""The rules of quick login in the app: the PIN's form, the attempts before a device is
unbound, a device's life, the signed message and WebAuthn's relying party."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medsign.domain.app_devices import (
    PIN_MISMATCH,
    RULE,
    UNBOUND,
    BoundDevice,
    QuickLoginRule,
    challenge_expires,
    pin_problem,
    relying_party,
    relying_party_problem,
    signed_message,
    unbinds_after,
    wrong_pin_text,
)

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("pin", ["0000", "1234", "9870"])
def test_four_digits_make_a_pin(pin: str) -> None:
    assert pin_problem(pin) is None


@pytest.mark.parametrize("pin", ["", "123", "12345", "12a4", " 123", "１２３４", "12.4", "1234\n"])
def test_anything_else_is_not_a_pin(pin: str) -> None:
    assert pin_problem(pin) == "PIN-код — это четыре цифры."


def test_the_mismatch_message_is_the_seeds() -> None:
    assert PIN_MISMATCH == "Неверный пароль. Попробуйте еще раз"


def test_the_last_allowed_wrong_pin_unbinds() -> None:
    rule = QuickLoginRule(pin_attempts=3)
    assert [unbinds_after(n, rule) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert not unbinds_after(4) and unbinds_after(5)  # the default: five


def test_a_device_is_live_until_it_expires_or_spends_its_attempts() -> None:
    later = NOW + timedelta(days=1)
    assert BoundDevice(0, later).live(NOW)
    assert BoundDevice(RULE.pin_attempts - 1, later).live(NOW)
    assert not BoundDevice(RULE.pin_attempts, later).live(NOW)
    assert not BoundDevice(0, NOW).live(NOW)
    assert BoundDevice(2, later).attempts_left() == 3
    assert BoundDevice(9, later).attempts_left() == 0


def test_wrong_pin_words() -> None:
    assert wrong_pin_text(2) == "Неверный PIN-код. Осталось попыток: 2."
    assert wrong_pin_text(0) == UNBOUND


def test_a_challenge_lives_its_ttl() -> None:
    assert challenge_expires(NOW, QuickLoginRule(challenge_ttl=timedelta(seconds=30))) == \
        NOW + timedelta(seconds=30)


def test_the_signed_message_binds_the_device_and_the_challenge() -> None:
    one = signed_message("d" * 22, "c" * 43)
    assert one == b"medsign quick login v1\n" + b"d" * 22 + b"\n" + b"c" * 43
    assert one != signed_message("e" * 22, "c" * 43)
    assert one != signed_message("d" * 22, "x" * 43)


@pytest.mark.parametrize(("public_url", "rp_id", "origin", "expected"), [
    ("https://portal.example.ru", "", "", ("portal.example.ru", "https://portal.example.ru")),
    ("http://localhost:8000/", "", "", ("localhost", "http://localhost:8000")),
    ("https://Portal.Example.ru/med", "example.ru", "",
     ("example.ru", "https://Portal.Example.ru")),
    ("http://127.0.0.1:8000", "localhost", "http://localhost:8000",
     ("localhost", "http://localhost:8000")),
])
def test_the_relying_party_comes_from_the_site_unless_configured(
        public_url: str, rp_id: str, origin: str, expected: tuple[str, str]) -> None:
    assert relying_party(public_url, rp_id, origin) == expected


@pytest.mark.parametrize(("rp_id", "origin", "ok"), [
    ("localhost", "http://localhost:8000", True),
    ("example.ru", "https://portal.example.ru", True),
    ("portal.example.ru", "https://portal.example.ru", True),
    ("127.0.0.1", "http://127.0.0.1:8000", False),  # browsers refuse an IP address
    ("::1", "http://[::1]:8000", False),
    ("other.ru", "https://portal.example.ru", False),
    ("ample.ru", "https://portal.example.ru", False),  # a suffix of the text, not a domain
    ("", "https://portal.example.ru", False),
])
def test_browsers_accept_only_the_origins_host_or_its_suffix(rp_id: str, origin: str,
                                                              ok: bool) -> None:
    assert (relying_party_problem(rp_id, origin) is None) is ok
