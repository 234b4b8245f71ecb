"""A transaction needs an operator when it failed or stalled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medsign.domain.alerts import AlertKind, alert_of, stalled_before
from medsign.domain.signing import ACTIVE_STATES, SigningState

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PERIOD = timedelta(minutes=30)


def test_a_failed_request_alerts_whatever_its_age() -> None:
    assert alert_of(SigningState.failed, last_progress=NOW, scheduled=False, now=NOW,
                    stall_after=PERIOD) is AlertKind.failed


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_an_active_request_stalls_after_the_period_without_progress(state: SigningState) -> None:
    def alert(progress: datetime) -> AlertKind | None:
        return alert_of(state, last_progress=progress, scheduled=True, now=NOW,
                        stall_after=PERIOD)
    assert alert(NOW - PERIOD + timedelta(seconds=1)) is None
    assert alert(NOW - PERIOD) is None  # exactly the period: not yet
    assert alert(NOW - PERIOD - timedelta(seconds=1)) is AlertKind.stalled


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_an_active_request_nobody_will_run_has_stalled(state: SigningState) -> None:
    for progress in (None, NOW):
        assert alert_of(state, last_progress=progress, scheduled=False, now=NOW,
                        stall_after=PERIOD) is AlertKind.stalled


@pytest.mark.parametrize("state", sorted(set(SigningState) - ACTIVE_STATES - {SigningState.failed}))
def test_a_finished_or_stopped_request_raises_nothing(state: SigningState) -> None:
    assert alert_of(state, last_progress=None, scheduled=False, now=NOW,
                    stall_after=PERIOD) is None


def test_the_cutoff_is_the_period_before_now() -> None:
    assert stalled_before(NOW, PERIOD) == NOW - PERIOD
