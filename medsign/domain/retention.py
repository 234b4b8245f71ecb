"""Which backup sets to keep: the newest set of each of the last N days, weeks and months.

Days, ISO weeks and months are counted in UTC over the days, weeks and months that have a
set (a week without backups does not use up a weekly slot). The newest set is always kept,
so retention can never leave an installation without a backup.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime


def kept(stamps: Sequence[datetime], *, daily: int, weekly: int, monthly: int) -> set[int]:
    """Indexes into ``stamps`` (the sets' snapshot times) of the sets to keep."""
    order = sorted(range(len(stamps)), key=lambda i: stamps[i], reverse=True)
    keep: set[int] = set(order[:1])
    periods: list[tuple[int, Callable[[datetime], Hashable]]] = [
        (daily, lambda t: t.date()),
        (weekly, lambda t: t.isocalendar()[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ]
    for count, period in periods:
        seen: set[Hashable] = set()
        for i in order:
            key = period(stamps[i].astimezone(UTC))
            if key in seen:
                continue
            if len(seen) == count:
                break
            seen.add(key)
            keep.add(i)  # the newest set of its period
    return keep
