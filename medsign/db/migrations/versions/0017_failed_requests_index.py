"""failed requests index

``ix_signing_requests_failed``: the failed requests alone, in the lists' order. The
console's badge counts them on every page (an index-only count); without it the count read
every open request's row (an index of the open states, then the table), some 100 ms at a
million requests. A list of failed requests pages through it too.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_FAILED = sa.text("state = 'failed'")


def upgrade() -> None:
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.create_index('ix_signing_requests_failed', ['created_at', 'id'], unique=False,
                              postgresql_where=_FAILED, sqlite_where=_FAILED)


def downgrade() -> None:
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_requests_failed')
