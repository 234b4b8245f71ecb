"""list indexes

Every list reads one index range in its keyset order (issue 16): ``signing_requests`` by
``(created_at, id)`` alone and under organisation, state, or both (replacing the
``(organization_id, created_at)`` and ``state`` indexes); a patient's appointments by
``(patient_id, starts_at, id)`` (replacing ``patient_id``); the audit log by subject, actor
and action, each followed by ``id`` (actor and action with pattern operators on PostgreSQL,
for their prefix search).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_requests_org_created')
        batch_op.drop_index(batch_op.f('ix_signing_requests_state'))
        batch_op.create_index('ix_signing_requests_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_signing_requests_org_created',
                              ['organization_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_signing_requests_state_created', ['state', 'created_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_signing_requests_org_state_created',
                              ['organization_id', 'state', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointments_patient_id'))
        batch_op.create_index('ix_appointments_patient_starts', ['patient_id', 'starts_at', 'id'],
                              unique=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_subject_id', ['subject_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_log_actor_id', ['actor', 'id'], unique=False,
                              postgresql_ops={'actor': 'varchar_pattern_ops'})
        batch_op.create_index('ix_audit_log_action_id', ['action', 'id'], unique=False,
                              postgresql_ops={'action': 'varchar_pattern_ops'})


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action_id')
        batch_op.drop_index('ix_audit_log_actor_id')
        batch_op.drop_index('ix_audit_log_subject_id')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('ix_appointments_patient_starts')
        batch_op.create_index(batch_op.f('ix_appointments_patient_id'), ['patient_id'],
                              unique=False)
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_requests_org_state_created')
        batch_op.drop_index('ix_signing_requests_state_created')
        batch_op.drop_index('ix_signing_requests_org_created')
        batch_op.drop_index('ix_signing_requests_created')
        batch_op.create_index(batch_op.f('ix_signing_requests_state'), ['state'], unique=False)
        batch_op.create_index('ix_signing_requests_org_created',
                              ['organization_id', 'created_at'], unique=False)
