"""The console's alert badge counts up to 99 and then says so."""

from __future__ import annotations

import pytest

from medsign.web.console.identities import BADGE_MOST, badge_text


@pytest.mark.parametrize(("total", "said"), [(0, ""), (1, "1"), (BADGE_MOST, "99"),
                                             (BADGE_MOST + 1, "99+"), (300, "99+")])
def test_the_badge_says_the_count_up_to_its_most(total: int, said: str) -> None:
    assert badge_text(total) == said
