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


_DELIVERIES = cast(Table, WebhookDeliveryRow.__table__)
_ATTEMPTS = cast(Table, WebhookAttemptRow.__table__)


def _one_of(column: Any, values: tuple[str, ...]) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with literals, as the partial indexes say it: a bound
    parameter would keep SQLite (and a generic PostgreSQL plan) off those indexes."""
    return column.in_([literal_column(f"'{v}'") for v in values])  # type: ignore[no-any-return]


def _ended_before(d: Table, cutoff: datetime) -> ColumnElement[bool]:
    """Deliveries that ended (delivered, or stopped with their endpoint) and saw nothing since
    ``cutoff``: not created, not attempted, so not replayed either (a replay makes a delivery
    pending again and its next attempt is recent). ``ix_webhook_deliveries_ended``."""
    return (_one_of(d.c.state, (outbox.DELIVERED, outbox.STOPPED)) & (d.c.created_at < cutoff)
            & or_(d.c.last_attempt_at.is_(None), d.c.last_attempt_at < cutoff))


def _with_attempts(d: Table) -> ColumnElement[bool]:
    return exists().where(_ATTEMPTS.c.delivery_id == d.c.id)


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
    d = _DELIVERIES
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
        # Webhook history, in the order of the foreign keys: the attempts of one batch of
        # ended deliveries, the ended deliveries left without attempts, then the events left
        # without deliveries. A pending delivery (still retrying) keeps all three.
        "webhook_attempts": Rule(WebhookAttemptRow, ("id",), lambda t, now: t.c.delivery_id.in_(
            select(d.c.id).where(_ended_before(d, now - r.webhook_history), _with_attempts(d))
            .limit(r.batch_size))),
        "webhook_deliveries": Rule(WebhookDeliveryRow, ("id",), lambda t, now:
                                   _ended_before(t, now - r.webhook_history)
                                   & ~_with_attempts(t)),
        "webhook_events": Rule(WebhookEventRow, ("id",), lambda t, now:
                               (t.c.created_at < now - r.webhook_history)
                               & ~exists().where(d.c.event_id == t.c.id)),
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
