"""one open signing work item per signing request

``uq_work_items_open_signing``: a partial unique index on ``work_items(ref)`` over the
signing items that are still open (scheduled or failed;
``medsign.db.models.OPEN_SIGNING_ITEM_WHERE``). The service enqueues a request's one signing
item with the request and then moves, retries or ends that same item; the index makes the
database refuse a second one, which would drive the same transaction twice and make the
alert lists (they walk the scheduled items) show the request twice.

No release adds a second item, but a database restored by hand might hold one: before the
index is built, every open signing item but the newest of its request is cancelled with a
reason that says why. Nothing is deleted.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from medsign.db.models import ONE_OPEN_SIGNING_ITEM_INDEX, OPEN_SIGNING_ITEM_WHERE
from medsign.db.types import UTCDateTime

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

REASON = ("cancelled by the upgrade: a newer open signing item of the same request drives "
          "its transaction")

_items = sa.table(
    "work_items", sa.column("id", sa.Integer), sa.column("status", sa.String),
    sa.column("next_run_at", UTCDateTime()), sa.column("locked_by", sa.String),
    sa.column("locked_until", UTCDateTime()), sa.column("lease_version", sa.Integer),
    sa.column("last_error", sa.Text), sa.column("updated_at", UTCDateTime()),
    sa.column("finished_at", UTCDateTime()))


def upgrade() -> None:
    _cancel_older_duplicates()
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.create_index(ONE_OPEN_SIGNING_ITEM_INDEX, ['ref'], unique=True,
                              postgresql_where=sa.text(OPEN_SIGNING_ITEM_WHERE),
                              sqlite_where=sa.text(OPEN_SIGNING_ITEM_WHERE))


def downgrade() -> None:
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.drop_index(ONE_OPEN_SIGNING_ITEM_INDEX)


def _cancel_older_duplicates() -> None:
    """Cancel each open signing item that has a newer open sibling of the same request."""
    bind = op.get_bind()
    newest: dict[str, int] = {}
    older: list[int] = []
    for item_id, ref in bind.execute(sa.text(
            f"SELECT id, ref FROM work_items WHERE {OPEN_SIGNING_ITEM_WHERE} AND ref IN "
            f"(SELECT ref FROM work_items WHERE {OPEN_SIGNING_ITEM_WHERE} "
            "GROUP BY ref HAVING COUNT(*) > 1) ORDER BY ref, id DESC")):
        if ref in newest:
            older.append(item_id)
        else:
            newest[ref] = item_id
    now = datetime.now(UTC)
    for item_id in older:
        bind.execute(sa.update(_items).where(_items.c.id == item_id).values(
            status="cancelled", next_run_at=None, locked_by=None, locked_until=None,
            lease_version=_items.c.lease_version + 1, last_error=REASON, updated_at=now,
            finished_at=now))
