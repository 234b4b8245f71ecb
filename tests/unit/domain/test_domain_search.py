"""The console's one search box: what was typed is read as a name, a phone number, a СНИЛС
or an id — every reading that fits."""

from __future__ import annotations

import pytest

from medsign.domain.errors import DomainError
from medsign.domain.search import name_key, parse_search
from medsign.domain.snils import check_digits


def test_a_name_is_matched_in_lower_case_with_yo_as_ye() -> None:
    assert name_key("Ёлкина", "Пётр", None) == "елкина петр"
    assert name_key("  Иванова ", "Мария\tПетровна") == "иванова мария петровна"


@pytest.mark.parametrize("typed", ["Иванова", "иВАНова", "  ива  ", "Салтыков-Щедрин",
                                   "д'Артаньян", "Пётр Ёлкин"])
def test_letters_are_a_name(typed: str) -> None:
    query = parse_search(typed)
    assert query is not None and "name" in query.kinds
    assert query.phone is None and query.snils is None
    assert query.name_words == tuple(name_key(typed).split())


def test_two_words_are_two_parts_of_the_name_and_not_an_id() -> None:
    query = parse_search("мария иванова")
    assert query is not None and query.kinds == ("name",)
    assert query.name_words == ("мария", "иванова")


@pytest.mark.parametrize("typed", ["+7 (999) 123-45-67", "8 999 123 45 67", "89991234567",
                                   "9991234567", "+7.999.123.45.67"])
def test_any_spelling_of_a_phone_number_is_the_canonical_number(typed: str) -> None:
    query = parse_search(typed)
    assert query is not None and query.phone == "+79991234567"
    assert query.snils is None


@pytest.mark.parametrize("typed", ["112-233-445 95", "112-233-445-95", "11223344595"])
def test_any_spelling_of_a_snils_is_its_eleven_digits(typed: str) -> None:
    query = parse_search(typed)
    assert query is not None and query.snils == "11223344595" and query.phone is None


def test_a_snils_with_wrong_check_digits_is_not_a_snils() -> None:
    query = parse_search("112-233-445 96")
    assert query is not None and query.snils is None and query.kinds == ("identifier",)


def test_eleven_digits_can_be_both_a_phone_and_a_snils() -> None:
    digits = "79991234567"
    number = digits[:9]
    both = number + f"{check_digits(number):02d}"
    query = parse_search(both)
    assert query is not None and query.phone is not None and query.snils == both
    assert query.identifier == both


@pytest.mark.parametrize("typed", ["A-1234", "tx-42", "4f1c-9a", "12345"])
def test_anything_else_is_an_id_matched_exactly(typed: str) -> None:
    query = parse_search(typed)
    assert query is not None and query.kinds == ("identifier",) and query.identifier == typed


@pytest.mark.parametrize("typed", ["", "   ", "\t\n"])
def test_nothing_typed_is_no_search(typed: str) -> None:
    assert parse_search(typed) is None


def test_a_text_too_long_is_refused_with_a_reason() -> None:
    with pytest.raises(DomainError) as refused:
        parse_search("я" * 101)
    assert refused.value.code == "search_too_long" and "100" in refused.value.message
