"""Retry timing: exponential with a cap and jitter, honouring a server's ``Retry-After``."""

from __future__ import annotations

import random
from datetime import timedelta


def backoff_delay(attempt: int, *, base: timedelta, cap: timedelta,
                  retry_after: float | None = None, rng: random.Random | None = None) -> timedelta:
    """Delay before retry number ``attempt`` (1-based).

    Full jitter between half and all of ``base * 2**(attempt-1)`` spreads retries of many items
    that failed together; a server's ``Retry-After`` is a floor, never shortened by jitter.
    """
    attempt = max(1, attempt)
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** min(attempt - 1, 60))
    jitter = (rng or random).uniform(0.5, 1.0)
    delay = ceiling * jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap.total_seconds()))
    return timedelta(seconds=delay)


def poll_delay(polls: int, *, interval: timedelta, factor: float,
               maximum: timedelta) -> timedelta:
    """Interval of the ``polls``-th status poll: grows by ``factor`` up to ``maximum``."""
    seconds = interval.total_seconds() * factor ** max(0, polls)
    return timedelta(seconds=min(seconds, maximum.total_seconds()))
