"""alert mails

``signing_alert_mails``: a transaction's alert of one kind (failed, stalled) already mailed
to the МО's operators (``[console] alert_emails``), so each is mailed once, even after a
restart.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:56:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_alert_mails',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created_at', medsign.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['signing_requests.id'], name=op.f('fk_signing_alert_mails_request_id_signing_requests')),
    sa.PrimaryKeyConstraint('request_id', 'kind', name=op.f('pk_signing_alert_mails'))
    )


def downgrade() -> None:
    op.drop_table('signing_alert_mails')
