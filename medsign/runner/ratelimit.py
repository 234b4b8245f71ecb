"""Token buckets per external API, kept in the database so every worker shares them.

A caller *reserves* a token: the bucket may go negative, and the caller is told how long to
wait before its turn. One short write transaction per call, no retry loop, and the order of
reservations is the order of calls — fair under contention between processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Engine, Table, select, update
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


def reserve(conn: Connection, name: str, *, rate: float, burst: float, now: float) -> float:
    """Reserve one token of bucket ``name`` in the caller's write transaction."""
    query = select(T.c.tokens, T.c.updated_at).where(T.c.name == name).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        _create_bucket(conn, name, tokens=burst, now=now)
        row = conn.execute(query).one()
    state, wait = reserve_token(BucketState(row.tokens, row.updated_at), now=now, rate=rate,
                                burst=burst)
    conn.execute(update(T).where(T.c.name == name)
                 .values(tokens=state.tokens, updated_at=state.updated_at))
    return wait


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
    """Shared limits for named APIs. ``acquire`` returns the seconds to sleep."""

    def __init__(self, engine: Engine, limits: dict[str, Limit],
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._limits = limits
        self._clock = clock

    def reserve(self, name: str, key: str | None = None) -> float:
        """Seconds to wait for a token of ``name`` (one bucket per ``key``, e.g. per chat)."""
        limit = self._limits.get(name)
        if limit is None:
            return 0.0
        bucket = name if key is None else f"{name}:{key}"
        with self._engine.begin() as conn:
            return reserve(conn, bucket, rate=limit.rate, burst=limit.burst, now=self._clock())
