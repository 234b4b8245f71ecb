"""``[quick_login]``: the defaults, the bounds, and WebAuthn's relying party checked when set
on purpose (a derived one at an IP address only turns biometrics off)."""

from pathlib import Path

import pytest

from medsign import bootstrap
from medsign.config import ConfigError, load_settings
from medsign.domain.app_devices import RelyingParty


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def keys_refused(env: dict[str, str]) -> set[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    return {problem.key for problem in caught.value.problems}


def test_the_defaults() -> None:
    q = load_settings(env={}).quick_login
    assert (q.enabled, q.pin_attempts, q.webauthn_rp_id, q.webauthn_origin) == (True, 5, "", "")
    assert q.challenge_ttl.total_seconds() == 120
    assert q.device_lifetime.days == 180


@pytest.mark.parametrize(("name", "value"), [
    ("PIN_ATTEMPTS", "0"), ("PIN_ATTEMPTS", "11"), ("CHALLENGE_TTL", "0s"),
    ("DEVICE_LIFETIME", "-1d"), ("WEBAUTHN_ORIGIN", "ftp://x"), ("WEBAUTHN_RP_ID", "a b"),
])
def test_values_out_of_bounds_are_refused(name: str, value: str) -> None:
    assert f"quick_login.{name.lower()}" in keys_refused({f"MEDSIGN_QUICK_LOGIN__{name}": value})


@pytest.mark.parametrize(("rp_id", "origin"), [
    ("127.0.0.1", ""),  # an IP address is never an RP ID
    ("example.ru", ""),  # not the host of server.public_url (127.0.0.1)
    ("example.ru", "https://portal.other.ru"),
])
def test_a_relying_party_browsers_would_refuse_is_refused(rp_id: str, origin: str) -> None:
    env = {"MEDSIGN_QUICK_LOGIN__WEBAUTHN_RP_ID": rp_id}
    if origin:
        env["MEDSIGN_QUICK_LOGIN__WEBAUTHN_ORIGIN"] = origin
    assert "quick_login.webauthn_rp_id" in keys_refused(env)


def test_localhost_for_a_stand_at_an_ip_address() -> None:
    q = load_settings(env={"MEDSIGN_QUICK_LOGIN__WEBAUTHN_RP_ID": "localhost",
                           "MEDSIGN_QUICK_LOGIN__WEBAUTHN_ORIGIN": "http://localhost:8000"})
    assert q.quick_login.webauthn_rp_id == "localhost"


@pytest.mark.parametrize(("env", "rp", "attempts"), [
    ({}, None, 5),  # http://127.0.0.1:8000: no biometrics, the PIN works
    ({"MEDSIGN_SERVER__PUBLIC_URL": "https://portal.example.ru",
      "MEDSIGN_QUICK_LOGIN__PIN_ATTEMPTS": "3"},
     RelyingParty("portal.example.ru", "https://portal.example.ru"), 3),
    ({"MEDSIGN_QUICK_LOGIN__WEBAUTHN_RP_ID": "localhost",
      "MEDSIGN_QUICK_LOGIN__WEBAUTHN_ORIGIN": "http://localhost:8000"},
     RelyingParty("localhost", "http://localhost:8000"), 5),
])
def test_what_the_pages_are_given(env: dict[str, str], rp: RelyingParty | None,
                                  attempts: int) -> None:
    with bootstrap.build(load_settings(env=env)) as container:
        rule = container.quick_login_rule()
        assert rule is not None and rule.pin_attempts == attempts
        assert container.relying_party() == rp


def test_switched_off_the_app_offers_the_password_only() -> None:
    with bootstrap.build(load_settings(env={"MEDSIGN_QUICK_LOGIN__ENABLED": "false"})) as built:
        assert built.quick_login_rule() is None and built.relying_party() is None
