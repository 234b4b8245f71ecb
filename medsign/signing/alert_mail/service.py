"""E-mail to the МО's operators when a signing transaction fails or stalls
(``[console] alert_emails``, ``domain.alerts``).

One pass takes a bounded batch of requests that raise an alert of some kind and have not
been mailed about it, oldest id first. For each it inserts the marker
(``signing_alert_mails``; one that is already there — another worker got there first —
means skip) and queues one mail per recipient through the outbox, in the caller's
transaction: the marker and the mails are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, exists
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from medsign.db.models import OrganizationRow, PatientRow, SigningAlertMailRow, SigningRequestRow
from medsign.domain.alerts import AlertFacts, AlertKind, alert_mail, recipients
from medsign.domain.signing import SigningState
from medsign.mail import outbox
from medsign.mail.outbox import Mail
from medsign.records.patients import full_name
from medsign.signing.alerts import latest_item_query, parts

BATCH = 100


def _pending(db: Session, kind: AlertKind, *, now: datetime, stall_after: timedelta,
             codes: Sequence[str] | None, limit: int) -> list[Any]:
    marked = exists().where(SigningAlertMailRow.request_id == SigningRequestRow.id,
                            SigningAlertMailRow.kind == kind.value)
    found: list[Any] = []
    for part in parts(kind, now, stall_after):
        query = (latest_item_query().add_columns(OrganizationRow.name, OrganizationRow.timezone,
                                                 PatientRow)
                 .where(part, ~marked))
        if codes is not None:
            query = query.where(OrganizationRow.code.in_(codes))
        found += db.execute(query.order_by(SigningRequestRow.id).limit(limit)).all()
    return sorted(found, key=lambda r: r[0].id)[:limit]


def _mark(db: Session, request_id: str, kind: AlertKind, now: datetime) -> bool:
    """Insert the marker; False when it is already there."""
    table = cast(Table, SigningAlertMailRow.__table__)
    dialect_insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    done = db.execute(dialect_insert(table).values(request_id=request_id, kind=kind.value,
                                                   created_at=now)
                      .on_conflict_do_nothing(index_elements=["request_id", "kind"]))
    return bool(cast(Any, done).rowcount)


def mail_alerts(db: Session, *, alert_emails: Mapping[str, Sequence[str]], now: datetime,
                stall_after: timedelta, console_url: str, batch: int = BATCH) -> int:
    """Mark and mail one batch of new alerts of each kind, in ``db``'s transaction: how many
    mails were queued."""
    if not alert_emails:
        return 0
    # "*" covers every МО; otherwise only the МО that have addresses.
    codes = None if "*" in alert_emails else list(alert_emails)
    queued = 0
    for kind in AlertKind:
        found = _pending(db, kind, now=now, stall_after=stall_after, codes=codes,
                         limit=batch)
        for row, _appt, code, _patient_ext, starts_at, org_name, tz, patient in found:
            to = recipients(alert_emails, code)
            if not to or not _mark(db, row.id, kind, now):
                continue
            facts = AlertFacts(request_id=row.id, organization_name=org_name,
                               patient_name=full_name(patient),
                               appointment_local=starts_at.astimezone(ZoneInfo(tz)),
                               state_title=SigningState(row.state).title, reason=row.reason)
            subject, body = alert_mail(kind, facts, console_url=console_url)
            for address in to:
                outbox.enqueue(db, Mail(to=address, subject=subject, body=body),
                               ref=f"alert:{kind.value}:{row.id}", now=now)
                queued += 1
    return queued
