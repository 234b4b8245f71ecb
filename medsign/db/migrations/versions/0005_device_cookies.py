"""device cookies

``login_devices``: a browser that logged in to an account keeps a random token in a cookie;
its password logins skip the account's growing delay (``domain.login_devices``). Only the
token's SHA-256 is stored, with its account, failure count, creation, last use and expiry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_devices',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('portal_account_id', sa.Integer(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('created_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['portal_account_id'], ['portal_accounts.id'], name=op.f('fk_login_devices_portal_account_id_portal_accounts')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_login_devices_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_login_devices'))
    )
    with op.batch_alter_table('login_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_devices_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_devices_portal_account_id'), ['portal_account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_devices_staff_user_id'), ['staff_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_devices_staff_user_id'))
        batch_op.drop_index(batch_op.f('ix_login_devices_portal_account_id'))
        batch_op.drop_index(batch_op.f('ix_login_devices_expires_at'))

    op.drop_table('login_devices')
