"""SQLite's index of patients' names

The console and the doctor's board find a patient by any part of the name
(``patients.search_name LIKE '%word%'``). PostgreSQL serves that with its trigram index
(0010); SQLite's plain index cannot, and read every patient. Here SQLite gets an FTS5 table
with the trigram tokenizer over ``search_name`` (external content: it stores the trigrams,
not a copy of the names), filled from the patients and kept in step by triggers on every
insert, update and delete, whoever writes. PostgreSQL: nothing to do.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_INDEX = 'patients_search'
_TRIGGERS = {
    'patients_search_insert': (
        "AFTER INSERT ON patients BEGIN "
        f"INSERT INTO {_INDEX} (rowid, search_name) VALUES (new.id, new.search_name); END"),
    'patients_search_delete': (
        "AFTER DELETE ON patients BEGIN "
        f"INSERT INTO {_INDEX} ({_INDEX}, rowid, search_name) "
        "VALUES ('delete', old.id, old.search_name); END"),
    'patients_search_update': (
        "AFTER UPDATE OF search_name ON patients BEGIN "
        f"INSERT INTO {_INDEX} ({_INDEX}, rowid, search_name) "
        "VALUES ('delete', old.id, old.search_name); "
        f"INSERT INTO {_INDEX} (rowid, search_name) VALUES (new.id, new.search_name); END"),
}


def upgrade() -> None:
    if op.get_context().dialect.name != 'sqlite':
        return
    op.execute(f"CREATE VIRTUAL TABLE {_INDEX} USING fts5(search_name, content='patients', "
               "content_rowid='id', tokenize='trigram')")
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute(f"INSERT INTO {_INDEX} ({_INDEX}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_context().dialect.name != 'sqlite':
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute(f"DROP TABLE {_INDEX}")
