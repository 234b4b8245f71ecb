"""The durable runner: work items, singletons, shared rate buckets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base
from medsign.db.types import UTCDateTime

# A signing request's transaction is driven by one work item of this kind, enqueued with the
# request (``signing.service``) and moved, retried or ended in place, never added again. While
# it is open (scheduled or failed) the index below refuses a second one: two would drive one
# transaction, and the alert lists, which walk the items, would show the request twice.
SIGNING_ITEM_KIND = "signing"
ONE_OPEN_SIGNING_ITEM_INDEX = "uq_work_items_open_signing"
OPEN_SIGNING_ITEM_WHERE = f"kind = '{SIGNING_ITEM_KIND}' AND status IN ('scheduled', 'failed')"


class SingletonRow(Base):
    """Names of work that must exist exactly once per installation (e.g. the MAX poller)."""

    __tablename__ = "singletons"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    work_item_id: Mapped[int] = mapped_column(Integer)


class WorkItemRow(Base):
    """One unit of durable work driven by the runner (see ``medsign.runner``).

    ``next_run_at`` is the durable timer. While a worker holds the lease, ``next_run_at`` equals
    the lease expiry, so a dead worker's item simply becomes due again; ``lease_version`` is the
    fencing token every write of the holder must match.
    """

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_due", "next_run_at", postgresql_where=text("status = 'scheduled'"),
              sqlite_where=text("status = 'scheduled'")),
        # The claim and the idle wait: per kind, its scheduled items in due order.
        Index("ix_work_items_kind_due", "kind", "next_run_at",
              postgresql_where=text("status = 'scheduled'"),
              sqlite_where=text("status = 'scheduled'")),
        # Housekeeping: finished work past its period, oldest first.
        Index("ix_work_items_finished", "finished_at",
              postgresql_where=text("status IN ('done', 'cancelled')"),
              sqlite_where=text("status IN ('done', 'cancelled')")),
        # The alerts (``signing.alerts``): a kind's scheduled items by when they last changed,
        # and whether a ref has a scheduled item at all.
        Index("ix_work_items_scheduled_changed", "kind", "updated_at",
              postgresql_where=text("status = 'scheduled'"),
              sqlite_where=text("status = 'scheduled'")),
        # The failed ones by kind and when they failed: the queue's counts (``queue_stats``).
        Index("ix_work_items_failed_changed", "kind", "updated_at",
              postgresql_where=text("status = 'failed'"),
              sqlite_where=text("status = 'failed'")),
        Index("ix_work_items_scheduled_ref", "kind", "ref",
              postgresql_where=text("status = 'scheduled'"),
              sqlite_where=text("status = 'scheduled'")),
        Index("ix_work_items_kind_ref", "kind", "ref"),
        Index(ONE_OPEN_SIGNING_ITEM_INDEX, "ref", unique=True,
              postgresql_where=text(OPEN_SIGNING_ITEM_WHERE),
              sqlite_where=text(OPEN_SIGNING_ITEM_WHERE)),
        Index("ix_work_items_status_kind", "status", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_version: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    call_key: Mapped[str | None] = mapped_column(String(200))
    call_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateBucketRow(Base):
    """A token bucket shared by every worker process (one row per external API)."""

    __tablename__ = "rate_buckets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
