"""What grows without bound, pruned in bounded batches (``docs/operations.md``, «Что растёт
и как очищается»).

Each rule names the rows that carry no more information: finished work, processed MAX
updates, old idempotency keys, spent link tokens and password reset links, ended web
sessions, stale login throttles, expired login device tokens, expired app device
challenges, full per-chat rate buckets, and the webhook history (attempts, then deliveries,
then events — the order of their foreign keys) of deliveries that ended long ago.
Every rule reaches its rows through an index, so a batch reads about what it deletes.
``prune`` deletes at most ``batch`` rows per table in the caller's transaction, so a first run
over a large backlog never holds a long write lock: the runner commits and comes back for the
next batch when ``backlog`` says there is one.

The audit log, signing requests with their events and documents, notifications and the
alert mail markers are kept by design: they are the evidence and the history (a marker is
what keeps a failed transaction from being mailed about again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Select,
    Table,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)

from medsign.config import HousekeepingSettings
from medsign.db.models import (
    AppDeviceChallengeRow,
    IdempotencyRow,
    LoginDeviceRow,
    LoginThrottleRow,
    MaxLinkTokenRow,
    MaxRelinkRow,
    MaxUpdateRow,
    PasswordResetTokenRow,
    RateBucketRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebSessionRow,
    WorkItemRow,
)
from medsign.runner import ratelimit, store
from medsign.webhooks import outbox

# A login throttle row older than this has no failures left to count (the window of
# accounts.throttle).
THROTTLE_KEEP = timedelta(days=1)


_EVENTS = cast(Table, WebhookEventRow.__table__).alias("old_events")
_DELIVERIES = cast(Table, WebhookDeliveryRow.__table__).alias("ended_deliveries")
_ATTEMPTS = cast(Table, WebhookAttemptRow.__table__).alias("their_attempts")


def _one_of(column: Any, values: tuple[str, ...]) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with literals, as the partial indexes say it: a bound
    parameter would keep SQLite (and a generic PostgreSQL plan) off those indexes."""
    return column.in_([literal_column(f"'{v}'") for v in values])  # type: ignore[no-any-return]


def _ended_before(d: Any, cutoff: datetime) -> ColumnElement[bool]:
    """Deliveries that ended (delivered, or stopped with their endpoint) and saw nothing since
    ``cutoff``: not created, not attempted, so not replayed either (a replay makes a delivery
    pending again and its next attempt is recent). ``ix_webhook_deliveries_ended``."""
    ended: ColumnElement[bool] = (
        _one_of(d.c.state, (outbox.DELIVERED, outbox.STOPPED)) & (d.c.created_at < cutoff)
        & or_(d.c.last_attempt_at.is_(None), d.c.last_attempt_at < cutoff))
    return ended


def _with_attempts(d: Any) -> ColumnElement[bool]:
    return exists().where(_ATTEMPTS.c.delivery_id == d.c.id)


def _webhook_rules(cutoff: Callable[[datetime], datetime], window: int) -> dict[str, Rule]:
    """The webhook history, in the order of the foreign keys: the attempts of the oldest
    ended deliveries, those deliveries once their attempts are gone, then the old events
    left without deliveries (every event is written with at least one).

    Each rule looks only at a window of the ``window`` oldest candidates, one index range:
    so rows that must wait for their children to go first (the whole history on a first
    run) are not read again and again, and the next pass takes the same oldest rows first,
    so the three rules advance together. An event that must stay (a delivery of it is
    pending, or was replayed within the period) is passed over, not counted in the window.
    """
    d, e, a = _DELIVERIES, _EVENTS, _ATTEMPTS

    def oldest_ended(now: datetime, *also: ColumnElement[bool]) -> Any:
        return (select(d.c.id).where(_ended_before(d, cutoff(now)), *also)
                .order_by(d.c.created_at).limit(window).subquery("window"))

    def oldest_events(now: datetime) -> Any:
        kept = exists().where(d.c.event_id == e.c.id, ~_ended_before(d, cutoff(now)))
        return (select(e.c.id).where(e.c.created_at < cutoff(now), ~kept)
                .order_by(e.c.created_at).limit(window).subquery("window"))

    def attempts(now: datetime, batch: int) -> Select[Any]:
        w = oldest_ended(now, _with_attempts(d))
        return select(a.c.id).select_from(w.join(a, a.c.delivery_id == w.c.id)).limit(batch)

    def deliveries(now: datetime, batch: int) -> Select[Any]:
        w = oldest_ended(now)
        return select(w.c.id).where(~_with_attempts(w)).limit(batch)

    def events(now: datetime, batch: int) -> Select[Any]:
        w = oldest_events(now)
        return select(w.c.id).where(~exists().where(d.c.event_id == w.c.id)).limit(batch)

    return {"webhook_attempts": Rule(WebhookAttemptRow, ("id",), pick=attempts),
            "webhook_deliveries": Rule(WebhookDeliveryRow, ("id",), pick=deliveries),
            "webhook_events": Rule(WebhookEventRow, ("id",), pick=events)}


