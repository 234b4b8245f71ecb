"""The rule that decides whether a Госуслуги account is the person of a patient record."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from medsign.domain.identity import EsiaIdentity, RecordIdentity, fold_name, same_person

SNILS = "11223344595"
RECORD = RecordIdentity(last_name="Иванова", first_name="Алёна", middle_name="Сергеевна",
                        birth_date=date(1985, 3, 14), snils=None, phone="+79161234567")
PERSON = EsiaIdentity(last_name="ИВАНОВА", first_name="Алена", middle_name="Сергеевна",
                      birth_date=date(1985, 3, 14), snils=SNILS, verified_phone="+79161234567",
                      trusted=True)


def test_without_snils_name_birth_date_and_verified_phone_together_match() -> None:
    assert same_person(RECORD, PERSON)


@pytest.mark.parametrize("change", [
    {"verified_phone": None},  # the number is not verified at ESIA (or absent)
    {"verified_phone": "+79160000000"},  # another number
    {"birth_date": date(1985, 3, 15)},
    {"birth_date": None},
    {"first_name": "Анна"},
    {"middle_name": None},
    {"trusted": False},
])
def test_a_namesake_without_every_proof_does_not_match(change: dict[str, object]) -> None:
    assert not same_person(RECORD, replace(PERSON, **change))  # type: ignore[arg-type]


def test_a_record_without_phone_cannot_be_matched_without_snils() -> None:
    assert not same_person(replace(RECORD, phone=None), replace(PERSON, verified_phone=None))


def test_snils_decides_when_the_record_has_it_whatever_the_spelling_of_the_name() -> None:
    record = replace(RECORD, snils=SNILS, last_name="Петрова", phone=None,
                     birth_date=date(1985, 3, 4))
    assert same_person(record, replace(PERSON, verified_phone=None))


def test_a_record_with_snils_refuses_another_snils_even_with_every_other_proof() -> None:
    assert not same_person(replace(RECORD, snils=SNILS), replace(PERSON, snils="12345678964"))


def test_a_record_with_snils_never_matches_an_account_without_it() -> None:
    assert not same_person(replace(RECORD, snils=SNILS), replace(PERSON, snils=None))


def test_an_unconfirmed_account_matches_nothing_even_by_snils() -> None:
    assert not same_person(replace(RECORD, snils=SNILS), replace(PERSON, trusted=False))


@pytest.mark.parametrize(("a", "b"), [
    (("ИВАНОВА", "Алёна", None), ("иванова", "алена", None)),
    (("Иванова ", " Алена", "Сергеевна"), ("Иванова", "Алена  ", "сергеевна")),
    (("Мамед  оглы", "Али", None), ("мамед оглы", "али", None)),
])
def test_names_are_compared_without_case_yo_and_spaces(a: tuple[str, str, str | None],
                                                       b: tuple[str, str, str | None]) -> None:
    assert fold_name(*a) == fold_name(*b)


def test_different_letters_are_different_names() -> None:
    assert fold_name("Иванова", "Анна", None) != fold_name("Иванова", "Алена", None)
