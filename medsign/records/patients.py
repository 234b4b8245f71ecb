"""Looking up a patient: the МИС's id is unique within its organisation only (two clinics
may both number patients from 1), so every lookup names the organisation, and one outside
the caller's scope is "not found" whether or not it holds such an id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import ColumnElement, Integer, String, and_, column, func, select, table
from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow, PatientRow
from medsign.db.types import on_sqlite
from medsign.errors import NotFound
from medsign.records import organizations
from medsign.records.scope import Scope


def find(db: Session, organization_id: int, external_id: str) -> PatientRow | None:
    return db.scalars(select(PatientRow).where(PatientRow.organization_id == organization_id,
                                               PatientRow.external_id == external_id)).first()


def get(db: Session, *, scope: Scope, organization: str,
        external_id: str) -> tuple[PatientRow, OrganizationRow]:
    org = organizations.get(db, scope=scope, code=organization)
    row = find(db, org.id, external_id)
    if row is None:
        raise NotFound("patient_not_found", f"Пациент «{external_id}» не найден.")
    return row, org


class Named(Protocol):
    """What a full name is made of: a patient's row, or just its name columns."""

    @property
    def last_name(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def middle_name(self) -> str | None: ...


def full_name(p: Named) -> str:
    return " ".join(x for x in (p.last_name, p.first_name, p.middle_name) if x)


# SQLite's index of the names (migration 0019): an FTS5 table of ``patients.search_name``
# with the trigram tokenizer, its rowid the patient's id, kept in step by triggers.
NAME_INDEX = table("patients_search", column("rowid", Integer), column("search_name", String))


def name_matches(words: Sequence[str], *, indexed: bool = True) -> ColumnElement[bool]:
    """Patients whose name holds every word (each as ``domain.search.name_key`` writes it):
    a ``LIKE '%word%'`` per word on ``search_name``, which the trigram index serves on
    PostgreSQL (a word of three letters or more; shorter ones read the whole index).

    On SQLite the candidates come from ``NAME_INDEX`` first, by the words of three letters or
    more (its trigrams find nothing shorter; SQLite 3.40 even misses a two-letter Cyrillic
    word there instead of reading every row). FTS5 serves a LIKE only when its pattern is a
    plain parameter (no ``ESCAPE``), so there a ``%`` or ``_`` in a word is a wildcard; the
    exact condition then checks the few candidates. ``indexed=False``: the exact condition
    alone, for a patient already found by key."""
    exact = and_(*(PatientRow.search_name.contains(w, autoescape=True) for w in words))
    in_index = _in_name_index(words)
    if not indexed or not in_index:
        return exact
    candidates = select(NAME_INDEX.c.rowid).where(*in_index)
    return on_sqlite(exact, sqlite=and_(PatientRow.id.in_(candidates), exact))


TRIGRAM = 3


def _in_name_index(words: Sequence[str]) -> list[ColumnElement[bool]]:
    """``NAME_INDEX``'s conditions for the words its trigrams can find (three letters or
    more): a plain ``LIKE``, which FTS5 serves."""
    return [NAME_INDEX.c.search_name.like(f"%{w}%") for w in words if len(w) >= TRIGRAM]


def bearing_many(db: Session, words: Sequence[str], many: int) -> bool:
    """Whether at least ``many`` patients match the name, reading no more than that many: on
    SQLite from ``NAME_INDEX`` in its own order (as an ``IN`` list SQLite would first read
    every match)."""
    query = select(PatientRow.id).where(name_matches(words, indexed=False))
    in_index = _in_name_index(words)
    if db.get_bind().dialect.name == "sqlite" and in_index:
        query = query.join(NAME_INDEX, NAME_INDEX.c.rowid == PatientRow.id).where(*in_index)
    found = query.limit(many).subquery()
    return int(db.scalar(select(func.count()).select_from(found)) or 0) >= many
