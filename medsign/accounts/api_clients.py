"""Bearer tokens of client systems (the МИС): created once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.db.models import ApiClientRow
from medsign.errors import Conflict, NotFound, Unprocessable
from medsign.records import audit
from medsign.records.scope import Scope

TOKEN_PREFIX = "ms_"


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough (no slow KDF needed).
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    client: ApiClientRow
    token: str


def create(db: Session, *, name: str, organizations: Sequence[str] | None, actor: str,
           now: datetime) -> NewToken:
    name = name.strip()
    if not name or len(name) > 100:
        raise Unprocessable("invalid_name", "Имя клиента: от 1 до 100 символов.")
    if db.scalars(select(ApiClientRow).where(ApiClientRow.name == name)).first():
        raise Conflict("client_exists", f"Клиент «{name}» уже существует.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiClientRow(name=name, token_hash=hash_token(token), token_prefix=token[:10],
                       organizations=sorted(set(organizations)) if organizations else None,
                       created_at=now)
    db.add(row)
    db.flush()
    audit.record(db, at=now, actor=actor, action="api_client.created", subject_type="api_client",
                 subject_id=name, organization_code=None,
                 details={"organizations": row.organizations})
    return NewToken(row, token)


def revoke(db: Session, *, name: str, actor: str, now: datetime) -> ApiClientRow:
    row = db.scalars(select(ApiClientRow).where(ApiClientRow.name == name)).first()
    if row is None:
        raise NotFound("client_not_found", f"Клиент «{name}» не найден.")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(db, at=now, actor=actor, action="api_client.revoked",
                     subject_type="api_client", subject_id=name, organization_code=None)
    return row


def list_all(db: Session) -> list[ApiClientRow]:
    return list(db.scalars(select(ApiClientRow).order_by(ApiClientRow.name)))


@dataclass(frozen=True)
class Principal:
    client_id: int
    name: str
    scope: Scope


def authenticate(db: Session, token: str) -> Principal | None:
    """The live client owning ``token``, or None (unknown or revoked)."""
    row = db.scalars(select(ApiClientRow)
                     .where(ApiClientRow.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    orgs = frozenset(row.organizations) if row.organizations is not None else None
    return Principal(row.id, row.name, Scope(actor=f"api:{row.name}", organizations=orgs))
