"""Looking up a patient: the МИС's id is unique within its organisation only (two clinics
may both number patients from 1), so every lookup names the organisation, and one outside
the caller's scope is "not found" whether or not it holds such an id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow, PatientRow
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


def name_matches(words: Sequence[str]) -> ColumnElement[bool]:
    """Patients whose name holds every word (each as ``domain.search.name_key`` writes it):
    a ``LIKE '%word%'`` per word on ``search_name``, which the trigram index serves on
    PostgreSQL (a word of three letters or more; shorter ones read the whole index)."""
    return and_(*(PatientRow.search_name.contains(w, autoescape=True) for w in words))
