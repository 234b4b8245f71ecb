"""Legal requisites of a medical organisation: ОГРН, ИНН, КПП and their check digits.

The reference check digits below are computed independently of the code under
test, from the published definitions (ФНС): ОГРН — the first 12 digits modulo
11, last digit of the remainder; ОГРНИП — first 14 digits modulo 13; ИНН —
weighted sums modulo 11, last digit of the remainder.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from medsign.domain.errors import DomainError
from medsign.domain.organizations import Requisites, validate_inn, validate_kpp, validate_ogrn

DIGITS = "0123456789"


def ogrn_check(body: str) -> str:
    return str(int(body) % 11)[-1]


def ogrnip_check(body: str) -> str:
    return str(int(body) % 13)[-1]


def inn_check(body: str, weights: list[int]) -> str:
    return str(sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11)[-1]


def inn10(body: str) -> str:
    return body + inn_check(body, [2, 4, 10, 3, 5, 9, 4, 6, 8])


def inn12(body: str) -> str:
    first = body + inn_check(body, [7, 2, 4, 10, 3, 5, 9, 4, 6, 8])
    return first + inn_check(first, [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8])


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=n, max_size=n)


valid_ogrns = st.one_of(
    digits(12).map(lambda b: b + ogrn_check(b)),
    digits(14).map(lambda b: b + ogrnip_check(b)),
)
valid_inns = st.one_of(digits(9).map(inn10), digits(10).map(inn12))


def is_valid_reference(number: str) -> bool:
    """The test's own opinion of any ОГРН/ОГРНИП/ИНН of the right length."""
    n = len(number)
    if n in (13, 15):
        body, check = number[:-1], number[-1]
        return check == (ogrn_check(body) if n == 13 else ogrnip_check(body))
    return number == (inn10(number[:9]) if n == 10 else inn12(number[:10]))


def change_digit(number: str, position: int, shift: int) -> str:
    position %= len(number)
    new = str((int(number[position]) + shift) % 10)
    return number[:position] + new + number[position + 1 :]


def rejects(validate: Callable[[str], str], value: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        validate(value)
    return caught.value


# --- real numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("ogrn", ["1027700132195", "1027739609391", "304500116000157"])
def test_real_ogrn_and_ogrnip_are_accepted(ogrn: str) -> None:
    assert validate_ogrn(ogrn) == ogrn


@pytest.mark.parametrize("inn", ["7707083893", "7702070139", "500100732259"])
def test_real_inns_of_organisations_and_people_are_accepted(inn: str) -> None:
    assert validate_inn(inn) == inn


# --- generated numbers ---------------------------------------------------------------------


@settings(database=None)
@given(ogrn=valid_ogrns)
def test_an_ogrn_with_the_right_check_digit_is_accepted(ogrn: str) -> None:
    assert validate_ogrn(ogrn) == ogrn


@settings(database=None)
@given(inn=valid_inns)
def test_an_inn_with_the_right_check_digits_is_accepted(inn: str) -> None:
    assert validate_inn(inn) == inn


@settings(database=None)
@given(ogrn=valid_ogrns, shift=st.integers(1, 9))
def test_an_ogrn_with_a_wrong_check_digit_is_refused(ogrn: str, shift: int) -> None:
    error = rejects(validate_ogrn, change_digit(ogrn, -1, shift))
    assert (error.code, error.field) == ("invalid_ogrn", "ogrn")
    assert "Контрольная цифра" in error.message


@settings(database=None)
@given(inn=valid_inns, shift=st.integers(1, 9))
def test_an_inn_with_a_wrong_last_check_digit_is_refused(inn: str, shift: int) -> None:
    error = rejects(validate_inn, change_digit(inn, -1, shift))
    assert (error.code, error.field) == ("invalid_inn", "inn")


@settings(database=None)
@given(ogrn=valid_ogrns, position=st.integers(0, 13), shift=st.integers(1, 9))
def test_a_typo_in_an_ogrn_is_refused_whenever_the_check_digit_catches_it(
    ogrn: str, position: int, shift: int
) -> None:
    typo = change_digit(ogrn, position, shift)
    # Remainders 0 and 10 share the check digit 0, so a few typos are undetectable.
    assume(not is_valid_reference(typo))
    assert rejects(validate_ogrn, typo).code == "invalid_ogrn"


@settings(database=None)
@given(inn=valid_inns, position=st.integers(0, 11), shift=st.integers(1, 9))
def test_a_typo_in_an_inn_is_refused_whenever_the_check_digits_catch_it(
    inn: str, position: int, shift: int
) -> None:
    typo = change_digit(inn, position, shift)
    assume(not is_valid_reference(typo))
    assert rejects(validate_inn, typo).code == "invalid_inn"


@settings(database=None)
@given(number=st.one_of(digits(10), digits(12), digits(13), digits(15)))
def test_the_validators_agree_with_the_reference_on_any_digits(number: str) -> None:
    validate = validate_inn if len(number) in (10, 12) else validate_ogrn
    try:
        validate(number)
        accepted = True
    except DomainError:
        accepted = False
    assert accepted == is_valid_reference(number)


@pytest.mark.parametrize("ogrn", ["", "102770013219", "10277001321950", "1027700132195 ", "ОГРН"])
def test_an_ogrn_of_the_wrong_shape_is_refused_with_the_expected_length(ogrn: str) -> None:
    assert "13 цифр" in rejects(validate_ogrn, ogrn).message


@pytest.mark.parametrize("inn", ["", "770708389", "77070838931", "7707O83893"])
def test_an_inn_of_the_wrong_shape_is_refused_with_the_expected_length(inn: str) -> None:
    assert "10 цифр" in rejects(validate_inn, inn).message


# --- КПП -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kpp", ["773601001", "7736AB001", "77360A001"])
def test_a_kpp_is_four_digits_two_digits_or_latin_capitals_and_three_digits(kpp: str) -> None:
    assert validate_kpp(kpp) == kpp


@pytest.mark.parametrize(
    "kpp", ["", "77360100", "7736010011", "7736ab001", "7736АБ001", "A73601001"]
)
def test_any_other_kpp_is_refused(kpp: str) -> None:
    error = rejects(validate_kpp, kpp)
    assert (error.code, error.field) == ("invalid_kpp", "kpp")


# --- the set -------------------------------------------------------------------------------


def test_requisites_are_validated_as_a_whole_on_creation() -> None:
    requisites = Requisites(
        "ГБУЗ «Городская поликлиника № 1»",
        "г. Москва, ул. Ленина, 1",
        "1027700132195",
        "7707083893",
        "773601001",
    )
    assert requisites.inn == "7707083893"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("name", " ", "required"),
        ("address", "", "required"),
        ("ogrn", "1027700132196", "invalid_ogrn"),
        ("inn", "7707083894", "invalid_inn"),
        ("kpp", "77360100", "invalid_kpp"),
    ],
)
def test_requisites_with_one_bad_field_name_that_field(field: str, value: str, code: str) -> None:
    good = {
        "name": "ГБУЗ ГП № 1",
        "address": "Москва",
        "ogrn": "1027700132195",
        "inn": "7707083893",
        "kpp": "773601001",
    }
    with pytest.raises(DomainError) as caught:
        Requisites(**{**good, field: value})
    assert (caught.value.code, caught.value.field) == (code, field)
