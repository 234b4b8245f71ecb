"""Phone numbers: every common Russian spelling becomes +7XXXXXXXXXX; nothing else passes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsign.domain.errors import DomainError
from medsign.domain.phones import mask_phone, normalize_phone

# Russian ten-digit numbers begin with 3, 4, 80-87 or 9 (6xx/7xx are Kazakhstan's).
national_numbers = st.one_of(
    st.tuples(st.sampled_from("349"), st.text("0123456789", min_size=9, max_size=9)),
    st.tuples(
        st.sampled_from(["80", "81", "82", "83", "84", "85", "86", "87"]),
        st.text("0123456789", min_size=8, max_size=8),
    ),
).map("".join)
separators = st.sampled_from(["", " ", "-", ".", " - ", "\u00a0"])


@st.composite
def spellings(draw: st.DrawFn, national: str) -> str:
    """One way a person might write ``national``: prefix, brackets, separators."""
    prefix = draw(st.sampled_from(["+7", "8", "7", ""]))
    area, rest = national[:3], national[3:]
    if draw(st.booleans()):
        area = f"({area})"
    sep = draw(separators)
    groups = [rest[:3], rest[3:5], rest[5:]]
    return f"{prefix}{draw(separators)}{area}{sep}{sep.join(groups)}"


@pytest.mark.parametrize(
    "raw",
    [
        "+7 (999) 123-45-67",
        "8 999 123 45 67",
        "89991234567",
        "79991234567",
        "9991234567",
        "+7.999.123.45.67",
        "  8(999)123-45-67  ",
    ],
)
def test_common_russian_spellings_of_one_number_normalize_to_the_same_form(raw: str) -> None:
    assert normalize_phone(raw) == "+79991234567"


@settings(database=None)
@given(data=st.data(), national=national_numbers)
def test_any_spelling_of_a_russian_number_normalizes_to_plus_seven_and_ten_digits(
    data: st.DataObject, national: str
) -> None:
    raw = data.draw(spellings(national))
    assert normalize_phone(raw) == "+7" + national


@settings(database=None)
@given(national=national_numbers)
def test_normalizing_is_idempotent(national: str) -> None:
    once = normalize_phone("8" + national)
    assert normalize_phone(once) == once


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", "не указан"),
        ("   ", "не указан"),
        ("+7 999 ABC-45-67", "недопустимые символы"),
        ("тел. 89991234567", "недопустимые символы"),
        ("+", "нет цифр"),
        ("7+9991234567", "только в начале"),
        ("+1 555 123 4567", "не российский"),
        ("+375 29 123 45 67", "не российский"),
        ("+44 20 7946 0958", "не российский"),
        ("+8 999 123 45 67", "не код страны"),
        ("8 999 123 45 6", "9 цифр, а нужно 10"),
        ("7 999 123 45 6", "9 цифр, а нужно 10"),
        ("8 999 123 45 678", "Цифр в номере: 12"),
        ("99912345678", "11 цифр должен начинаться"),
        ("999 123 45", "Цифр в номере: 8"),
        ("+7 999 123 45 678", "После +7 должно быть 10 цифр, а их 11"),
        ("+7 777 123 45 67", "«777»"),
        ("1234567890", "«123»"),
    ],
)
def test_anything_else_is_refused_with_a_message_saying_what_to_fix(raw: str, hint: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalize_phone(raw)
    assert caught.value.code == "invalid_phone"
    assert caught.value.field == "phone"
    assert hint in caught.value.message
    assert "+7 999 123-45-67" in caught.value.message  # always shows the expected form


@settings(database=None)
@given(
    national=national_numbers,
    letter=st.characters(categories=["Lu", "Ll"]),
    position=st.integers(min_value=0, max_value=10),
)
def test_a_letter_anywhere_makes_the_number_invalid(
    national: str, letter: str, position: int
) -> None:
    raw = national[:position] + letter + national[position:]
    with pytest.raises(DomainError, match="недопустимые символы"):
        normalize_phone(raw)


@settings(database=None)
@given(
    digits=st.text("0123456789", min_size=1, max_size=20).filter(lambda d: len(d) not in (10, 11))
)
def test_a_number_that_is_neither_ten_nor_eleven_digits_is_refused(digits: str) -> None:
    with pytest.raises(DomainError):
        normalize_phone(digits)


@settings(database=None)
@given(country=st.sampled_from("1234569"), rest=st.text("0123456789", min_size=10, max_size=12))
def test_a_country_code_other_than_plus_seven_is_refused(country: str, rest: str) -> None:
    with pytest.raises(DomainError, match="не российский"):
        normalize_phone(f"+{country}{rest}")


def test_a_masked_phone_keeps_only_the_last_four_digits() -> None:
    assert mask_phone("+79991234567") == "+7******4567"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("", ""),
        ("123", "***"),
        ("8 999 123-45-67", "*******4567"),
        ("+375291234567", "********4567"),
    ],
)
def test_masking_never_fails_and_never_shows_more_than_four_digits(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked
