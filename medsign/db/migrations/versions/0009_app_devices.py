"""app devices

``app_devices``: a browser bound to a patient's account for quick login in the app «К врачу»
(the public key of a key pair the browser does not export, the PIN's Argon2 hash, wrong PINs,
the WebAuthn credential when biometrics is chosen). ``app_device_challenges``: one-time
challenges the device signs, short-lived.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-16 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_devices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('portal_account_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('pin_hash', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=400), nullable=True),
    sa.Column('credential_public_key', sa.Text(), nullable=True),
    sa.Column('sign_count', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=True),
    sa.Column('created_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['portal_account_id'], ['portal_accounts.id'], name=op.f('fk_app_devices_portal_account_id_portal_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_devices'))
    )
    with op.batch_alter_table('app_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_devices_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_devices_portal_account_id'), ['portal_account_id'], unique=False)

    op.create_table('app_device_challenges',
    sa.Column('challenge', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('expires_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['app_devices.id'], name=op.f('fk_app_device_challenges_device_id_app_devices')),
    sa.PrimaryKeyConstraint('challenge', name=op.f('pk_app_device_challenges'))
    )
    with op.batch_alter_table('app_device_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_device_challenges_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_device_challenges_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('app_device_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_device_challenges_expires_at'))
        batch_op.drop_index(batch_op.f('ix_app_device_challenges_device_id'))

    op.drop_table('app_device_challenges')
    with op.batch_alter_table('app_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_devices_portal_account_id'))
        batch_op.drop_index(batch_op.f('ix_app_devices_expires_at'))

    op.drop_table('app_devices')
