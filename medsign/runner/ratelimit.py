"""Token buckets per external API, kept in the database so every worker shares them.

A caller *reserves* a token: the bucket may go negative, and the caller is told how long to
wait before its turn. No retry loop, and the order of reservations is the order of calls —
fair under contention between processes.

A process takes its tokens in small blocks, one short write transaction per block: as many as
the bucket refills in ``block_window`` (0.1 s), at most ``max_block``; with a limit of 30/s
that is 3 calls per transaction instead of one. The process hands them out at the moments they
were reserved for; a token not used within ``block_window`` after its moment is given up. So
the shared bucket is never overdrawn — at worst a process leaves a few tokens unused — and a
slow limit (a MAX chat's 2 messages/s) still takes one token at a time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, Connection, Engine, Table, false, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from medsign.db.models import RateBucketRow

T = cast(Table, RateBucketRow.__table__)


@dataclass(frozen=True)
class BucketState:
    tokens: float
    updated_at: float


def reserve_token(state: BucketState, *, now: float, rate: float,
                  burst: float) -> tuple[BucketState, float]:
    """Take one token from a bucket refilled at ``rate``/s up to ``burst``.

    Returns the new state and the seconds the caller must wait before using its token.
    """
    elapsed = max(0.0, now - state.updated_at)
    tokens = min(burst, state.tokens + elapsed * rate) - 1.0
    wait = 0.0 if tokens >= 0 else -tokens / rate
    return BucketState(tokens, now), wait


def reserve_tokens(state: BucketState, *, now: float, rate: float, burst: float,
                   count: int) -> tuple[BucketState, list[float]]:
    """Take ``count`` tokens at once: the new state and the wait before each may be used."""
    waits = []
    for _ in range(count):
        state, wait = reserve_token(state, now=now, rate=rate, burst=burst)
        waits.append(wait)
    return state, waits


def block_size(rate: float, burst: float, *, window: float, most: int) -> int:
    """How many tokens a process takes per write: what the bucket refills in ``window``."""
    return max(1, min(most, math.floor(burst), math.floor(rate * window)))


def reserve(conn: Connection, name: str, *, rate: float, burst: float, now: float,
            count: int = 1) -> list[float]:
    """Reserve ``count`` tokens of bucket ``name`` in the caller's write transaction; the wait
    before each."""
    query = select(T.c.tokens, T.c.updated_at).where(T.c.name == name).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        _create_bucket(conn, name, tokens=burst, now=now)
        row = conn.execute(query).one()
    state, waits = reserve_tokens(BucketState(row.tokens, row.updated_at), now=now, rate=rate,
                                  burst=burst, count=count)
    conn.execute(update(T).where(T.c.name == name)
                 .values(tokens=state.tokens, updated_at=state.updated_at))
    return waits


def _create_bucket(conn: Connection, name: str, *, tokens: float, now: float) -> None:
    """Insert a full bucket unless a concurrent worker just did."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(T).values(name=name, tokens=tokens, updated_at=now)
                 .on_conflict_do_nothing(index_elements=["name"]))


@dataclass(frozen=True)
class Limit:
    rate: float
    burst: float


class RateLimiter:
    """Shared limits for named APIs. ``reserve`` returns the seconds to sleep."""

    def __init__(self, engine: Engine, limits: dict[str, Limit],
                 clock: Callable[[], float] = time.time, *, block_window: float = 0.1,
                 max_block: int = 16) -> None:
        self._engine = engine
        self._limits = limits
        self._clock = clock
        self._window = block_window
        self._max_block = max_block
        self._held: dict[str, deque[float]] = {}  # bucket -> moments of tokens taken ahead
        self._lock = threading.Lock()

    def reserve(self, name: str, key: str | None = None) -> float:
        """Seconds to wait for a token of ``name`` (one bucket per ``key``, e.g. per chat)."""
        limit = self._limits.get(name)
        if limit is None:
            return 0.0
        bucket = name if key is None else f"{name}:{key}"
        now = self._clock()
        held = self._take_held(bucket, now)
        if held is not None:
            return held
        count = block_size(limit.rate, limit.burst, window=self._window, most=self._max_block)
        with self._engine.begin() as conn:
            waits = reserve(conn, bucket, rate=limit.rate, burst=limit.burst, now=now,
                            count=count)
        if count > 1:
            with self._lock:
                self._held.setdefault(bucket, deque()).extend(now + w for w in waits[1:])
        return waits[0]

    def _take_held(self, bucket: str, now: float) -> float | None:
        """The wait for a token taken ahead, if one is still good."""
        with self._lock:
            held = self._held.get(bucket)
            while held and held[0] < now - self._window:
                held.popleft()  # its moment passed unused: given up
            if not held:
                return None
            return max(0.0, held.popleft() - now)



def idle_buckets(limits: dict[str, Limit], now: float) -> ColumnElement[bool]:
    """The per-key buckets (``name:key``, e.g. one per MAX chat) that have refilled to full.

    A full bucket is exactly what ``reserve`` creates for a name it does not find, so deleting
    one changes no caller's wait; only the row count, which would otherwise grow with every
    chat ever written to. The refill is computed in the query on the row's own values, so a
    bucket a worker has just reserved from (``updated_at`` moved, tokens spent) is not idle.
    """
    return or_(false(), *(
        T.c.name.startswith(f"{name}:", autoescape=True)
        & (T.c.tokens + (now - T.c.updated_at) * limit.rate >= limit.burst)
        for name, limit in limits.items()))
