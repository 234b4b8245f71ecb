"""The rules of patient accounts (``domain.patient_accounts``) and the reset mail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from medsign.domain.errors import DomainError
from medsign.domain.identity import RecordIdentity, same_person
from medsign.domain.patient_accounts import (
    PersonDetails,
    normalize_email,
    normalize_login,
    person_identity,
    reset_link_refusal,
)
from medsign.mail.outbox import Mail, mask_address, message

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
RECORD = RecordIdentity(last_name="Иванова", first_name="Алёна", middle_name=None,
                        birth_date=date(1985, 3, 14), snils=None, phone="+79990000001")


def details(**changes: object) -> PersonDetails:
    base: dict[str, object] = dict(last_name="ИВАНОВА", first_name="алена", middle_name="",
                                   birth_date=date(1985, 3, 14), snils="",
                                   phone="8 (999) 000-00-01")
    base.update(changes)
    return PersonDetails(**base)  # type: ignore[arg-type]


def test_logins_are_folded_and_never_look_like_an_email() -> None:
    assert normalize_login("  Ivanova.M ") == "ivanova.m"
    for bad in ("a", "ivanova@example.org", "иванова", "-x", "a" * 65):
        with pytest.raises(DomainError):
            normalize_login(bad)


def test_emails_are_folded_and_checked() -> None:
    assert normalize_email(" Ivanova@Example.ORG ") == "ivanova@example.org"
    assert normalize_email("") is None and normalize_email(None) is None
    for bad in ("ivanova", "ivanova@example", "a b@example.org", "a@@example.org",
                "x" * 250 + "@example.org"):
        with pytest.raises(DomainError):
            normalize_email(bad)


def test_the_administrators_details_match_by_the_esia_rule() -> None:
    who = person_identity(details())
    assert who.trusted and who.verified_phone == "+79990000001" and who.middle_name is None
    assert same_person(RECORD, who)
    assert not same_person(RECORD, person_identity(details(phone="+79990000002")))
    assert not same_person(RECORD, person_identity(details(birth_date=date(1985, 3, 15))))
    # a record with a СНИЛС is matched by it alone
    with_snils = RecordIdentity(**{**RECORD.__dict__, "snils": "11223344595"})
    assert same_person(with_snils, person_identity(details(snils="112-233-445 95",
                                                           last_name="Петрова")))
    assert not same_person(with_snils, person_identity(details()))


def test_details_without_snils_or_phone_or_birth_date_are_refused() -> None:
    with pytest.raises(DomainError, match="СНИЛС или подтверждённый"):
        person_identity(details(phone=""))
    with pytest.raises(DomainError, match="дату рождения"):
        person_identity(details(birth_date=None))
    with pytest.raises(DomainError, match="фамилию и имя"):
        person_identity(details(first_name=" "))
    with pytest.raises(DomainError):
        person_identity(details(snils="123-456-789 00"))  # a wrong check number


def refusal(*, used: bool = False, disabled: bool = False,
            at: datetime = NOW) -> str | None:
    return reset_link_refusal(expires_at=NOW + timedelta(hours=1),
                              used_at=NOW if used else None, account_disabled=disabled, now=at)


def test_a_reset_link_works_once_until_it_expires_for_an_active_account() -> None:
    assert refusal() is None
    assert refusal(at=NOW + timedelta(minutes=59)) is None
    assert "использована" in (refusal(used=True) or "")
    assert "истёк" in (refusal(at=NOW + timedelta(hours=1)) or "")
    assert "отключена" in (refusal(disabled=True) or "")


def test_the_message_keeps_its_id_across_sends() -> None:
    mail = Mail.from_data(Mail("ivanova@example.org", "Тема", "Текст со ссылкой").as_data())
    first = message(mail, sender="Портал <noreply@example.ru>", now=NOW)
    second = message(mail, sender="Портал <noreply@example.ru>", now=NOW + timedelta(minutes=3))
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].endswith("@example.ru>")
    assert first.get_content().strip() == "Текст со ссылкой"
    other = Mail.from_data(Mail("ivanova@example.org", "Тема", "Текст").as_data())
    assert message(other, sender="noreply@example.ru", now=NOW)["Message-ID"] != \
        first["Message-ID"]
    assert mask_address("ivanova@example.org") == "i***@example.org"
    assert mask_address("broken") == "***"
