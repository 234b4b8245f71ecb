"""The bot's single update queue (spec §6.1) shared by long polling and webhook delivery.

Every update gets a number; ``marker`` is the number of the next update the bot expects.
Passing a marker *commits* (drops) everything before it; an omitted marker reads from the last
commit (the S33 rule). Numbers start at the creation time in milliseconds, so a marker from an
earlier in-memory run is older than anything new. With a ``types`` filter, updates of other
types that fall before the returned marker are committed with the batch (assumption: the
filter drops them, as Telegram's ``allowed_updates`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Queued:
    number: int
    body: dict[str, Any]
    created_ms: int

    @property
    def update_type(self) -> str:
        return str(self.body.get("update_type", ""))


class UpdateLog:
    def __init__(self, first_number: int, now_ms: Callable[[], int], ttl_ms: int) -> None:
        self.pending: list[Queued] = []
        self.next_number = first_number
        self._now_ms, self._ttl_ms = now_ms, ttl_ms
        self._changed = asyncio.Event()

    def append(self, body: dict[str, Any]) -> Queued:
        queued = Queued(self.next_number, body, self._now_ms())
        self.next_number += 1
        self.pending.append(queued)
        self.wake()
        return queued

    def wake(self) -> None:
        """Wake every waiter (a new update, or something else they must re-check)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def commit(self, marker: int) -> None:
        marker = min(marker, self.next_number)
        self.pending = [q for q in self.pending if q.number >= marker]

    def select(self, start: int, limit: int, types: list[str] | None
               ) -> tuple[list[Queued], int]:
        """Up to ``limit`` updates from number ``start`` on, and the marker after them."""
        self._expire()
        picked: list[Queued] = []
        for queued in self.pending:
            if queued.number >= start and (not types or queued.update_type in types):
                picked.append(queued)
                if len(picked) == limit:
                    return picked, queued.number + 1
        return picked, self.next_number

    def head(self) -> Queued | None:
        self._expire()
        return self.pending[0] if self.pending else None

    def clear(self) -> None:
        self.pending.clear()
        self.wake()

    def _expire(self) -> None:
        oldest = self._now_ms() - self._ttl_ms
        if self.pending and self.pending[0].created_ms < oldest:
            self.pending = [q for q in self.pending if q.created_ms >= oldest]

    def dump(self) -> dict[str, Any]:
        return {"next_number": self.next_number,
                "pending": [{"number": q.number, "body": q.body, "created_ms": q.created_ms}
                            for q in self.pending]}

    def load(self, saved: dict[str, Any]) -> None:
        self.next_number = int(saved["next_number"])
        self.pending = [Queued(int(q["number"]), q["body"], int(q["created_ms"]))
                        for q in saved["pending"]]


# How often a held long poll looks whether its client is still there.
GONE_CHECK_S = 0.5


async def poll(log: UpdateLog, *, marker: int | None, limit: int, types: list[str] | None,
               timeout: float, gone: Callable[[], Awaitable[bool]] | None = None,
               ) -> tuple[list[Queued], int]:
    """``GET /updates``: commit what ``marker`` acknowledges, then hold until something
    matching arrives or ``timeout`` passes; the marker comes back even with no updates.
    ``gone`` says whether the client has hung up: a held poll then ends (its answer would
    reach nobody), so a stopping bot does not keep the server's connection open."""
    if marker is not None:
        log.commit(marker)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        start = 0 if marker is None else min(marker, log.next_number)
        picked, next_marker = log.select(start, limit, types)
        remaining = deadline - loop.time()
        if picked or remaining <= 0 or (gone is not None and await gone()):
            return picked, next_marker
        await log.wait(remaining if gone is None else min(remaining, GONE_CHECK_S))
