from __future__ import annotations

import pytest

from medsign.accounts import passwords as pw


@pytest.mark.parametrize("password", ["Correct-Horse-42", "длинный пароль 2026", "x" * 10])
def test_ten_characters_that_are_not_the_login_nor_common_are_accepted(password: str) -> None:
    assert pw.problems(password, login="doctor", allow_demo=False) == []


def test_a_short_password_is_refused() -> None:
    assert pw.problems("Short-1", login="doctor", allow_demo=False) == [
        "пароль короче 10 символов"]


def test_the_login_itself_is_refused_whatever_its_case() -> None:
    assert "пароль совпадает с логином" in pw.problems(
        "Petrova.Anna", login="petrova.anna", allow_demo=False)


@pytest.mark.parametrize("password", ["1234567890", "QwertyUiop", "йцукенгшщз", "password123"])
def test_common_passwords_are_refused(password: str) -> None:
    assert "пароль из списка самых распространённых" in pw.problems(
        password, login="doctor", allow_demo=False)


def test_blank_and_huge_passwords_are_refused() -> None:
    assert "пароль состоит из одних пробелов" in pw.problems(" " * 12, login="a",
                                                             allow_demo=False)
    assert pw.problems("x" * (pw.MAX_LENGTH + 1), login="a", allow_demo=False)


def test_demo_is_allowed_only_in_the_demo_profile() -> None:
    assert pw.acceptable("demo", login="doctor", allow_demo=True)
    assert not pw.acceptable("demo", login="doctor", allow_demo=False)
    # the exception is for the demo password alone, not for short passwords in general
    assert not pw.acceptable("demo2", login="doctor", allow_demo=True)


def test_a_hash_verifies_its_password_only() -> None:
    stored = pw.hash_password("Correct-Horse-42")
    assert stored.startswith("$argon2id$")
    assert pw.verify(stored, "Correct-Horse-42")
    assert not pw.verify(stored, "Correct-Horse-43")


def test_an_unknown_user_never_verifies_but_still_costs_a_hash() -> None:
    assert not pw.verify(None, "anything at all")
    assert not pw.verify("not a hash", "anything at all")
