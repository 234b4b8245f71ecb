"""A doctor's id in the МИС on his account: who may carry one, what it may look like."""

from __future__ import annotations

import pytest

from medsign.accounts.staff import DOCTOR_ID_PATTERN


@pytest.mark.parametrize("value", ["d-7", "1024", "doc:42.a_b", "A" * 100])
def test_ids_as_the_api_takes_them(value: str) -> None:
    assert DOCTOR_ID_PATTERN.fullmatch(value)


@pytest.mark.parametrize("value", ["", "-d", "d 7", "врач1", "A" * 101, "d/7"])
def test_other_ids_are_refused(value: str) -> None:
    assert DOCTOR_ID_PATTERN.fullmatch(value) is None
