"""one open signing request per appointment

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 10:00:00

A partial unique index on ``signing_requests(appointment_id)`` over the open states (every
state but the final ones, ``failed`` included; ``medsign.db.models.OPEN_SIGNING_WHERE``).

Before this revision a ``failed`` request did not block a new one, and the patient's path
took no lock, so an installation may hold two open requests for one appointment. The index
could not be built over them: every open request but the newest of its appointment is closed
first as ``cancelled``, with a history entry that says why. Nothing is deleted; a worker that
later meets such a request sees it cancelled and ends its work item.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import medsign.db.types
from medsign.db.models import ONE_OPEN_SIGNING_INDEX, OPEN_SIGNING_WHERE

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ACTOR = "system:migration"
REASON = ("Закрыта при обновлении системы: по этой записи на приём открыта более новая "
          "транзакция подписания.")

_requests = sa.table(
    "signing_requests", sa.column("id", sa.String), sa.column("state", sa.String),
    sa.column("failed_from", sa.String), sa.column("reason", sa.Text),
    sa.column("updated_at", medsign.db.types.UTCDateTime()))
_events = sa.table(
    "signing_events", sa.column("signing_request_id", sa.String),
    sa.column("at", medsign.db.types.UTCDateTime()), sa.column("from_state", sa.String),
    sa.column("to_state", sa.String), sa.column("actor", sa.String),
    sa.column("reason", sa.Text), sa.column("details", sa.JSON))


def upgrade() -> None:
    _close_older_duplicates()
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.create_index(ONE_OPEN_SIGNING_INDEX, ['appointment_id'], unique=True,
                              postgresql_where=sa.text(OPEN_SIGNING_WHERE),
                              sqlite_where=sa.text(OPEN_SIGNING_WHERE))


def downgrade() -> None:
    with op.batch_alter_table('signing_requests', schema=None) as batch_op:
        batch_op.drop_index(ONE_OPEN_SIGNING_INDEX)


def _close_older_duplicates() -> None:
    """Cancel each open request that has a newer open sibling on the same appointment."""
    bind = op.get_bind()
    older = bind.execute(sa.text(
        "SELECT s.id, s.state FROM signing_requests s "
        f"WHERE s.{OPEN_SIGNING_WHERE} AND EXISTS (SELECT 1 FROM signing_requests n "
        f"WHERE n.appointment_id = s.appointment_id AND n.{OPEN_SIGNING_WHERE} "
        "AND (n.created_at > s.created_at OR (n.created_at = s.created_at AND n.id > s.id)))"
    )).all()
    now = datetime.now(UTC)
    for request_id, state in older:
        bind.execute(sa.update(_requests).where(_requests.c.id == request_id).values(
            state="cancelled", failed_from=None, reason=REASON, updated_at=now))
        bind.execute(sa.insert(_events).values(
            signing_request_id=request_id, at=now, from_state=state, to_state="cancelled",
            actor=ACTOR, reason=REASON, details={}))
