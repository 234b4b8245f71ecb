"""Which signing transactions need an operator (``domain.alerts``), counted in the database:
the console's badge, its lists, the alert e-mails and the ``medsign_signing_alerts`` metric
read the same conditions.

Each alert kind is a few disjoint *parts*, each a condition on ``latest_item_query()`` that
an index drives, so that a list or a count reads what it finds — never every open request,
nor every runner item there ever was:

- ``failed``: the failed requests (``ix_signing_requests_failed``, ``…_failed_changed``);
- ``stalled``, the request's scheduled runner item has not changed since the cutoff: the
  scheduled items by when they last changed (``ix_work_items_scheduled_changed``), then
  their requests by primary key. A scheduled signing item belongs to an active request, one
  to a request (``start`` enqueues it; what ends the request ends or cancels it in the same
  transaction), so the oldest ``most`` such items are the ``most`` requests stalled longest
  — the lists order them by when their item last moved (``listed``); a second, fresher item
  beside a stale one would be an anomaly, and is shown as one;
- ``stalled``, the request has no scheduled runner item at all: the engine never leaves an
  active request so (a crash between steps or a hand edit can), and proving that none is left
  so means checking every active request, so the alert scan does it once a minute in the
  background (``watch``) and keeps what it found in ``signing_unattended``; the part reads
  that small table and re-checks each row, so a request moved again leaves at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from medsign.db.models import SigningRequestRow, SigningUnattendedRow, WorkItemRow
from medsign.db.types import matching
from medsign.domain.alerts import AlertKind, stalled_before
from medsign.domain.signing import ACTIVE_STATES, SigningState
from medsign.runner import store
from medsign.signing import repository
from medsign.signing.service import SIGNING_KIND, Cursor

R = SigningRequestRow
U = SigningUnattendedRow
Columns = TypeVarTuple("Columns")  # a query's columns, kept through ``_after``
# Built once: an ORM alias costs more to make than the rest of a part.
_STALE_ITEMS = aliased(WorkItemRow, name="stale_items")
_SCHEDULED_ITEMS = aliased(WorkItemRow, name="scheduled_items")
_ACTIVE = sorted(s.value for s in ACTIVE_STATES)


def latest_item_query() -> Select[Any]:
    """The query a part goes on: ``view_query()``'s shape."""
    return repository.view_query()  # type: ignore[return-value]


def parts(kind: AlertKind, now: datetime, stall_after: timedelta, *,
          most: int | None = None) -> list[Any]:
    """``domain.alerts.alert_of`` as disjoint conditions on ``latest_item_query()``: a request
    raises ``kind`` when it meets one of them (and meets at most one). ``most``: the caller
    wants no more than this many of each part (the oldest first): the items nothing has moved
    are then read in that order and no further."""
    if kind is AlertKind.failed:
        return [_failed()]
    items = _STALE_ITEMS
    not_moved = select(items.ref).where(_not_moved(items, now, stall_after))
    if most is not None:  # planned alone: the index in its order, no further than ``most``
        not_moved = not_moved.order_by(items.updated_at).limit(most)
    return [and_(_active(R), R.id.in_(not_moved)), _unattended()]


# A stalled part's walk takes the scheduled items in batches: the first as big as a page, each
# next one four times bigger (a filter that keeps few of them), up to this many.
WALK_MOST = 1000


@dataclass(frozen=True)
class Listed:
    """A part as a list reads it: the requests that meet it (a query of ``view_query()``'s
    shape) and since when each has needed an operator, the list's order with the request's
    id (``since`` is a column the part's index keeps in that order).

    ``walk``: the part is driven by its runner items, not by the requests: ``walk`` gives
    the candidates' (since, request id) in the list's order from the items' own index, and
    ``query`` keeps those whose request meets the rest of the part. The two are read apart,
    so the planner cannot trade the walk for a join of every open request: it cannot know
    that every scheduled signing item belongs to an active request, takes them for a few,
    and at ten million requests hashed all open ones for a page of ten (0.3 s). A request has
    one open signing item at most (``uq_work_items_open_signing``), so the walk meets each
    request once."""

    query: Select[Any]
    since: Any  # a mapped column: the request's ``updated_at`` or its stale item's
    walk: Select[datetime, str | None] | None = None

    def first(self, db: Session, *, where: repository.ListFilter | None, after: Cursor | None,
              most: int) -> list[tuple[datetime, str]]:
        """The part's first ``most`` requests (since, id) in the list's order after
        ``after`` (the row comparison after the leading column alone: a bound on every
        index), those that meet ``where`` too."""
        query = self.query if where is None else repository.apply_filters(self.query, where)
        if self.walk is None:
            return [(since, request_id) for since, request_id in db.execute(
                _after(query, self.since, R.id, after).with_only_columns(self.since, R.id)
                .order_by(self.since, R.id).limit(most))]
        ref = self.walk.selected_columns[1]
        found: list[tuple[datetime, str]] = []
        batch = most
        while len(found) < most:
            keys = db.execute(_after(self.walk, self.since, ref, after)
                              .order_by(self.since, ref).limit(batch)).all()
            if not keys:
                break
            kept = set(db.scalars(query.with_only_columns(R.id).where(
                R.id.in_({request_id for _, request_id in keys}))))
            found += [(since, request_id) for since, request_id in keys
                      if request_id is not None and request_id in kept]
            last_since, last_id = keys[-1]
            if len(keys) < batch or last_id is None:
                break
            after, batch = Cursor(last_since, last_id), min(batch * 4, WALK_MOST)
        return found[:most]


