"""``mail.send``: one e-mail (``mail.outbox``) sent through SMTP (``integrations.smtp``).

A temporary failure (unreachable server, a 4xx reply) is retried with the runner's backoff;
a 5xx reply fails the item at once (operators see it and may retry). Either way, once the
item ends its body — which may hold a one-time link — is dropped from the database.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from medsign.clock import Clock
from medsign.integrations.smtp import MailRejected, MailUnavailable, SmtpSender
from medsign.mail.outbox import KIND, Mail, mask_address, message, scrub
from medsign.runner.outcomes import Done, PermanentError, TransientError, WorkItem
from medsign.runner.worker import StepContext

log = logging.getLogger("medsign.mail")


def _spent(item: WorkItem) -> dict[str, object]:
    return {"to": mask_address(str(item.data.get("to", ""))),
            "subject": item.data.get("subject")}


class MailFlow:
    kind = KIND

    def __init__(self, sender: SmtpSender, *, from_address: str, clock: Clock) -> None:
        self.sender, self.from_address, self.clock = sender, from_address, clock

    async def run(self, item: WorkItem, ctx: StepContext) -> Done:
        if "body" not in item.data:  # already sent and scrubbed: nothing to do
            return Done()
        mail = Mail.from_data(item.data)
        if item.call_started_at is None:  # for the operators: a send was tried
            await ctx.begin_call(ctx.idempotency_key())
        msg = message(mail, sender=self.from_address, now=self.clock.now())
        try:
            await self.sender.send(msg)
        except MailUnavailable as exc:
            raise TransientError(str(exc), code="smtp_unavailable") from exc
        except MailRejected as exc:
            raise PermanentError(str(exc), code="smtp_rejected") from exc
        log.info("mail %s sent to %s", item.id, mask_address(mail.to))
        return Done(data=_spent(item))

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        scrub(conn, item.id, _spent(item))
        log.error("mail %s to %s not sent: %s", item.id,
                  mask_address(str(item.data.get("to", ""))), reason)
