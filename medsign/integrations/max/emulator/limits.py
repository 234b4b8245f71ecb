"""Rate limits (spec §1.5): token buckets that hold one second's worth of calls.

``30 rps`` means at most 30 calls in a burst and 30 more each second; a refused call learns how
long to wait. The answer is ``429`` with ``{"code": "too.many.requests", …}`` and
``Retry-After`` in whole seconds (the real body and header are [UNCONFIRMED]).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from medsign.integrations.max.emulator.config import EmulatorConfig


@dataclass
class Bucket:
    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = self.clock()

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate)

    def take(self) -> float | None:
        """``None`` when the call may go, else the seconds until it could."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


class TooManyRequests(Exception):
    def __init__(self, limit: str, wait: float) -> None:
        super().__init__(f"Too many requests: {limit} rate limit exceeded")
        self.limit, self.wait = limit, wait
        self.message = str(self)

    @property
    def retry_after(self) -> str:
        return str(max(1, math.ceil(self.wait)))


class Limits:
    """The global bucket, per-chat buckets for messages and answers, and long polling."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.configure(config)

    def configure(self, config: EmulatorConfig) -> None:
        self._rates = {"global": config.rate_limit_rps, "polling": config.rate_limit_poll_rps,
                       "chat_messages": config.rate_limit_chat_messages_per_s,
                       "chat_answers": config.rate_limit_chat_answers_per_s}
        self._buckets: dict[tuple[str, int], Bucket] = {}

    def check(self, limit: str, key: int = 0) -> None:
        rate = self._rates[limit]
        if rate is None:
            return
        bucket = self._buckets.get((limit, key))
        if bucket is None:
            bucket = self._buckets[(limit, key)] = Bucket(rate)
        wait = bucket.take()
        if wait is not None:
            raise TooManyRequests(limit, wait)
