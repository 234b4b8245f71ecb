"""What grows without bound, pruned in bounded batches (``docs/operations.md``, «Что растёт
и как очищается»).

Each rule names the rows that carry no more information: finished work, processed MAX
updates, old idempotency keys, spent link tokens and password reset links, ended web
sessions, stale login throttles, expired login device tokens, full per-chat rate buckets.
``prune`` deletes at most ``batch`` rows per table in the caller's transaction, so a first run
over a large backlog never holds a long write lock: the runner commits and comes back for the
next batch when ``backlog`` says there is one.

The audit log, signing requests with their events and documents, and notifications are kept
by design: they are the evidence and the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Select, Table, delete, func, select, tuple_

from medsign.config import HousekeepingSettings
from medsign.db.models import (
    IdempotencyRow,
    LoginDeviceRow,
    LoginThrottleRow,
    MaxLinkTokenRow,
    MaxRelinkRow,
    MaxUpdateRow,
    PasswordResetTokenRow,
    RateBucketRow,
    WebSessionRow,
    WorkItemRow,
)
from medsign.runner import ratelimit, store

# A login throttle row older than this has no failures left to count (the window of
# accounts.throttle).
THROTTLE_KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    """Rows of ``model`` that may go at ``now``; ``key`` names them for a bounded delete."""

    model: Any
    key: tuple[str, ...]
    prunable: Callable[[Table, datetime], ColumnElement[bool]]

    @property
    def table(self) -> Table:
        return cast(Table, self.model.__table__)

    def chosen(self, now: datetime, batch: int) -> Select[Any]:
        t = self.table
        return select(*(t.c[k] for k in self.key)).where(self.prunable(t, now)).limit(batch)

    def delete_batch(self, conn: Connection, now: datetime, batch: int) -> int:
        t = self.table
        columns = [t.c[k] for k in self.key]
        target = columns[0] if len(columns) == 1 else tuple_(*columns)
        return int(conn.execute(delete(t).where(target.in_(self.chosen(now, batch)))).rowcount)


def rules(retention: HousekeepingSettings, limits: dict[str, ratelimit.Limit]) -> dict[str, Rule]:
    r = retention
    return {
        "work_items": Rule(WorkItemRow, ("id",), lambda t, now: t.c.status.in_(
            (store.DONE, store.CANCELLED)) & (t.c.finished_at < now - r.finished_work_items)),
        # Handled (an outcome is stored): MAX redelivers for hours at most, never for weeks.
        "max_updates": Rule(MaxUpdateRow, ("id",), lambda t, now: t.c.outcome.is_not(None)
                            & (t.c.received_at < now - r.max_updates)),
        "idempotency_keys": Rule(IdempotencyRow, ("api_client_id", "key"), lambda t, now:
                                 t.c.created_at < now - r.idempotency_keys),
        "max_link_tokens": Rule(MaxLinkTokenRow, ("token_hash",), lambda t, now:
                                t.c.expires_at < now - r.link_tokens),
        # Answered or unanswered, a re-link question past its expiry decides nothing more;
        # the switch itself (or its refusal) is in the audit log.
        "max_relink_requests": Rule(MaxRelinkRow, ("id",), lambda t, now:
                                    t.c.expires_at < now - r.link_tokens),
        # Used, voided or expired, a reset link sets nothing any more; its use is audited.
        "password_reset_tokens": Rule(PasswordResetTokenRow, ("token_hash",), lambda t, now:
                                      t.c.expires_at < now - r.link_tokens),
        "web_sessions": Rule(WebSessionRow, ("id_hash",), lambda t, now: t.c.expires_at <= now),
        "login_throttle": Rule(LoginThrottleRow, ("scope", "key"), lambda t, now:
                               t.c.updated_at < now - THROTTLE_KEEP),
        # Unused for their whole lifetime: they vouch for nothing any more.
        "login_devices": Rule(LoginDeviceRow, ("token_hash",), lambda t, now:
                              t.c.expires_at <= now),
        "rate_buckets": Rule(RateBucketRow, ("name",), lambda t, now:
                             ratelimit.idle_buckets(limits, now.timestamp())),
    }


def prune(conn: Connection, *, retention: HousekeepingSettings,
          limits: dict[str, ratelimit.Limit], now: datetime, batch: int) -> dict[str, int]:
    """Delete one batch of each table's prunable rows; how many went, by table."""
    return {name: rule.delete_batch(conn, now, batch)
            for name, rule in rules(retention, limits).items()}


def backlog(conn: Connection, *, retention: HousekeepingSettings,
            limits: dict[str, ratelimit.Limit], now: datetime, batch: int) -> bool:
    """Whether some table has more prunable rows than one batch takes."""
    for rule in rules(retention, limits).values():
        found = select(func.count()).select_from(rule.chosen(now, batch + 1).subquery())
        if (conn.execute(found).scalar() or 0) > batch:
            return True
    return False
