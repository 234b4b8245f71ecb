"""Domain errors carry a stable code for machines and a Russian message for people."""

from __future__ import annotations

from medsign.domain.errors import DomainError, InvalidTransition


def test_a_domain_error_is_a_value_error_with_code_message_and_field() -> None:
    error = DomainError("invalid_phone", "Неверный номер.", "phone")
    assert isinstance(error, ValueError)
    assert (error.code, error.message, error.field, str(error)) == (
        "invalid_phone",
        "Неверный номер.",
        "phone",
        "Неверный номер.",
    )


def test_the_field_is_optional() -> None:
    assert DomainError("x", "Ошибка.").field is None


def test_an_invalid_transition_is_a_domain_error_with_its_own_code() -> None:
    error = InvalidTransition("Нельзя.", current="sent", target="new")
    assert isinstance(error, DomainError)
    assert (error.code, error.current, error.target) == ("invalid_transition", "sent", "new")
