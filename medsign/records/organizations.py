"""Medical organisations: idempotent upsert by the МИС's code, lookups within a scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow
from medsign.domain.consents import ConsentKind
from medsign.domain.organizations import (
    NO_QUIET_HOURS,
    Organization,
    QuietHours,
    Requisites,
    parse_quiet_hours,
)
from medsign.errors import NotFound, Unprocessable
from medsign.records import audit
from medsign.records.scope import Scope


@dataclass(frozen=True)
class OrganizationInput:
    name: str
    address: str
    ogrn: str
    inn: str
    kpp: str
    timezone: str
    quiet_hours: str | None
    partner_department_id: str | None
    template_ids: dict[str, str]


def to_domain(row: OrganizationRow, *, default_quiet_hours: QuietHours) -> Organization:
    """The domain object; an MO without its own quiet hours gets the installation's default."""
    return Organization(
        code=row.code,
        requisites=Requisites(row.name, row.address, row.ogrn, row.inn, row.kpp),
        timezone=row.timezone,
        quiet_hours=parse_quiet_hours(row.quiet_hours) if row.quiet_hours
        else default_quiet_hours,
        partner_department_id=row.partner_department_id,
        template_ids={ConsentKind(k): v for k, v in (row.template_ids or {}).items()},
    )


def validate(code: str, data: OrganizationInput) -> Organization:
    """Build the domain object: every rule (ОГРН/ИНН/КПП checksums, time zone) runs here."""
    return Organization(
        code=code,
        requisites=Requisites(data.name, data.address, data.ogrn, data.inn, data.kpp),
        timezone=data.timezone,
        quiet_hours=parse_quiet_hours(data.quiet_hours) if data.quiet_hours else NO_QUIET_HOURS,
        partner_department_id=data.partner_department_id,
        template_ids={ConsentKind(k): v for k, v in data.template_ids.items()})


def upsert(db: Session, *, scope: Scope, code: str, data: OrganizationInput,
           now: datetime) -> tuple[OrganizationRow, bool]:
    """Create or update organisation ``code``. Returns the row and whether it was created."""
    scope.require(code)
    validate(code, data)
    row = db.scalars(select(OrganizationRow).where(OrganizationRow.code == code)).first()
    created = row is None
    if row is None:
        row = OrganizationRow(code=code, created_at=now)
        db.add(row)
    row.name, row.address = data.name.strip(), data.address.strip()
    row.ogrn, row.inn, row.kpp = data.ogrn, data.inn, data.kpp
    row.timezone, row.quiet_hours = data.timezone, data.quiet_hours
    row.partner_department_id, row.template_ids = data.partner_department_id, data.template_ids
    row.updated_at = now
    db.flush()
    audit.record(db, at=now, actor=scope.actor, action="organization.created" if created
                 else "organization.updated", subject_type="organization", subject_id=code,
                 organization_code=code)
    return row, created


def get(db: Session, *, scope: Scope, code: str) -> OrganizationRow:
    scope.require(code)
    row = db.scalars(select(OrganizationRow).where(OrganizationRow.code == code)).first()
    if row is None:
        raise NotFound("organization_not_found", f"Медицинская организация «{code}» не найдена.")
    return row


def require_same(organization: str, stated: str | None) -> None:
    """A body's ``organization`` that repeats the one in the path must name the same one.

    Patients and appointments live under their organisation (their ids are unique only
    there), so the path decides; the body may omit the field, and a different value is a
    mistake of the caller, not a move to another organisation."""
    if stated is not None and stated != organization:
        raise Unprocessable("organization_mismatch",
                            f"Поле organization («{stated}») не совпадает с медицинской "
                            f"организацией в адресе («{organization}»).")


def names(db: Session) -> list[tuple[str, str]]:
    """Every organisation's (code, name), by code — for staff who see them all."""
    return [(r.code, r.name) for r in db.scalars(select(OrganizationRow)
                                                  .order_by(OrganizationRow.code))]


def every(db: Session) -> list[OrganizationRow]:
    """Every organisation, by code (whatever reports on each of them: metrics, health)."""
    return list(db.scalars(select(OrganizationRow).order_by(OrganizationRow.code)))


def ids_in_scope(db: Session, scope: Scope) -> list[int] | None:
    """Row ids of the scope's organisations (None: no restriction)."""
    if scope.organizations is None:
        return None
    return list(db.scalars(select(OrganizationRow.id)
                           .where(OrganizationRow.code.in_(scope.organizations))))
