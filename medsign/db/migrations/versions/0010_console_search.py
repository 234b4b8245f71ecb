"""console search

``patients.search_name``: the patient's full name as ``domain.search.name_key`` writes it
(lower case, «ё» as «е»), so the console finds a patient by any part of the name through an
index — trigrams (``pg_trgm``, GIN) on PostgreSQL, a plain index on SQLite. Indexes on
``patients.phone`` and ``appointments.external_id`` serve the search by phone and by the
МИС's appointment id (``transaction_id``, ``snils`` and the request id have theirs already).
Existing patients get their ``search_name`` here. ``staff_users.last_login_at``: the users
page shows each employee's last login.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import medsign.db.types
from medsign.domain.search import name_key

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_patients = sa.table('patients', sa.column('id', sa.Integer), sa.column('last_name', sa.String),
                     sa.column('first_name', sa.String), sa.column('middle_name', sa.String),
                     sa.column('search_name', sa.String))


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite too): a batch would copy ``patients``, which others refer to.
    op.add_column('patients', sa.Column('search_name', sa.String(length=610), nullable=True))
    _fill_search_names()
    if op.get_context().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_patients_search_name', 'patients', ['search_name'],
                        postgresql_using='gin', postgresql_ops={'search_name': 'gin_trgm_ops'})
    else:
        op.create_index('ix_patients_search_name', 'patients', ['search_name'])
    op.create_index('ix_patients_phone', 'patients', ['phone'])
    op.create_index(op.f('ix_appointments_external_id'), 'appointments', ['external_id'])
    op.add_column('staff_users', sa.Column('last_login_at', medsign.db.types.UTCDateTime(),
                                           nullable=True))


def _fill_search_names() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_patients.c.id, _patients.c.last_name, _patients.c.first_name,
                                  _patients.c.middle_name)).all()
    for row in rows:
        conn.execute(_patients.update().where(_patients.c.id == row.id)
                     .values(search_name=name_key(row.last_name, row.first_name,
                                                  row.middle_name)))


def downgrade() -> None:
    # Not batches: SQLite would rebuild tables other tables' foreign keys reference;
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) drops the columns in place.
    op.drop_column('staff_users', 'last_login_at')
    op.drop_index(op.f('ix_appointments_external_id'), table_name='appointments')
    op.drop_index('ix_patients_phone', table_name='patients')
    op.drop_index('ix_patients_search_name', table_name='patients')
    op.drop_column('patients', 'search_name')