@dataclass(frozen=True)
class Rule:
    """Rows of ``model`` that may go at ``now``; ``key`` names them for a bounded delete.
    Either ``prunable`` says which, or ``pick`` selects the keys of at most ``batch`` of them
    itself (when the rows are best reached from another table's index)."""

    model: Any
    key: tuple[str, ...]
    prunable: Callable[[Table, datetime], ColumnElement[bool]] | None = None
    pick: Callable[[datetime, int], Select[Any]] | None = None

    @property
    def table(self) -> Table:
        return cast(Table, self.model.__table__)

    def chosen(self, now: datetime, batch: int) -> Select[Any]:
        if self.pick is not None:
            return self.pick(now, batch)
        t, prunable = self.table, cast(Callable[[Table, datetime], ColumnElement[bool]],
                                       self.prunable)
        return select(*(t.c[k] for k in self.key)).where(prunable(t, now)).limit(batch)

    def statement(self, now: datetime, batch: int) -> Delete:
        t = self.table
        columns = [t.c[k] for k in self.key]
        target = columns[0] if len(columns) == 1 else tuple_(*columns)
        return delete(t).where(target.in_(self.chosen(now, batch)))

    def delete_batch(self, conn: Connection, now: datetime, batch: int) -> int:
        return int(conn.execute(self.statement(now, batch)).rowcount)


def rules(retention: HousekeepingSettings, limits: dict[str, ratelimit.Limit],
          batch: int | None = None) -> dict[str, Rule]:
    r = retention
    return {
        "work_items": Rule(WorkItemRow, ("id",), lambda t, now: _one_of(
            t.c.status, (store.DONE, store.CANCELLED))
            & (t.c.finished_at < now - r.finished_work_items)),
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
        # A challenge is taken by the one request that uses it; past its expiry it is refused.
        "app_device_challenges": Rule(AppDeviceChallengeRow, ("challenge",), lambda t, now:
                                      t.c.expires_at <= now),
        **_webhook_rules(lambda now: now - r.webhook_history, batch or r.batch_size),
    }


def prune(conn: Connection, *, retention: HousekeepingSettings,
          limits: dict[str, ratelimit.Limit], now: datetime, batch: int) -> dict[str, int]:
    """Delete one batch of each table's prunable rows; how many went, by table."""
    return {name: rule.delete_batch(conn, now, batch)
            for name, rule in rules(retention, limits, batch).items()}


def backlog(conn: Connection, *, retention: HousekeepingSettings,
            limits: dict[str, ratelimit.Limit], now: datetime, batch: int) -> bool:
    """Whether some table has more prunable rows than one batch takes."""
    # Windows one row wider than the batch, so that they may show one row too many.
    for rule in rules(retention, limits, batch + 1).values():
        found = select(func.count()).select_from(rule.chosen(now, batch + 1).subquery())
        if (conn.execute(found).scalar() or 0) > batch:
            return True
    return False
