"""Which signing transactions need an operator (``domain.alerts``), counted in the database:
the console's badge and the ``medsign_signing_alerts`` metric read the same numbers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from medsign.db.models import SigningRequestRow, WorkItemRow
from medsign.domain.alerts import AlertKind, stalled_before
from medsign.domain.signing import ACTIVE_STATES, SigningState
from medsign.runner import store
from medsign.signing import repository
from medsign.signing.service import SIGNING_KIND


def latest_item_query() -> Select[Any]:
    """``view_query()`` with each request's newest runner item (if any) joined."""
    newest = (select(WorkItemRow.ref, func.max(WorkItemRow.id).label("item_id"))
              .where(WorkItemRow.kind == SIGNING_KIND).group_by(WorkItemRow.ref)
              .subquery())
    return (repository.view_query()  # type: ignore[return-value]
            .outerjoin(newest, newest.c.ref == SigningRequestRow.id)
            .outerjoin(WorkItemRow, WorkItemRow.id == newest.c.item_id))


def condition(kind: AlertKind, now: datetime, stall_after: timedelta) -> Any:
    """``domain.alerts.alert_of`` as a condition on ``latest_item_query()``."""
    if kind is AlertKind.failed:
        return SigningRequestRow.state == SigningState.failed.value
    return and_(SigningRequestRow.state.in_([s.value for s in ACTIVE_STATES]),
                or_(WorkItemRow.id.is_(None), WorkItemRow.status != store.SCHEDULED,
                    WorkItemRow.updated_at < stalled_before(now, stall_after)))


def alert_counts(db: Session, *, now: datetime, stall_after: timedelta) -> dict[AlertKind, int]:
    found = {}
    for kind in AlertKind:
        query = latest_item_query().where(condition(kind, now, stall_after))
        found[kind] = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    return found
