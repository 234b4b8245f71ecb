"""How the console words an audit record: actions and actors a person can read."""

from __future__ import annotations

import pytest

from medsign.accounts.actors import describe
from medsign.domain.audit import ACTION_TITLES, action_title


@pytest.mark.parametrize(("action", "words"), [
    ("staff_user.created", "сотрудник добавлен"),
    ("web.login", "вход"),
    ("web.login_wrong", "неудачный вход"),
    ("something.new", "something.new"),  # nobody named it yet: shown as stored
])
def test_actions_read_in_words(action: str, words: str) -> None:
    assert action_title(action) == words


def test_every_named_action_is_russian() -> None:
    assert all(not title.isascii() for title in ACTION_TITLES.values())


@pytest.mark.parametrize(("actor", "words"), [
    ("system:signing", "система (подписание)"),
    ("system", "система"),
    ("api:mis-main", "МИС (ключ API «mis-main»)"),
    ("max:42", "пациент в MAX"),
    ("portal:pat1", "пациент на портале"),
    ("web:gone", "сотрудник gone"),  # a login without an account is still shown
    ("something", "something"),
])
def test_actors_read_in_words(actor: str, words: str) -> None:
    assert describe(actor) == words
