"""The shared token buckets: the arithmetic as plain functions, then the limiter on a real
database — tokens taken in blocks, handed out at their moments, never more than the limit
across processes."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from medsign.db.models import RateBucketRow
from medsign.runner.ratelimit import (
    BucketState,
    Limit,
    RateLimiter,
    block_size,
    reserve_token,
    reserve_tokens,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_gives_its_burst_at_once_then_spaces_the_rest() -> None:
    state = BucketState(tokens=3, updated_at=0.0)
    state, waits = reserve_tokens(state, now=0.0, rate=2.0, burst=3, count=5)
    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0]
    assert state.tokens == -2
    # two seconds later the debt is paid and one token more is there
    state, wait = reserve_token(state, now=2.0, rate=2.0, burst=3)
    assert wait == 0.0 and state.tokens == 1.0


def test_refilling_stops_at_the_burst() -> None:
    state, wait = reserve_token(BucketState(tokens=0, updated_at=0.0), now=100.0, rate=5.0,
                                burst=4)
    assert wait == 0.0 and state.tokens == 3.0


@pytest.mark.parametrize(("rate", "burst", "expected"), [
    (30.0, 30, 3), (29.0, 10, 2), (2.0, 1, 1), (10.0, 10, 1), (100_000.0, 100_000, 16),
    (100.0, 4, 4)])
def test_a_block_is_what_the_bucket_refills_in_the_window(rate: float, burst: int,
                                                          expected: int) -> None:
    assert block_size(rate, burst, window=0.1, most=16) == expected


def bucket(engine: Engine, name: str) -> float:
    with engine.connect() as conn:
        return float(conn.execute(select(RateBucketRow.tokens)
                                  .where(RateBucketRow.name == name)).scalar_one())


def test_tokens_taken_ahead_are_handed_out_without_a_write(engine: Engine) -> None:
    clock = Clock()
    limiter = RateLimiter(engine, {"api": Limit(rate=30.0, burst=30)}, clock)
    assert limiter.reserve("api") == 0.0
    assert bucket(engine, "api") == 27  # a block of three
    assert [limiter.reserve("api"), limiter.reserve("api")] == [0.0, 0.0]
    assert bucket(engine, "api") == 27  # the two came from this process's block
    assert limiter.reserve("api") == 0.0
    assert bucket(engine, "api") == 24


def test_a_token_not_used_in_time_is_given_up(engine: Engine) -> None:
    clock = Clock()
    limiter = RateLimiter(engine, {"api": Limit(rate=30.0, burst=30)}, clock)
    limiter.reserve("api")
    clock.now += 0.5  # the two held tokens are stale now
    limiter.reserve("api")
    # a new block: 27 + 0.5 s × 30/s refilled (capped at 30) − 3
    assert bucket(engine, "api") == 27


def test_two_processes_sharing_a_bucket_never_exceed_the_rate(engine: Engine) -> None:
    clock = Clock()
    limits = {"api": Limit(rate=30.0, burst=3)}
    a, b = RateLimiter(engine, limits, clock), RateLimiter(engine, limits, clock)
    moments = []
    for i in range(300):  # both call as fast as they can, turn by turn
        limiter = a if i % 2 else b
        moments.append(clock.now + limiter.reserve("api"))
    moments.sort()
    # over any second, at most rate × 1 s + burst calls
    for i, start in enumerate(moments):
        within = sum(1 for m in moments[i:] if m < start + 1.0)
        assert within <= 30 + 3
    assert moments[-1] - moments[0] >= (300 - 3) / 30 - 1e-6


def test_per_key_buckets_of_a_slow_limit_take_one_token_at_a_time(engine: Engine) -> None:
    clock = Clock()
    limiter = RateLimiter(engine, {"max_chat": Limit(rate=2.0, burst=1)}, clock)
    assert limiter.reserve("max_chat", "42") == 0.0
    assert limiter.reserve("max_chat", "42") == 0.5
    assert limiter.reserve("max_chat", "43") == 0.0  # another chat, another bucket
    assert bucket(engine, "max_chat:42") == -1
    assert limiter.reserve("unlimited") == 0.0
