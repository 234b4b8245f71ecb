"""doctor link

``appointments.doctor_external_id``: the МИС's id of the appointment's doctor;
``staff_users.doctor_external_id``: the same id on a doctor's account, set by an administrator —
together they give the doctor's workstation «Мои пациенты». Two indexes serve the day board
(all of an МО's appointments of a day, or one doctor's) in keyset order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs (no batch copy): SQLite adds a nullable column in place, and copying
    # ``appointments`` would trip the foreign keys that point at it.
    op.add_column('appointments',
                  sa.Column('doctor_external_id', sa.String(length=100), nullable=True))
    op.create_index('ix_appointments_org_starts', 'appointments',
                    ['organization_id', 'starts_at', 'id'], unique=False)
    op.create_index('ix_appointments_org_doctor_starts', 'appointments',
                    ['organization_id', 'doctor_external_id', 'starts_at', 'id'], unique=False)
    op.add_column('staff_users',
                  sa.Column('doctor_external_id', sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column('staff_users', 'doctor_external_id')
    op.drop_index('ix_appointments_org_doctor_starts', table_name='appointments')
    op.drop_index('ix_appointments_org_starts', table_name='appointments')
    op.drop_column('appointments', 'doctor_external_id')
