"""Which signing transactions need an operator (``domain.alerts``), counted in the database:
the console's badge and the ``medsign_signing_alerts`` metric read the same numbers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, aliased

from medsign.db.models import SigningRequestRow, WorkItemRow
from medsign.domain.alerts import AlertKind, stalled_before
from medsign.domain.signing import ACTIVE_STATES, SigningState
from medsign.runner import store
from medsign.signing import repository
from medsign.signing.service import SIGNING_KIND


def latest_item_query() -> Select[Any]:
    """The query ``condition`` goes on: ``view_query()``'s shape."""
    return repository.view_query()  # type: ignore[return-value]


def condition(kind: AlertKind, now: datetime, stall_after: timedelta) -> Any:
    """``domain.alerts.alert_of`` as a condition on ``latest_item_query()``.

    Each request's newest runner item is looked up for that request alone (``max(id)`` over
    ``ix_work_items_kind_ref``, then the item by its id), never grouped over every signing
    item there ever was nor joined to every scheduled one (a backlog may hold 100 000): a
    list or a count reads the open requests the state picks and, for each, its own items.
    A scalar subquery, not ``EXISTS``, so that the planner keeps it per request."""
    if kind is AlertKind.failed:
        return SigningRequestRow.state == SigningState.failed.value
    items = aliased(WorkItemRow)
    newest = (select(func.max(items.id))
              .where(items.kind == SIGNING_KIND, items.ref == SigningRequestRow.id)
              .correlate(SigningRequestRow).scalar_subquery())
    worked_on = (select(WorkItemRow.id)
                 .where(WorkItemRow.id == newest, WorkItemRow.status == store.SCHEDULED,
                        WorkItemRow.updated_at >= stalled_before(now, stall_after))
                 .correlate(SigningRequestRow).scalar_subquery())
    return and_(SigningRequestRow.state.in_([s.value for s in ACTIVE_STATES]),
                worked_on.is_(None))


def alert_counts(db: Session, *, now: datetime, stall_after: timedelta) -> dict[AlertKind, int]:
    """How many requests raise each alert: the requests alone are counted (the view's joins
    follow foreign keys that are never null, and would only cost a lookup per request)."""
    found = {}
    for kind in AlertKind:
        query = (select(func.count()).select_from(SigningRequestRow)
                 .where(condition(kind, now, stall_after)))
        found[kind] = int(db.scalar(query) or 0)
    return found
