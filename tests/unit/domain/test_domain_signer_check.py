"""The signer is the patient: comparing the platform's signer with the patient record."""

from __future__ import annotations

from datetime import date

import pytest

from medsign.domain.signer_check import (
    Identity,
    SignerMismatch,
    differences,
    first_mismatch,
    normalize_name,
)

PATIENT = Identity("Фёдорова", "Анна-Мария", "Петровна", date(1985, 3, 14))


@pytest.mark.parametrize(("raw", "normal"), [
    ("Фёдорова", "федорова"),
    ("  ФЕДОРОВА  ", "федорова"),
    ("Анна  -  Мария", "анна-мария"),
    ("Анна–Мария", "анна-мария"),
    ("Мамед   оглы", "мамед оглы"),
    ("", ""),
    (None, ""),
])
def test_names_are_normalised_the_way_people_write_them(raw: str | None, normal: str) -> None:
    assert normalize_name(raw) == normal


@pytest.mark.parametrize("signer", [
    Identity("ФЁДОРОВА", "анна-мария", "петровна", date(1985, 3, 14)),
    Identity("Федорова ", " Анна - Мария", "Петровна", date(1985, 3, 14)),
    Identity("Фёдорова", "Анна-Мария", "Петровна", None),  # the XML has no birth date
])
def test_the_same_person_written_differently_matches(signer: Identity) -> None:
    assert differences(signer, PATIENT) == ()


def test_a_missing_middle_name_equals_only_a_missing_or_blank_one() -> None:
    without = Identity("Ахмедова", "Лейла", None, date(2001, 7, 30))
    assert differences(Identity("Ахмедова", "Лейла", "  ", date(2001, 7, 30)), without) == ()
    assert differences(Identity("Ахмедова", "Лейла", "Руслановна"), without) == ("отчество",)
    assert differences(without, Identity("Ахмедова", "Лейла", "Руслановна", date(2001, 7, 30))
                       ) == ("отчество",)


@pytest.mark.parametrize(("signer", "found"), [
    (Identity("Фёдоров", "Пётр", "Иванович", date(1960, 1, 2)),
     ("фамилия", "имя", "отчество", "дата рождения")),
    (Identity("Федорова", "Анна", "Петровна", date(1985, 3, 14)), ("имя",)),
    (Identity("Фёдорова", "Анна-Мария", "Петровна", date(1985, 3, 15)), ("дата рождения",)),
    (Identity("Федорова", "Анна-Мария", "Павловна"), ("отчество",)),
])
def test_a_different_person_is_told_apart_field_by_field(signer: Identity,
                                                          found: tuple[str, ...]) -> None:
    assert differences(signer, PATIENT) == found


def test_the_first_document_naming_someone_else_is_reported_with_both_sides() -> None:
    other = Identity("Иванов", "Иван", "Иванович", date(1950, 1, 1))
    mismatch = first_mismatch([("ИДС", PATIENT), ("Согласие на обработку", other)], PATIENT)
    assert mismatch == SignerMismatch("Согласие на обработку", other, PATIENT,
                                      ("фамилия", "имя", "отчество", "дата рождения"))
    assert first_mismatch([("ИДС", PATIENT)], PATIENT) is None


def test_a_mismatch_survives_a_round_trip_through_json_and_explains_itself() -> None:
    other = Identity("Иванов", "Иван", None, None)
    mismatch = SignerMismatch("ИДС", other, PATIENT, ("фамилия", "имя", "отчество"))
    assert SignerMismatch.from_json(mismatch.to_json()) == mismatch
    assert mismatch.reason == (
        "Подписант не совпадает с пациентом (фамилия, имя, отчество): в документах платформы "
        "— Иванов Иван, в карте пациента — Фёдорова Анна-Мария Петровна, 14.03.1985.")
