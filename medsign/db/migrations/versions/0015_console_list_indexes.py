"""console list indexes

Indexes that bound the console's administrative lists by what each one filters and orders
on, so that a page costs the same at any size (issue 16; the signing requests' search, the
notifications, the alerts and the doctor's board are served by the indexes they have):

- ``support_requests (status, created_at, id)``: the support requests of one status, newest
  first;
- ``portal_accounts (full_name, id)``: the patient accounts in order of name; on PostgreSQL
  trigrams (``pg_trgm``, GIN) on ``full_name``, ``login`` and ``email`` serve the search by
  any part of them (a plain index on SQLite, as for ``patients.search_name``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_TRIGRAMS = (('ix_portal_accounts_full_name_trgm', 'full_name'),
             ('ix_portal_accounts_login_trgm', 'login'),
             ('ix_portal_accounts_email_trgm', 'email'))


def upgrade() -> None:
    op.create_index('ix_support_requests_status_created', 'support_requests',
                    ['status', 'created_at', 'id'])
    op.create_index('ix_portal_accounts_full_name', 'portal_accounts', ['full_name', 'id'])
    postgresql = op.get_context().dialect.name == 'postgresql'
    if postgresql:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for name, column in _TRIGRAMS:
        if postgresql:
            op.create_index(name, 'portal_accounts', [column], postgresql_using='gin',
                            postgresql_ops={column: 'gin_trgm_ops'})
        else:
            op.create_index(name, 'portal_accounts', [column])


def downgrade() -> None:
    for name, _ in reversed(_TRIGRAMS):
        op.drop_index(name, table_name='portal_accounts')
    op.drop_index('ix_portal_accounts_full_name', table_name='portal_accounts')
    op.drop_index('ix_support_requests_status_created', table_name='support_requests')
