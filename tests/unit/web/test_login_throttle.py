from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medsign.services.web_throttle import (
    PER_ADDRESS,
    PER_LOGIN,
    Count,
    Rule,
    after_failure,
    keys,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
RULE = Rule(limit=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))


def failures(n: int, *, every: timedelta = timedelta(minutes=1),
             start: Count | None = None, at: datetime = T0) -> tuple[Count, datetime]:
    count = start or Count()
    for i in range(n):
        at = T0 + every * i if start is None else at + every
        count = after_failure(count, RULE, at)
    return count, at


def test_four_failures_do_not_lock() -> None:
    count, at = failures(4)
    assert count.failures == 4 and not count.locked(at)


def test_the_fifth_failure_in_the_window_locks_for_the_lockout() -> None:
    count, at = failures(5)
    assert count.locked(at)
    assert count.locked_until == at + RULE.lockout
    assert not count.locked(at + RULE.lockout)


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    count, at = failures(12, every=timedelta(minutes=4))  # at most 4 in any 15 minutes
    assert not count.locked(at)


def test_failures_during_a_lock_do_not_extend_it() -> None:
    locked, at = failures(5)
    again = after_failure(locked, RULE, at + timedelta(minutes=10))
    assert again.locked_until == locked.locked_until


def test_after_a_lock_counting_starts_afresh() -> None:
    locked, at = failures(5)
    after = after_failure(locked, RULE, at + RULE.lockout)
    assert after.failures == 1 and not after.locked(at + RULE.lockout)


def test_an_address_gets_more_room_than_a_login() -> None:
    assert PER_LOGIN.limit == 5 and PER_ADDRESS.limit > PER_LOGIN.limit
    assert PER_LOGIN.window == PER_LOGIN.lockout == timedelta(minutes=15)


def test_a_login_is_throttled_whatever_its_case_and_spaces() -> None:
    one = keys(realm="staff", login=" Doctor ", address="10.0.0.1")
    two = keys(realm="staff", login="doctor", address="10.0.0.1")
    assert one == two
    assert [k.scope for k in one] == ["staff", "address"]
    assert keys(realm="portal", login="x", address=None)[0].scope == "portal"
