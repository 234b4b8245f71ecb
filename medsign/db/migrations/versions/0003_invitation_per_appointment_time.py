"""an invitation per appointment time

An appointment moved after its invitation went out gets a fresh invitation (new token, new
buttons); the old row stays as ``superseded`` with its message id, so the old buttons are
refused and the history shows both. At most one row per appointment is live.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

LIVE = "state <> 'superseded'"


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notifications_appointment_id', type_='unique')
        batch_op.create_index('ix_notifications_appointment_id', ['appointment_id'],
                              unique=False)
        batch_op.create_index('uq_notifications_live_appointment', ['appointment_id'],
                              unique=True, postgresql_where=sa.text(LIVE),
                              sqlite_where=sa.text(LIVE))


def downgrade() -> None:
    # Only the newest row of an appointment can stay under the old one-row rule.
    op.execute("DELETE FROM notifications WHERE state = 'superseded'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('uq_notifications_live_appointment', postgresql_where=sa.text(LIVE),
                            sqlite_where=sa.text(LIVE))
        batch_op.drop_index('ix_notifications_appointment_id')
        batch_op.create_unique_constraint('uq_notifications_appointment_id', ['appointment_id'])