def _after(query: Select[*Columns], since: Any, key: Any,
           after: Cursor | None) -> Select[*Columns]:
    if after is None:
        return query
    moment = literal(after.created_at, since.type)
    return query.where(since >= moment,
                       tuple_(since, key) > tuple_(moment, literal(after.id, key.type)))


def listed(kind: AlertKind, now: datetime, stall_after: timedelta) -> list[Listed]:
    """``parts`` for a list, oldest first and one page at a time: a failed request since it
    last changed (``ix_signing_requests_failed_changed``), a stalled one since its scheduled
    item last moved (the items in ``ix_work_items_scheduled_changed``'s order, then their
    requests by key: ``Listed.walk``), an unattended one since it last changed (the scan's
    small table). A page after a cursor starts inside each index: the page costs what it
    shows."""
    view = latest_item_query()
    if kind is AlertKind.failed:
        return [Listed(view.where(_failed()), R.updated_at)]
    items = _STALE_ITEMS
    return [Listed(view.where(_active(R)), items.updated_at,
                   walk=select(items.updated_at, items.ref).where(
                       _not_moved(items, now, stall_after))),
            Listed(view.where(_unattended()), R.updated_at)]


def _failed() -> ColumnElement[bool]:
    """A failed request (``ix_signing_requests_failed…``: the state written as a constant)."""
    return matching(R.state, SigningState.failed.value)


def _not_moved(items: Any, now: datetime, stall_after: timedelta) -> ColumnElement[bool]:
    """A scheduled signing item nothing has moved since the cutoff."""
    return and_(items.kind == SIGNING_KIND, matching(items.status, store.SCHEDULED),
                items.updated_at < stalled_before(now, stall_after))


def _unattended() -> ColumnElement[bool]:
    """An active request the scan found with no scheduled item, and still without one."""
    return and_(_active(R), R.id.in_(select(U.request_id)), ~_scheduled_item(R.id))


def _active(requests: Any) -> Any:
    return requests.state.in_(_ACTIVE)


def _scheduled_item(ref: Any) -> Any:
    """``ref`` has a scheduled signing item."""
    items = _SCHEDULED_ITEMS
    return exists().where(items.kind == SIGNING_KIND, matching(items.status, store.SCHEDULED),
                          items.ref == ref)


def alert_counts(db: Session, *, now: datetime, stall_after: timedelta,
                 cap: int | None = None) -> dict[AlertKind, int]:
    """How many requests raise each alert: the requests alone are counted (the view's joins
    follow foreign keys that are never null, and would only cost a lookup per request).
    ``cap``: count each part up to it only (a badge says "more than"; the metric counts
    all)."""
    counts = []
    for kind in AlertKind:
        for part in parts(kind, now, stall_after, most=cap):
            query = select(R.id).where(part)
            if cap is not None:
                if kind is AlertKind.failed:  # the failed ones' own index, in its order
                    query = query.order_by(R.updated_at, R.id)
                query = query.limit(cap)
            counts.append((kind, select(func.count()).select_from(query.subquery())
                           .scalar_subquery()))
    found = dict.fromkeys(AlertKind, 0)
    counted = db.execute(select(*(c for _, c in counts))).one()  # one round trip for all
    for (kind, _), n in zip(counts, counted, strict=True):
        found[kind] += int(n or 0)
    return found


def watch(db: Session, *, now: datetime) -> int:
    """The alert scan's check of every active request: ``signing_unattended`` becomes the
    active requests with no scheduled signing item (new ones found at ``now``, the others
    keep when they were first found, the moved-again ones leave). In ``db``'s transaction;
    returns how many there are. Reads the open work, never the history: the active requests
    by state, each against the scheduled items' index."""
    found = set(db.scalars(select(R.id).where(_active(R), ~_scheduled_item(R.id))))
    known = set(db.scalars(select(U.request_id)))
    if known - found:
        db.execute(delete(U).where(U.request_id.in_(known - found)))
    db.add_all(U(request_id=request_id, found_at=now) for request_id in sorted(found - known))
    db.flush()
    if found != known:  # a few rows: fresh statistics let the planner drive from them
        db.execute(text(f"ANALYZE {U.__tablename__}"))
    return len(found)
