"""patient СНИЛС and MAX re-link confirmations

``patients.snils`` (11 digits, optional): a record that has it is matched to a Госуслуги
account by it alone. ``max_relink_requests``: a MAX account asking to replace the one linked
to a patient waits there for «Да» from the chat of the current account.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snils', sa.String(length=11), nullable=True))
        batch_op.create_index(batch_op.f('ix_patients_snils'), ['snils'], unique=False)

    op.create_table('max_relink_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('current_user_id', sa.BigInteger(), nullable=False),
    sa.Column('new_user_id', sa.BigInteger(), nullable=False),
    sa.Column('new_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('how', sa.String(length=20), nullable=False),
    sa.Column('created_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=True),
    sa.Column('decided_at', medsign.db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_max_relink_requests_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_max_relink_requests')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_max_relink_requests_token_hash'))
    )
    with op.batch_alter_table('max_relink_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_max_relink_requests_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('max_relink_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_max_relink_requests_patient_id'))

    op.drop_table('max_relink_requests')
    # Not a batch: SQLite would rebuild ``patients``, which other tables' foreign keys
    # reference; ALTER TABLE … DROP COLUMN (SQLite 3.35+) drops the column in place.
    op.drop_index(op.f('ix_patients_snils'), table_name='patients')
    op.drop_column('patients', 'snils')
