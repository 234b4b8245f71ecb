"""identifiers per organisation

The МИС's ids of patients and appointments are unique within their organisation only: two
clinics that both number patients from 1 must not collide. ``uq_patients_external_id`` and
``uq_appointments_external_id`` give way to ``uq_patients_organization_id`` and
``uq_appointments_organization_id`` on (organization_id, external_id).

SQLite changes a constraint only by rebuilding the table, and refuses to drop a table that
others reference while foreign keys are enforced; the rebuild runs with them off (outside a
transaction, where ``PRAGMA foreign_keys`` takes effect) and checks every reference after.
The downgrade fails if two organisations already use the same id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TABLES = ('patients', 'appointments')


def upgrade() -> None:
    with _foreign_keys_off_on_sqlite():
        for table in TABLES:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f'uq_{table}_external_id', type_='unique')
                batch_op.create_unique_constraint(f'uq_{table}_organization_id',
                                                  ['organization_id', 'external_id'])


def downgrade() -> None:
    with _foreign_keys_off_on_sqlite():
        for table in reversed(TABLES):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f'uq_{table}_organization_id', type_='unique')
                batch_op.create_unique_constraint(f'uq_{table}_external_id', ['external_id'])


@contextmanager
def _foreign_keys_off_on_sqlite() -> Iterator[None]:
    """On SQLite: end the migration's transaction, turn foreign keys off, rebuild in a
    transaction of its own, verify every reference, turn them back on and reopen one for
    Alembic's bookkeeping. The connection keeps the writer's lock throughout."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        yield
        return
    bind.exec_driver_sql('COMMIT')
    bind.exec_driver_sql('PRAGMA foreign_keys=OFF')
    bind.exec_driver_sql('BEGIN IMMEDIATE')
    try:
        yield
        broken = bind.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'foreign keys broken by the rebuild: {broken[:5]}')
        bind.exec_driver_sql('COMMIT')
    except BaseException:
        bind.exec_driver_sql('ROLLBACK')
        raise
    finally:
        bind.exec_driver_sql('PRAGMA foreign_keys=ON')
        bind.exec_driver_sql('BEGIN IMMEDIATE')
