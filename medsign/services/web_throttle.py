"""Login throttling: failures per login name and per client address, stored in the database so
that every process of the installation shares them.

The rule (pure, see :func:`after_failure`): failures are counted in a window that opens at the
first failure; the ``limit``-th failure inside ``window`` locks the key for ``lockout`` and
starts counting afresh. A successful login clears its login name's count (not the address's:
one valid account must not let an address guess the passwords of others).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from medsign.db.models_web import LoginThrottleRow


@dataclass(frozen=True)
class Rule:
    limit: int
    window: timedelta
    lockout: timedelta


# A login name is a target; an address may be a whole clinic behind one NAT, hence more room.
PER_LOGIN = Rule(limit=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
PER_ADDRESS = Rule(limit=20, window=timedelta(minutes=15), lockout=timedelta(minutes=15))


@dataclass(frozen=True)
class Count:
    failures: int = 0
    window_started_at: datetime | None = None
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def after_failure(count: Count, rule: Rule, now: datetime) -> Count:
    """The count after one more failure at ``now``."""
    if count.locked(now):
        return count
    fresh = count.window_started_at is None or now - count.window_started_at >= rule.window
    failures = 1 if fresh else count.failures + 1
    started = now if fresh else count.window_started_at
    if failures >= rule.limit:
        return Count(0, None, now + rule.lockout)
    return Count(failures, started, None)


@dataclass(frozen=True)
class Key:
    scope: str  # "staff", "portal" (a login name) or "address"
    key: str
    rule: Rule


def keys(*, realm: str, login: str, address: str | None) -> list[Key]:
    found = [Key(realm, login.strip().casefold()[:200], PER_LOGIN)]
    if address:
        found.append(Key("address", address[:200], PER_ADDRESS))
    return found


def locked_until(db: Session, which: Iterable[Key], now: datetime) -> datetime | None:
    """The latest lock among ``which`` that is still in force, if any."""
    until = [c.locked_until for c in (_load(db, k) for k in which)
             if c.locked(now) and c.locked_until is not None]
    return max(until) if until else None


def record_failure(db: Session, which: Iterable[Key], now: datetime) -> None:
    for k in which:
        row = _lock_row(db, k, now)
        new = after_failure(Count(row.failures, row.window_started_at, row.locked_until),
                            k.rule, now)
        row.failures, row.window_started_at = new.failures, new.window_started_at
        row.locked_until, row.updated_at = new.locked_until, now


def record_success(db: Session, login_key: Key) -> None:
    db.execute(delete(LoginThrottleRow).where(LoginThrottleRow.scope == login_key.scope,
                                              LoginThrottleRow.key == login_key.key))


def _load(db: Session, k: Key) -> Count:
    row = db.get(LoginThrottleRow, (k.scope, k.key))
    if row is None:
        return Count()
    return Count(row.failures, row.window_started_at, row.locked_until)


def _lock_row(db: Session, k: Key, now: datetime) -> LoginThrottleRow:
    """The row of ``k``, created if missing and locked for update (concurrent failures)."""
    table = cast(Table, LoginThrottleRow.__table__)
    dialect_insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(dialect_insert(table).values(scope=k.scope, key=k.key, failures=0,
                                            updated_at=now)
               .on_conflict_do_nothing(index_elements=["scope", "key"]))
    row = db.scalars(select(LoginThrottleRow).where(
        LoginThrottleRow.scope == k.scope, LoginThrottleRow.key == k.key)
        .with_for_update().execution_options(populate_existing=True)).one()
    return row


def purge(db: Session, now: datetime, *, older_than: timedelta = timedelta(days=1)) -> None:
    """Forget counts nobody has touched for a day (their windows and locks are long over)."""
    db.execute(delete(LoginThrottleRow).where(LoginThrottleRow.updated_at < now - older_than))
