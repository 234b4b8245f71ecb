"""Support requests (seed 5.2: "describe the problem through the feedback form").

A request keeps the context it came from — the page, the time, the request id the fault page
showed (its "номер обращения"), the signed-in user, the browser — so that an operator can find
the log lines without asking. The person gets a short reference of their own, never a database
id. Operators close a request with a resolution note (audited).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from medsign.accounts import throttle
from medsign.db.models import SupportRequestRow
from medsign.domain.login_limits import SUPPORT_PER_ADDRESS
from medsign.errors import Conflict, NotFound, Unprocessable
from medsign.records import audit

OPEN, CLOSED = "open", "closed"
MAX_MESSAGE = 5000
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone


@dataclass(frozen=True)
class Report:
    message: str
    contact: str | None
    page_url: str | None
    request_id: str | None
    actor: str | None
    user_agent: str | None
    address: str | None = None  # the client's, for the per-address limit


def new_reference() -> str:
    return "SR-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def submit(db: Session, *, report: Report, now: datetime) -> SupportRequestRow:
    """Store a request; an address sending too many in a row is asked to wait (429)."""
    message = report.message.strip()
    if not message:
        raise Unprocessable("empty_message", "Опишите проблему: поле не может быть пустым.")
    if len(message) > MAX_MESSAGE:
        raise Unprocessable("message_too_long",
                            f"Описание слишком длинное: не больше {MAX_MESSAGE} символов.")
    _count_address(db, report.address, now)
    row = SupportRequestRow(
        reference=new_reference(), status=OPEN, message=message,
        contact=_clip(report.contact, 200), page_url=_clip(report.page_url, 1000),
        request_id=_clip(report.request_id, 64), actor=_clip(report.actor, 200),
        user_agent=_clip(report.user_agent, 500), created_at=now)
    db.add(row)
    db.flush()
    audit.record(db, at=now, actor=report.actor or "anonymous", action="support.submitted",
                 subject_type="support_request", subject_id=row.reference,
                 organization_code=None, details={"request_id": row.request_id})
    return row


def _count_address(db: Session, address: str | None, now: datetime) -> None:
    if not address:
        return
    throttle.admit(db, [throttle.Key("support", address[:200], SUPPORT_PER_ADDRESS)], now,
                   code="too_many_support_requests",
                   refusal="С этого адреса только что отправлено несколько обращений. "
                           "Следующее можно отправить")


def _clip(value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def close(db: Session, *, reference: str, resolution: str, actor: str,
          now: datetime) -> SupportRequestRow:
    row = db.scalars(select(SupportRequestRow)
                     .where(SupportRequestRow.reference == reference)).first()
    if row is None:
        raise NotFound("support_request_not_found", f"Обращение «{reference}» не найдено.")
    if row.status == CLOSED:
        raise Conflict("support_request_closed", "Обращение уже закрыто.")
    if not resolution.strip():
        raise Unprocessable("empty_resolution", "Опишите, чем закончилось обращение.")
    row.status, row.closed_at, row.closed_by = CLOSED, now, actor
    row.resolution = resolution.strip()[:MAX_MESSAGE]
    audit.record(db, at=now, actor=actor, action="support.closed",
                 subject_type="support_request", subject_id=row.reference,
                 organization_code=None)
    return row


# The list says how many requests of a status there are up to this many («более 1000»): the
# closed ones are years of history, and a count of all of them would cost every page.
COUNT_MOST = 1000


def list_requests(db: Session, *, status: str, before: tuple[datetime, int] | None,
                  limit: int) -> tuple[list[SupportRequestRow], int]:
    """A page of requests of one status, newest first, older than ``before`` (its
    ``created_at`` and id: a keyset, one range of ``ix_support_requests_status_created`` at
    any depth); and how many requests of the status there are, counted up to
    ``COUNT_MOST + 1``."""
    r = SupportRequestRow
    where = [r.status == status]
    if before is not None:
        where.append(tuple_(r.created_at, r.id) < tuple_(*before))
    rows = db.scalars(select(r).where(*where).order_by(r.created_at.desc(), r.id.desc())
                      .limit(limit))
    upto = select(r.id).where(r.status == status).limit(COUNT_MOST + 1).subquery()
    total = db.scalar(select(func.count()).select_from(upto)) or 0
    return list(rows), total
