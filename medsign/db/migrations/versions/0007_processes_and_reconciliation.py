"""processes and reconciliation

``service_processes``: every running ``serve`` and ``worker`` keeps a row with a heartbeat, so
``restore`` can see that an installation is live instead of assuming it is not.
``reconciliation_findings``: what a reconciliation with the platform after a restore found for
each transaction, and whether it resumed it, settled it or left it to an operator.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_processes',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('started_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('heartbeat_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_processes'))
    )
    with op.batch_alter_table('service_processes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_processes_heartbeat_at'), ['heartbeat_at'], unique=False)

    op.create_table('reconciliation_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('found_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('signing_request_id', sa.String(length=36), nullable=True),
    sa.Column('transaction_id', sa.String(length=100), nullable=True),
    sa.Column('organization_code', sa.String(length=50), nullable=True),
    sa.Column('local_state', sa.String(length=20), nullable=True),
    sa.Column('platform_status', sa.String(length=50), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('resolved_at', medsign.db.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_findings'))
    )
    with op.batch_alter_table('reconciliation_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_findings_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reconciliation_findings_signing_request_id'), ['signing_request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reconciliation_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_findings_signing_request_id'))
        batch_op.drop_index(batch_op.f('ix_reconciliation_findings_run_id'))
    op.drop_table('reconciliation_findings')
    with op.batch_alter_table('service_processes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_processes_heartbeat_at'))
    op.drop_table('service_processes')
