"""``signing.alert_mail``: one standing item (``store.ensure_singleton``, like housekeeping)
that looks for stalled transactions and mails the МО's operators about failed and stalled ones
(``signing.alert_mail.service``). Each run, in the transition's own commit (fenced by the
lease), first refreshes the active transactions that have no scheduled work at all
(``signing.alerts.watch``: what the console's badge and lists read), then handles one batch
of mail of each kind, and comes back after ``INTERVAL``. With no ``alert_emails`` or no
``[email]`` nothing is mailed or marked, so turning mail on later still reports what is failed
or stalled by then.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from medsign.clock import Clock
from medsign.config import ConsoleSettings
from medsign.runner.outcomes import Next, WorkItem
from medsign.runner.worker import StepContext
from medsign.signing.alert_mail.service import mail_alerts
from medsign.signing.alerts import watch

KIND = "signing.alert_mail"
STEP = "scan"
# A minute's delay is nothing next to ``stall_after`` (30 minutes by default); a batch of
# each kind a minute is far more than failures ever come in; the queries are light (the watch
# reads the active requests, the open work, not the history).
INTERVAL = timedelta(minutes=1)
log = logging.getLogger("medsign.signing.alert_mail")


class AlertMailFlow:
    kind = KIND

    def __init__(self, settings: ConsoleSettings, *, mail_enabled: bool, console_url: str,
                 clock: Clock) -> None:
        self.settings, self.clock = settings, clock
        self.mail_enabled, self.console_url = mail_enabled, console_url

    async def run(self, item: WorkItem, ctx: StepContext) -> Next:
        now = self.clock.now()
        mailing = self.mail_enabled and bool(self.settings.alert_emails)

        def apply(conn: Connection) -> None:
            with Session(bind=conn) as db:
                unattended = watch(db, now=now)
                queued = mail_alerts(
                    db, alert_emails=self.settings.alert_emails, now=now,
                    stall_after=self.settings.stall_after,
                    console_url=self.console_url) if mailing else 0
                db.commit()  # the session's savepoint; the runner commits under the lease
            if unattended:
                log.warning("signing requests with no scheduled work: %d", unattended)
            if queued:
                log.info("signing alert mails queued: %d", queued)
        return Next(STEP, delay=INTERVAL, apply=apply)

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        log.error("signing alert mail stopped: %s", reason)
