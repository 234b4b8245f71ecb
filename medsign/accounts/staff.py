"""Staff accounts: doctors (bound to one medical organisation), operators, administrators.

Creating a user and changing a password check the password policy (``passwords``) and are
audited; so are disabling, re-enabling and changing a role or МО, which never leave the
service without an active administrator. Nothing here commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsign.accounts import passwords, sessions
from medsign.accounts.sessions import Owner
from medsign.db.models import OrganizationRow, StaffUserRow
from medsign.errors import Conflict, NotFound, Unprocessable
from medsign.records import audit, organizations
from medsign.records.scope import SYSTEM

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
DOCTOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$")  # as the API's ids


class Role(StrEnum):
    doctor = "doctor"
    operator = "operator"
    admin = "admin"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return {"doctor": "врач", "operator": "оператор", "admin": "администратор"}[self.value]


@dataclass(frozen=True)
class NewUser:
    login: str
    full_name: str
    role: str
    organization: str | None
    password: str


@dataclass(frozen=True)
class StaffUser:
    """What a page needs to know about the signed-in employee."""

    id: int
    login: str
    full_name: str
    role: Role
    organization_code: str | None
    organization_name: str | None
    disabled_at: datetime | None = None
    last_login_at: datetime | None = None
    doctor_external_id: str | None = None  # the МИС's id of this doctor («Мои пациенты»)

    @property
    def actor(self) -> str:
        return f"web:{self.login}"


def normalize_login(login: str) -> str:
    return login.strip().lower()


def create(db: Session, *, user: NewUser, allow_demo_password: bool, actor: str,
           now: datetime) -> StaffUserRow:
    login = normalize_login(user.login)
    role, org = _check_new(db, user, login)
    _check_password(user.password, login, allow_demo_password)
    row = StaffUserRow(login=login, full_name=user.full_name.strip(), role=role.value,
                       organization_id=org.id if org else None,
                       password_hash=passwords.hash_password(user.password),
                       password_changed_at=now, created_at=now, updated_at=now)
    db.add(row)
    db.flush()
    audit.record(db, at=now, actor=actor, action="staff_user.created", subject_type="staff_user",
                 subject_id=login, organization_code=org.code if org else None,
                 details={"role": role.value})
    return row


def _check_new(db: Session, user: NewUser,
               login: str) -> tuple[Role, OrganizationRow | None]:
    if not LOGIN_PATTERN.fullmatch(login):
        raise Unprocessable("invalid_login", "Логин: от 2 до 64 символов — латинские буквы, "
                            "цифры, точка, дефис, подчёркивание.")
    if not user.full_name.strip() or len(user.full_name) > 300:
        raise Unprocessable("invalid_full_name", "Укажите ФИО (до 300 символов).")
    try:
        role = Role(user.role)
    except ValueError:
        raise Unprocessable("invalid_role", "Роль: doctor, operator или admin.") from None
    if find(db, login) is not None:
        raise Conflict("login_taken", f"Логин «{login}» уже занят.")
    return role, _organization_for(db, role, user.organization)


def _organization_for(db: Session, role: Role, code: str | None) -> OrganizationRow | None:
    if role is not Role.doctor:
        if code:
            raise Unprocessable("organization_not_allowed",
                                "МО указывается только для врача.")
        return None
    if not code:
        raise Unprocessable("organization_required", "Для врача укажите код его МО.")
    return organizations.get(db, scope=SYSTEM, code=code)


def _check_password(password: str, login: str, allow_demo: bool) -> None:
    found = passwords.problems(password, login=login, allow_demo=allow_demo)
    if found:
        raise Unprocessable("weak_password", "Пароль не подходит: " + "; ".join(found) + ".")


def set_password(db: Session, *, login: str, password: str, allow_demo_password: bool,
                 actor: str, now: datetime) -> StaffUserRow:
    row = find(db, login)
    if row is None:
        raise NotFound("staff_user_not_found", f"Пользователь «{login}» не найден.")
    _check_password(password, row.login, allow_demo_password)
    row.password_hash = passwords.hash_password(password)
    row.password_changed_at = row.updated_at = now
    audit.record(db, at=now, actor=actor, action="staff_user.password_set",
                 subject_type="staff_user", subject_id=row.login, organization_code=None)
    return row


def set_disabled(db: Session, *, login: str, disabled: bool, actor: str,
                 now: datetime) -> StaffUserRow:
    """Disable an account (it cannot log in; its sessions end at once) or let it in again."""
    row = _existing(db, login)
    if disabled == (row.disabled_at is not None):
        return row  # already so: nothing to change, nothing to audit
    if disabled:
        _keep_an_admin(db, row, "отключить")
        row.disabled_at = now
        sessions.end_all_of(db, owner=Owner(staff_user_id=row.id))
    else:
        row.disabled_at = None
    row.updated_at = now
    audit.record(db, at=now, actor=actor,
                 action="staff_user.disabled" if disabled else "staff_user.enabled",
                 subject_type="staff_user", subject_id=row.login, organization_code=None)
    return row


def change_role(db: Session, *, login: str, role: str, organization: str | None, actor: str,
                now: datetime) -> StaffUserRow:
    """A new role (and МО: a doctor's only). Pages read the role per request, so it holds
    from the employee's next click."""
    row = _existing(db, login)
    try:
        new_role = Role(role)
    except ValueError:
        raise Unprocessable("invalid_role", "Роль: doctor, operator или admin.") from None
    org = _organization_for(db, new_role, organization or None)
    before = (row.role, _code_of(db, row.organization_id))
    after = (new_role.value, org.code if org else None)
    if before == after:
        return row
    if new_role is not Role.admin:
        _keep_an_admin(db, row, "снять роль администратора у")
    row.role, row.organization_id = new_role.value, org.id if org else None
    row.updated_at = now
    audit.record(db, at=now, actor=actor, action="staff_user.changed", subject_type="staff_user",
                 subject_id=row.login, organization_code=after[1],
                 details={"role": f"{Role(before[0]).title} → {new_role.title}",
                          "organization": f"{before[1] or '—'} → {after[1] or '—'}"})
    return row


def _keep_an_admin(db: Session, row: StaffUserRow, what: str) -> None:
    """The service keeps at least one active administrator: nobody could manage staff else."""
    if row.role != Role.admin.value or row.disabled_at is not None:
        return
    others = db.scalar(select(func.count()).select_from(StaffUserRow).where(
        StaffUserRow.role == Role.admin.value, StaffUserRow.disabled_at.is_(None),
        StaffUserRow.id != row.id))
    if not others:
        raise Conflict("last_admin", f"Нельзя {what} «{row.login}»: это последний действующий "
                       "администратор. Сначала назначьте другого администратора.")


def _existing(db: Session, login: str) -> StaffUserRow:
    row = find(db, login)
    if row is None:
        raise NotFound("staff_user_not_found", f"Пользователь «{login}» не найден.")
    return row


def _code_of(db: Session, organization_id: int | None) -> str | None:
    return None if organization_id is None else db.get_one(OrganizationRow,
                                                           organization_id).code


def set_doctor_id(db: Session, *, login: str, doctor_id: str | None, actor: str,
                  now: datetime) -> StaffUserRow:
    """Link a doctor's account to his id in his МО's МИС (None unlinks): his «Мои пациенты»
    are the appointments the МИС sends with that id."""
    row = _existing(db, login)
    if row.role != Role.doctor:
        raise Unprocessable("doctor_id_not_allowed",
                            "Идентификатор врача в МИС указывается только для врача.")
    wanted = doctor_id.strip() if doctor_id else None
    if wanted is not None and not DOCTOR_ID_PATTERN.fullmatch(wanted):
        raise Unprocessable("invalid_doctor_id", "Идентификатор врача в МИС: до 100 символов — "
                            "латинские буквы, цифры, точка, двоеточие, дефис, подчёркивание.")
    before, row.doctor_external_id, row.updated_at = row.doctor_external_id, wanted, now
    org = db.get(OrganizationRow, row.organization_id) if row.organization_id else None
    audit.record(db, at=now, actor=actor, action="staff_user.doctor_id_set",
                 subject_type="staff_user", subject_id=row.login,
                 organization_code=org.code if org else None,
                 details={"from": before, "to": wanted})
    return row


def find(db: Session, login: str) -> StaffUserRow | None:
    return db.scalars(select(StaffUserRow)
                      .where(StaffUserRow.login == normalize_login(login))).first()


def get(db: Session, user_id: int) -> StaffUser | None:
    """An active user by id (for a session), with their organisation."""
    found = db.execute(select(StaffUserRow, OrganizationRow)
                       .outerjoin(OrganizationRow,
                                  OrganizationRow.id == StaffUserRow.organization_id)
                       .where(StaffUserRow.id == user_id)).first()
    if found is None or found[0].disabled_at is not None:
        return None
    return to_user(found[0], found[1])


def to_user(row: StaffUserRow, org: OrganizationRow | None) -> StaffUser:
    return StaffUser(id=row.id, login=row.login, full_name=row.full_name, role=Role(row.role),
                     organization_code=org.code if org else None,
                     organization_name=org.name if org else None,
                     disabled_at=row.disabled_at, last_login_at=row.last_login_at,
                     doctor_external_id=row.doctor_external_id)


def list_all(db: Session) -> list[StaffUser]:
    rows = db.execute(select(StaffUserRow, OrganizationRow)
                      .outerjoin(OrganizationRow,
                                 OrganizationRow.id == StaffUserRow.organization_id)
                      .order_by(StaffUserRow.login)).all()
    return [to_user(r[0], r[1]) for r in rows]
