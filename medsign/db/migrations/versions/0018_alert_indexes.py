"""alert indexes and the unattended transactions

What the console's badge, its «требуют внимания» list, its queue and the alert e-mails read
(``signing.alerts``, ``runner.store.queue_stats``), so that they cost what they find, not
the open work or the history:
``ix_work_items_scheduled_changed`` — the scheduled items of a kind by when they last
changed (the ones nothing has moved since the stall cutoff, oldest first);
``ix_work_items_scheduled_ref`` — whether a request has a scheduled item at all;
``ix_work_items_failed_changed`` — the failed items of a kind (the queue's counts);
``ix_signing_requests_failed_changed`` — the failed requests by when they failed;
``signing_unattended`` — the active transactions the alert scan found with no scheduled item.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from medsign.db.types import UTCDateTime

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_SCHEDULED = sa.text("status = 'scheduled'")
_FAILED = sa.text("state = 'failed'")
_FAILED_ITEM = sa.text("status = 'failed'")


def upgrade() -> None:
    op.create_table(
        'signing_unattended',
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('found_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['signing_requests.id'],
                                name=op.f('fk_signing_unattended_request_id_signing_requests')),
        sa.PrimaryKeyConstraint('request_id', name=op.f('pk_signing_unattended')))
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.create_index('ix_work_items_scheduled_changed', ['kind', 'updated_at'],
                              unique=False, postgresql_where=_SCHEDULED,
                              sqlite_where=_SCHEDULED)
        batch_op.create_index('ix_work_items_scheduled_ref', ['kind', 'ref'], unique=False,
                              postgresql_where=_SCHEDULED, sqlite_where=_SCHEDULED)
        batch_op.create_index('ix_work_items_failed_changed', ['kind', 'updated_at'],
                              unique=False, postgresql_where=_FAILED_ITEM,
                              sqlite_where=_FAILED_ITEM)
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.create_index('ix_signing_requests_failed_changed', ['updated_at', 'id'],
                              unique=False, postgresql_where=_FAILED, sqlite_where=_FAILED)


def downgrade() -> None:
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_requests_failed_changed')
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.drop_index('ix_work_items_failed_changed')
        batch_op.drop_index('ix_work_items_scheduled_ref')
        batch_op.drop_index('ix_work_items_scheduled_changed')
    op.drop_table('signing_unattended')
