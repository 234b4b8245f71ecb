"""Who did it, in words: the audit log and the histories store actors as machine strings
(``web:<login>``, ``system:signing``, ``api:<client>``, ``max:<user id>``); staff read names.

Staff logins are looked up in the staff accounts (one query per page), so an operator reads
«Соколов Игорь Викторович (оператор)», not ``web:operator``; a login without an account (a
deleted one) still shows as the login, so nothing is hidden from the people who audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.accounts.staff import Role
from medsign.db.models import StaffUserRow

STAFF_PREFIX = "web:"
_FIXED: Mapping[str, str] = MappingProxyType({
    "system": "система",
    "system:signing": "система (подписание)",
    "system:reconcile": "система (сверка после восстановления)",
    "cli": "администратор (командная строка)",
    "demo": "демонстрационные данные",
    "mis": "МИС",
    "anonymous": "аноним",
    "patient": "пациент",  # a choice the patient made, in MAX or on his pages
})
_PREFIXES: Mapping[str, str] = MappingProxyType({
    "api:": "МИС (ключ API «{}»)",
    "max:": "пациент в MAX",
    "portal:": "пациент на портале",
    "esia:": "пациент через Госуслуги",
    "worker:": "фоновый обработчик {}",
    "system:": "система ({})",
})


def names(db: Session, actors: Iterable[str]) -> dict[str, str]:
    """Words for each actor, staff by their full name and role."""
    wanted = set(actors)
    staff = _staff(db, {a[len(STAFF_PREFIX):] for a in wanted if a.startswith(STAFF_PREFIX)})
    return {actor: staff.get(actor) or describe(actor) for actor in wanted}


def describe(actor: str) -> str:
    """Words for an actor without looking anyone up."""
    if actor in _FIXED:
        return _FIXED[actor]
    for prefix, words in _PREFIXES.items():
        if actor.startswith(prefix):
            return words.format(actor[len(prefix):])
    if actor.startswith(STAFF_PREFIX):
        return f"сотрудник {actor[len(STAFF_PREFIX):]}"
    return actor


def _staff(db: Session, logins: set[str]) -> dict[str, str]:
    if not logins:
        return {}
    rows = db.execute(select(StaffUserRow.login, StaffUserRow.full_name, StaffUserRow.role)
                      .where(StaffUserRow.login.in_(sorted(logins)))).all()
    return {f"{STAFF_PREFIX}{login}": f"{name} ({_role(role)})" for login, name, role in rows}


def _role(role: str) -> str:
    return Role(role).title if role in Role.__members__ else role
