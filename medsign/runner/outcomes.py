"""What a step returns or raises, and how the runner reads it.

Exceptions a step may raise::

    StepError
    ├── TransientError   — worth retrying: backoff, then ``failed`` after max_attempts
    │                      (timeouts, connection errors, 429, 5xx)
    └── PermanentError   — retrying cannot help: the item is ``failed`` at once
    LeaseLost            — raised by the runner itself: another worker owns the item now

Any other exception is a bug in a step; the runner treats it as transient (backoff, then
``failed``) and records its type and message, so an operator sees it and can retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

Apply = Callable[[Connection], None]


class StepError(Exception):
    def __init__(self, message: str, *, code: str = "step_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TransientError(StepError):
    def __init__(self, message: str, *, code: str = "transient",
                 retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentError(StepError):
    pass


class LeaseLost(Exception):
    """The item's lease has passed to another worker; this worker must drop it."""


@dataclass(frozen=True)
class WorkItem:
    """A claimed row, as the step sees it."""

    id: int
    kind: str
    ref: str | None
    step: str
    data: dict[str, Any]
    lease_version: int
    attempts: int
    call_key: str | None
    call_started_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Next:
    """Move to ``step`` (it may be the same step, e.g. for polling) after ``delay``.

    ``apply`` runs in the same transaction as the transition, only while the lease holds.
    """

    step: str
    delay: timedelta = timedelta(0)
    data: dict[str, Any] | None = None
    apply: Apply | None = None


@dataclass(frozen=True)
class Done:
    """The item is finished (``done``) or ended early (``cancelled``)."""

    status: str = "done"
    apply: Apply | None = None
    data: dict[str, Any] | None = None


Outcome = Next | Done


@dataclass
class StepResult:
    item: WorkItem
    outcome: Outcome | None = None
    error: BaseException | None = None
    started: float = 0.0
    finished: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
