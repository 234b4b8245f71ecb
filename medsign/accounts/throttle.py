"""Login limits: failures per account and per client address, stored in the database so that
every process of the installation shares them.

The rule is the growing delay of :mod:`medsign.domain.login_limits` (never a lock). Keys:

- the account (``staff`` or ``portal``): the account's id when the login or e-mail names one
  (login name and e-mail are one account), else the typed name folded;
- the client address, one bucket per realm (``address:staff``, ``address:portal``): a patient
  portal busy with typos must not slow the clinic's staff down, nor the other way round.

A successful login clears its account's count, not the address's (one valid account must not
let an address guess the passwords of others). The row keeps the count in ``failures``, the
last failure in ``updated_at`` and, for the console's eyes, the end of the wait in
``locked_until`` (the name is the table's; it is a wait, not a lock).
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

from medsign.db.models import LoginThrottleRow
from medsign.domain.login_limits import (
    PER_ACCOUNT,
    PER_ADDRESS,
    DelayRule,
    Failures,
    after_failure,
    wait_text,
)
from medsign.errors import TooManyRequests


@dataclass(frozen=True)
class Key:
    scope: str  # "staff"/"portal" (an account) or "address:staff"/"address:portal"
    key: str
    rule: DelayRule


def keys(*, realm: str, account: str, address: str | None) -> list[Key]:
    """The account's key first (a success clears it), then the address's, if known."""
    found = [Key(realm, account.strip().casefold()[:200], PER_ACCOUNT)]
    if address:
        found.append(Key(f"address:{realm}", address[:200], PER_ADDRESS))
    return found


def wait(db: Session, which: Iterable[Key], now: datetime) -> timedelta:
    """The longest wait still in force among ``which`` (zero: an attempt may be made now)."""
    return max((_load(db, k).wait(k.rule, now) for k in which), default=timedelta(0))


def record_failure(db: Session, which: Iterable[Key], now: datetime) -> None:
    record(db, which, now)


def record(db: Session, which: Iterable[Key], now: datetime) -> None:
    """Count one more event (a failed login, a support request) against each of ``which``."""
    for k in which:
        row = _lock_row(db, k, now)
        new = after_failure(Failures(row.failures, row.updated_at if row.failures else None),
                            k.rule, now)
        if new.count == 1:
            row.window_started_at = now
        row.failures, row.updated_at = new.count, now
        row.locked_until = new.not_before(k.rule)


def admit(db: Session, which: list[Key], now: datetime, *, code: str, refusal: str) -> None:
    """Count one more event (a support request, a reset request) against ``which``, or raise
    ``TooManyRequests`` — ``refusal`` followed by «через N» — while a wait is in force."""
    left = wait(db, which, now)
    if left:
        raise TooManyRequests(code, f"{refusal} через {wait_text(left)}.",
                              retry_after=int(left.total_seconds()) + 1)
    record(db, which, now)


def record_success(db: Session, account_key: Key) -> None:
    db.execute(delete(LoginThrottleRow).where(LoginThrottleRow.scope == account_key.scope,
                                              LoginThrottleRow.key == account_key.key))


def _load(db: Session, k: Key) -> Failures:
    row = db.get(LoginThrottleRow, (k.scope, k.key))
    if row is None or not row.failures:
        return Failures()
    return Failures(row.failures, row.updated_at)


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


def purge(db: Session, now: datetime, *, older_than: timedelta = PER_ACCOUNT.forget) -> None:
    """Forget counts nobody has touched for a day (their delays are long over)."""
    db.execute(delete(LoginThrottleRow).where(LoginThrottleRow.updated_at < now - older_than))
