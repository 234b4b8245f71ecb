"""СНИЛС: the check digits, the accepted spellings, and what is refused."""

from __future__ import annotations

import pytest

from medsign.domain.errors import DomainError
from medsign.domain.snils import (
    check_digits,
    format_snils,
    mask_snils,
    normalize_snils,
    snils_digits,
)


@pytest.mark.parametrize(("number", "check"), [
    ("112233445", 95),  # Σ digit × (9 … 1) = 95 < 100: the sum itself
    ("142006408", 99),  # Σ = 99
    ("206130059", 0),  # Σ = 100: written 00
    ("100356259", 0),  # Σ = 101: written 00
    ("127101074", 1),  # Σ = 102: 102 mod 101
    ("123456789", 64),  # Σ = 165: 165 mod 101
    ("145678912", 8),  # Σ = 210: 210 mod 101 = 8, written 08
    ("544544369", 0),  # Σ = 201: 201 mod 101 = 100, written 00
])
def test_the_check_digits_follow_the_official_algorithm(number: str, check: int) -> None:
    assert check_digits(number) == check


@pytest.mark.parametrize("raw", ["112-233-445 95", "112-233-445-95", "11223344595",
                                 "  112-233-445 95 ", "112233445 95"])
def test_accepted_spellings_are_stored_as_eleven_digits(raw: str) -> None:
    assert normalize_snils(raw) == "11223344595"


def test_a_sum_of_a_hundred_is_accepted_only_as_00() -> None:
    assert normalize_snils("206-130-059 00") == "20613005900"
    with pytest.raises(DomainError):
        normalize_snils("206-130-059 100")
    with pytest.raises(DomainError):
        normalize_snils("206-130-059 01")


@pytest.mark.parametrize("raw", ["001-001-998 00", "001-001-998 47", "000-000-001 99",
                                 "001-000-000 00"])
def test_numbers_up_to_001_001_998_have_no_check_rule(raw: str) -> None:
    assert normalize_snils(raw) == "".join(ch for ch in raw if ch.isdigit())


def test_the_first_number_after_the_unchecked_range_is_checked() -> None:
    right = check_digits("001001999")
    assert normalize_snils(f"001-001-999 {right:02d}") == f"001001999{right:02d}"
    with pytest.raises(DomainError) as caught:
        normalize_snils(f"001-001-999 {(right + 1) % 100:02d}")
    assert caught.value.code == "invalid_snils"


@pytest.mark.parametrize("raw", ["112-233-445 96", "11223344594", "123-456-789 00"])
def test_a_wrong_check_number_is_refused_with_a_specific_message(raw: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalize_snils(raw)
    error = caught.value
    assert (error.code, error.field) == ("invalid_snils", "snils")
    assert "контрольного числа" in error.message


@pytest.mark.parametrize("raw", ["", "1122334459", "112233445950", "112-233-44595x",
                                 "112 233 445 95", "112/233/445 95", "СНИЛС 11223344595",
                                 "１１２２３３４４５９５", "000-000-000 00"])
def test_anything_but_the_two_spellings_is_refused(raw: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalize_snils(raw)
    assert caught.value.code == "invalid_snils" and "СНИЛС" in caught.value.message


def test_reading_what_esia_vouches_for_and_showing_it() -> None:
    assert snils_digits("145-678-912 08") == "14567891208"  # ESIA's word, no check here
    assert snils_digits(None) is None and snils_digits("12-34") is None
    assert format_snils("11223344595") == "112-233-445 95"
    assert mask_snils("11223344595") == "***-***-*** 95"
