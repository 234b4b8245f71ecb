from datetime import UTC, datetime, timedelta

import pytest

from medsign.domain.signing_identity import IdentityState, by_validity

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=365)


@pytest.mark.parametrize(("now", "state", "days"), [
    (START - timedelta(seconds=1), IdentityState.not_yet_valid, 365),
    (START, IdentityState.ok, 365),
    (END - timedelta(days=31), IdentityState.ok, 31),
    (END - timedelta(days=30), IdentityState.expiring, 30),
    (END - timedelta(hours=1), IdentityState.expiring, 0),
    (END, IdentityState.expiring, 0),
    (END + timedelta(seconds=1), IdentityState.expired, -1),
])
def test_validity_period_gives_the_state_and_days_left(now: datetime, state: IdentityState,
                                                       days: int) -> None:
    assert by_validity(START, END, now=now) == (state, days)


def test_the_warning_period_is_configurable() -> None:
    assert by_validity(START, END, now=END - timedelta(days=50),
                       warning=timedelta(days=60))[0] is IdentityState.expiring


def test_only_a_certificate_in_force_is_usable() -> None:
    assert {s for s in IdentityState if s.usable} == {IdentityState.ok, IdentityState.expiring}
