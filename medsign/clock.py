"""The clock seam: production reads the system clock, tests move a fake one by hand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to (``advance``/``set``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment


class OffsetFileClock:
    """System time plus an offset in seconds read from a file — a clock that end-to-end
    tests can move forward in running processes (``MEDSIGN_TEST_CLOCK_FILE``).

    The file is re-read when it changes; a missing or unreadable file means no offset.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._stamp: int | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._current_offset()

    def _current_offset(self) -> timedelta:
        try:
            stamp = os.stat(self._path).st_mtime_ns
            if stamp != self._stamp:
                with open(self._path, encoding="utf-8") as handle:
                    self._offset = timedelta(seconds=float(handle.read().strip() or 0))
                self._stamp = stamp
        except (OSError, ValueError):
            self._offset = timedelta(0)
        return self._offset


def clock_from_environment(environ: Mapping[str, str], *, production: bool) -> Clock:
    """The system clock, or — outside production only — the tests' movable clock."""
    path = environ.get("MEDSIGN_TEST_CLOCK_FILE")
    if path and not production:
        return OffsetFileClock(path)
    return SystemClock()
