"""Patients: clean names, a plausible birth date, a normalized phone and СНИЛС."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from medsign.domain.errors import DomainError
from medsign.domain.patients import Patient

TODAY = date(2025, 6, 1)


def create(**overrides: Any) -> Patient:
    fields: dict[str, Any] = {
        "external_id": "p-1",
        "organization_code": "mo-1",
        "last_name": "Иванова",
        "first_name": "Анна",
        "middle_name": "Сергеевна",
        "birth_date": date(1980, 2, 29),
        "phone": "8 (999) 123-45-67",
        "today": TODAY,
    }
    return Patient.create(**{**fields, **overrides})


def refusal(**overrides: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        create(**overrides)
    return caught.value


def test_creating_a_patient_normalizes_the_phone() -> None:
    assert create().phone == "+79991234567"


def test_creating_a_patient_trims_names_and_treats_a_blank_middle_name_as_none() -> None:
    patient = create(last_name="  Петров ", first_name=" Иван", middle_name="  ")
    assert (patient.last_name, patient.first_name, patient.middle_name) == ("Петров", "Иван", None)


@pytest.mark.parametrize("phone", [None, "", "   "])
def test_a_patient_may_have_no_phone(phone: str | None) -> None:
    assert create(phone=phone).phone is None


def test_a_bad_phone_is_refused_at_creation() -> None:
    assert refusal(phone="+375 29 123 45 67").code == "invalid_phone"


@pytest.mark.parametrize("snils", [None, "", "  "])
def test_a_patient_may_have_no_snils(snils: str | None) -> None:
    assert create(snils=snils).snils is None


def test_creating_a_patient_stores_the_snils_as_eleven_digits() -> None:
    assert create(snils=" 112-233-445 95").snils == "11223344595"


def test_a_snils_with_a_wrong_check_number_is_refused_at_creation() -> None:
    error = refusal(snils="112-233-445 96")
    assert (error.code, error.field) == ("invalid_snils", "snils")


def test_a_stored_patient_keeps_its_snils_in_the_stored_form() -> None:
    with pytest.raises(DomainError):
        Patient(external_id="p", organization_code="mo", last_name="Иванова",
                first_name="Анна", middle_name=None, birth_date=date(1980, 1, 1), phone=None,
                max_user_id=None, snils="112-233-445 95")


def test_the_full_name_reads_last_first_middle() -> None:
    assert create().full_name == "Иванова Анна Сергеевна"
    assert create(middle_name=None).full_name == "Иванова Анна"


@pytest.mark.parametrize(
    "name", ["Салтыков-Щедрин", "д'Артаньян", "О’Коннор", "Мамед оглы", "Smith", "Ёлкина"]
)
def test_names_may_hold_cyrillic_or_latin_letters_hyphens_spaces_and_apostrophes(
    name: str,
) -> None:
    assert create(last_name=name).last_name == name


@pytest.mark.parametrize("name", ["Иванов2", "Иванов!", "-Иванов", "Иван--ов", "Ivanov_", "李"])
def test_names_with_other_characters_are_refused(name: str) -> None:
    error = refusal(first_name=name)
    assert (error.code, error.field) == ("invalid_name", "first_name")
    assert "Имя" in error.message


@pytest.mark.parametrize("field", ["last_name", "first_name"])
def test_last_and_first_names_are_required(field: str) -> None:
    error = refusal(**{field: "  "})
    assert (error.code, error.field) == ("required", field)


def test_a_birth_date_in_the_future_is_refused() -> None:
    error = refusal(birth_date=date(2025, 6, 2))
    assert (error.code, error.field) == ("invalid_birth_date", "birth_date")
    assert "в будущем" in error.message


def test_a_baby_born_today_is_a_patient() -> None:
    assert create(birth_date=TODAY).birth_date == TODAY


def test_a_birth_date_before_1900_is_refused() -> None:
    assert "1900" in refusal(birth_date=date(1899, 12, 31)).message
    assert create(birth_date=date(1900, 1, 1)).birth_date == date(1900, 1, 1)


def test_a_stored_patient_is_rebuilt_without_a_clock_but_still_checked() -> None:
    patient = Patient("p-1", "mo-1", "Иванова", "Анна", None, date(1980, 1, 1), None, 42)
    assert patient.reachable_in_max
    with pytest.raises(DomainError, match="\\+7XXXXXXXXXX"):
        Patient("p-1", "mo-1", "Иванова", "Анна", None, date(1980, 1, 1), "89991234567", None)


@pytest.mark.parametrize(
    ("max_user_id", "reachable", "expected"),
    [(None, True, False), (7, False, False), (7, True, True)],
)
def test_the_bot_can_write_only_to_a_linked_patient_who_has_not_blocked_it(
    max_user_id: int | None, reachable: bool, expected: bool
) -> None:
    patient = create(max_user_id=max_user_id, max_reachable=reachable)
    assert patient.reachable_in_max is expected


def test_a_max_user_id_must_be_positive() -> None:
    assert refusal(max_user_id=0).code == "invalid_max_user_id"
