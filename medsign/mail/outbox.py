"""E-mail as durable work: a message is a runner work item (kind ``mail.send``) added in the
transaction of the change that needs it (the outbox pattern), sent by ``mail.flow``.

The item's ``data`` holds the message until it is sent — including a password reset link,
which exists nowhere else in the clear (the database keeps only its digest): the link the
patient gets is the one made when they asked, even if a worker dies mid-send and another
sends again. Once sent (or failed for good), the flow replaces the body with nothing but
the recipient, masked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.orm import Session

from medsign.db.models import WorkItemRow
from medsign.runner import store

KIND = "mail.send"
STEP = "send"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str  # plain text
    nonce: str = ""  # the Message-ID's unique part, made once when queued

    def as_data(self) -> dict[str, Any]:
        return {"to": self.to, "subject": self.subject, "body": self.body,
                "nonce": self.nonce or secrets.token_hex(16)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Mail:
        return cls(to=str(data["to"]), subject=str(data["subject"]), body=str(data["body"]),
                   nonce=str(data.get("nonce", "")))


def enqueue(db: Session, mail: Mail, *, ref: str, now: datetime) -> int:
    """Queue ``mail`` inside the caller's transaction; ``ref`` names what it is about."""
    return store.enqueue(db.connection(), kind=KIND, step=STEP, ref=ref[:100],
                         data=mail.as_data(), now=now)


def scrub(conn: Connection, item_id: int, data: dict[str, Any]) -> None:
    """Replace a failed item's message (it may hold a link) with ``data``."""
    conn.execute(update(WorkItemRow).where(WorkItemRow.id == item_id).values(data=data))


def mask_address(address: str) -> str:
    """``i***@example.ru``: enough for an operator to tell messages apart."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def message(mail: Mail, *, sender: str, now: datetime) -> EmailMessage:
    """The message as sent. Its ``Message-ID`` was fixed when it was queued, so a message
    sent twice (a worker died after the server accepted it) is one message to the mail
    servers and clients that remove duplicates."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(now)
    domain = sender.rpartition("@")[2].strip("> ") or "medsign.local"
    msg["Message-ID"] = f"<medsign-{mail.nonce or secrets.token_hex(16)}@{domain}>"
    msg.set_content(mail.body)
    return msg
