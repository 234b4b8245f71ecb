"""the appointment's start on its signing requests

The lists' appointment window (``appointment_from``/``appointment_to`` of the API and the
console's day) read the window's appointments, then each one's requests through
``ix_signing_requests_appointment_id``: a probe and a table read per appointment, ten
thousand of them for one day of a region. The start is now kept on ``signing_requests``
(``appointment_starts_at``) with ``ix_signing_requests_appointment_start``
(start, created_at, id; on PostgreSQL with the organisation and state included), so that a
window is one range of one index.

The database keeps the copy true, whoever writes: a trigger sets it from the appointment
when a request is inserted (or moved to another appointment), another follows every
change of the appointment's start. The upgrade fills it for the existing requests — on a
large history that is one pass over ``signing_requests``, closed to writes meanwhile: a
release with it goes into a maintenance window (``docs/operations.md``, «Обновление версии»).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from medsign.db.types import UTCDateTime

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_INDEX = 'ix_signing_requests_appointment_start'
_FROM_APPOINTMENT = ("(SELECT starts_at FROM appointments "
                     "WHERE appointments.id = {row}.appointment_id)")

_PG_FUNCTIONS = {
    'signing_requests_appointment_start': f"""
        BEGIN
            NEW.appointment_starts_at := {_FROM_APPOINTMENT.format(row='NEW')};
            RETURN NEW;
        END""",
    'appointments_start_to_signing_requests': """
        BEGIN
            UPDATE signing_requests SET appointment_starts_at = NEW.starts_at
            WHERE appointment_id = NEW.id;
            RETURN NULL;
        END""",
}
_PG_TRIGGERS = {
    'signing_requests_appointment_start':
        "BEFORE INSERT OR UPDATE OF appointment_id ON signing_requests FOR EACH ROW "
        "EXECUTE FUNCTION signing_requests_appointment_start()",
    'appointments_start_to_signing_requests':
        "AFTER UPDATE OF starts_at ON appointments FOR EACH ROW "
        "WHEN (OLD.starts_at IS DISTINCT FROM NEW.starts_at) "
        "EXECUTE FUNCTION appointments_start_to_signing_requests()",
}
_SET_FROM_APPOINTMENT = (
    "UPDATE signing_requests SET appointment_starts_at = "
    f"{_FROM_APPOINTMENT.format(row='new')} WHERE id = new.id; END")
_SQLITE_TRIGGERS = {
    'signing_requests_appointment_start':
        f"AFTER INSERT ON signing_requests BEGIN {_SET_FROM_APPOINTMENT}",
    'signing_requests_appointment_moved':
        f"AFTER UPDATE OF appointment_id ON signing_requests BEGIN {_SET_FROM_APPOINTMENT}",
    'appointments_start_to_signing_requests':
        "AFTER UPDATE OF starts_at ON appointments BEGIN "
        "UPDATE signing_requests SET appointment_starts_at = new.starts_at "
        "WHERE appointment_id = new.id; END",
}


def upgrade() -> None:
    postgresql = op.get_context().dialect.name == 'postgresql'
    op.add_column('signing_requests', sa.Column('appointment_starts_at', UTCDateTime(),
                                                nullable=True))
    op.execute("UPDATE signing_requests SET appointment_starts_at = "
               f"{_FROM_APPOINTMENT.format(row='signing_requests')}")
    if postgresql:
        for name, body in _PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                       f"AS $$ {body} $$")
        for name, body in _PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    op.create_index(_INDEX, 'signing_requests', ['appointment_starts_at', 'created_at', 'id'],
                    unique=False, postgresql_include=['organization_id', 'state'])


def downgrade() -> None:
    postgresql = op.get_context().dialect.name == 'postgresql'
    op.drop_index(_INDEX, table_name='signing_requests')
    if postgresql:
        op.execute("DROP TRIGGER appointments_start_to_signing_requests ON appointments")
        op.execute("DROP TRIGGER signing_requests_appointment_start ON signing_requests")
        for name in _PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) drops it in place: no copy of the table.
    op.drop_column('signing_requests', 'appointment_starts_at')
