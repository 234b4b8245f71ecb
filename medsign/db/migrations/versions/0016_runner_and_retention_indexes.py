"""runner and retention indexes

``ix_work_items_kind_due``: the claim and the idle wait read, per kind, its scheduled items
in due order (flat however many items wait or are done). ``ix_work_items_finished``,
``ix_webhook_deliveries_ended`` and ``ix_webhook_events_created_at``: housekeeping reaches
the rows past their period through an index, oldest first.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_SCHEDULED = sa.text("status = 'scheduled'")
_FINISHED = sa.text("status IN ('done', 'cancelled')")
_ENDED = sa.text("state IN ('delivered', 'stopped')")


def upgrade() -> None:
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.create_index('ix_work_items_kind_due', ['kind', 'next_run_at'], unique=False,
                              postgresql_where=_SCHEDULED, sqlite_where=_SCHEDULED)
        batch_op.create_index('ix_work_items_finished', ['finished_at'], unique=False,
                              postgresql_where=_FINISHED, sqlite_where=_FINISHED)
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_ended', ['created_at'], unique=False,
                              postgresql_where=_ENDED, sqlite_where=_ENDED)
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_events_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_created_at')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_ended')
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.drop_index('ix_work_items_finished')
        batch_op.drop_index('ix_work_items_kind_due')
