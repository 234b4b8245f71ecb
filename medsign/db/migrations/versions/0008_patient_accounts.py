"""patient accounts

``portal_accounts.disabled_at``/``disabled_by``: an administrator disabled the account (no
login of any kind; its sessions are gone). ``password_reset_tokens``: one-time password reset
links sent by e-mail, kept as SHA-256 digests with their account, creation, expiry, use and
who asked for them. The e-mail itself is a runner work item (``mail.send``), no table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('portal_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', medsign.db.types.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('disabled_by', sa.String(length=200), nullable=True))
    op.create_table('password_reset_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('used_at', medsign.db.types.UTCDateTime(), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['portal_accounts.id'], name=op.f('fk_password_reset_tokens_account_id_portal_accounts')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_password_reset_tokens'))
    )
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_tokens_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_password_reset_tokens_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_tokens_expires_at'))
        batch_op.drop_index(batch_op.f('ix_password_reset_tokens_account_id'))

    op.drop_table('password_reset_tokens')
    with op.batch_alter_table('portal_accounts', schema=None) as batch_op:
        batch_op.drop_column('disabled_by')
        batch_op.drop_column('disabled_at')
