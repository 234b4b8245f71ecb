"""Pieces of the ESIA emulator on their own: test people, token signing, the request checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medsign.integrations.esia.emulator import DEFAULT_PERSONS, EmulatorConfig, TestPerson
from medsign.integrations.esia.emulator.checks import (
    OAuthError,
    check_secret,
    check_state_format,
    check_timestamp,
    required,
)
from medsign.integrations.esia.emulator.model import InvalidPerson
from medsign.integrations.esia.emulator.tokens import TokenSigner
from medsign.integrations.esia.schemas import jwt_claims

ANNA = DEFAULT_PERSONS[0]
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_the_default_people_are_three_with_valid_snils() -> None:
    assert len(DEFAULT_PERSONS) == 3
    for person in DEFAULT_PERSONS:
        assert person.snils is not None and _snils_ok(person.snils)


def _snils_ok(snils: str) -> bool:
    digits = [int(c) for c in snils if c.isdigit()]
    total = sum(d * w for d, w in zip(digits[:9], range(9, 0, -1), strict=True))
    check = total if total < 100 else 0 if total in (100, 101) else total % 101
    return (0 if check == 100 else check) == digits[9] * 10 + digits[10]


def test_the_person_json_holds_only_what_the_scope_grants() -> None:
    narrow = ANNA.esia_json(frozenset({"openid", "fullname"}))
    assert narrow["lastName"] == "Иванова" and narrow["trusted"] is True
    assert "birthDate" not in narrow and "snils" not in narrow
    wide = ANNA.esia_json(frozenset({"fullname", "birthdate", "snils", "gender"}))
    assert (wide["birthDate"], wide["snils"], wide["gender"]) == (
        "14.03.1985", "112-233-445 95", "F")


def test_contacts_follow_the_scope_and_esias_phone_spelling() -> None:
    assert ANNA.contacts(frozenset({"fullname"})) == []
    mobile = ANNA.contacts(frozenset({"mobile"}))
    assert [(c["type"], c["value"]) for c in mobile] == [("MBT", "+7(916)1234567")]
    assert [c["type"] for c in ANNA.contacts(frozenset({"contacts"}))] == ["MBT", "EML"]
    assert DEFAULT_PERSONS[2].contacts(frozenset({"email"})) == []


def test_an_unverified_mobile_number_is_shown_as_not_verified() -> None:
    person = replace(ANNA, mobile_verified=False)
    [mobile, email] = person.contacts(frozenset({"contacts"}))
    assert (mobile["type"], mobile["vrfStu"]) == ("MBT", "NOT_VERIFIED")
    assert (email["type"], email["vrfStu"]) == ("EML", "VERIFIED")
    assert [c["vrfStu"] for c in ANNA.contacts(frozenset({"mobile"}))] == ["VERIFIED"]
    assert TestPerson.from_json(person.to_json()) == person
    with pytest.raises(InvalidPerson):
        TestPerson.from_json({**ANNA.to_json(), "mobile_verified": "no"})


def test_a_person_round_trips_through_the_control_apis_json() -> None:
    assert TestPerson.from_json(ANNA.to_json()) == ANNA
    minimal = TestPerson.from_json({"oid": "5", "last_name": "Ли", "first_name": "Ян",
                                    "birth_date": "2000-01-01", "gender": "M"})
    assert (minimal.middle_name, minimal.mobile, minimal.trusted) == (None, None, True)


@pytest.mark.parametrize("change", [
    {"oid": "abc"}, {"gender": "X"}, {"snils": "11223344595"}, {"mobile": "89161234567"},
    {"email": "nobody"}, {"last_name": " "}, {"trusted": "yes"}, {"birth_date": "14.03.1985"},
    {"first_name": None},
])
def test_an_invalid_person_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(InvalidPerson):
        TestPerson.from_json({**ANNA.to_json(), **change})


def test_tokens_are_signed_and_an_altered_one_fails(tmp_path: Path) -> None:
    signer = TokenSigner.load_or_create(None)
    token = signer.make({"urn:esia:sbj_id": 1, "scope": "openid"}, kind="access")
    assert signer.verify(token) == jwt_claims(token) == {"urn:esia:sbj_id": 1,
                                                         "scope": "openid"}
    header, payload, signature = token.split(".")
    assert jwt_claims(f"{header}.{payload}.{signature}")["scope"] == "openid"
    for broken in (f"{header}.{payload}", f"{header}.{payload}.AAAA", f"{header}.e30.{signature}",
                   "a.b.c", "ж.ж.ж"):
        assert signer.verify(broken) is None, broken
    assert TokenSigner.load_or_create(None).verify(token) is None


def test_the_signing_key_survives_in_the_state_dir(tmp_path: Path) -> None:
    token = TokenSigner.load_or_create(tmp_path).make({"a": 1}, kind="id")
    assert TokenSigner.load_or_create(tmp_path).verify(token) == {"a": 1}


def test_required_names_the_first_missing_parameter() -> None:
    assert required({"a": " 1 ", "b": "2"}, "a", "b") == {"a": "1", "b": "2"}
    with pytest.raises(OAuthError) as caught:
        required({"a": "1", "b": " "}, "a", "b", "c")
    assert caught.value.error == "invalid_request" and "«b»" in caught.value.description


@pytest.mark.parametrize("timestamp, ok", [
    ("2026.01.15 12:04:59 +0300", True), ("2026.01.15 09:00:00 +0000", True),
    ("2026.01.15 12:05:01 +0300", False), ("2026.01.15 08:54:59 +0000", False),
    ("2026-01-15 09:00:00 +0000", False), ("2026.01.15 09:00:00", False),
])
def test_the_timestamp_must_be_esias_format_and_close_to_now(timestamp: str, ok: bool) -> None:
    if ok:
        check_timestamp(timestamp, now=NOW, skew_s=300)
        return
    with pytest.raises(OAuthError, match="invalid_request"):
        check_timestamp(timestamp, now=NOW, skew_s=300)


def test_state_must_be_a_uuid() -> None:
    check_state_format("0b3c9cfa-2f2c-4f6b-9f8e-0e7c1f1d2a3b")
    with pytest.raises(OAuthError):
        check_state_format("0b3c9cfa2f2c4f6b9f8e0e7c1f1d2a3b")


def test_a_secret_that_is_no_signature_raises_the_configured_error() -> None:
    with pytest.raises(OAuthError) as caught:
        check_secret("%%%", scope="openid", timestamp="t", client_id="c", state="s",
                     trust=None, now=NOW, error="access_denied")
    assert caught.value.error == "access_denied" and "ESIA-007053" in caught.value.description


def test_the_config_refuses_what_cannot_work() -> None:
    for bad in ({"client_id": ""}, {"redirect_urls": ()}, {"redirect_match": "regex"}):
        with pytest.raises(ValueError):
            EmulatorConfig(**{"client_id": "MEDSIGN", "redirect_urls": ("https://p/",),
                              **bad})  # type: ignore[arg-type]


def test_prefix_matching_of_redirect_urls() -> None:
    config = EmulatorConfig(client_id="M", redirect_urls=("https://portal.test/esia/",),
                            redirect_match="prefix")
    assert config.redirect_allowed("https://portal.test/esia/callback?next=/")
    assert not config.redirect_allowed("https://portal.test/other")
    exact = EmulatorConfig(client_id="M", redirect_urls=("https://portal.test/esia/",))
    assert not exact.redirect_allowed("https://portal.test/esia/callback")

