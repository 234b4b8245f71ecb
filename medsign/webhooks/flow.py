"""``webhook.deliver``: POST one delivery to its endpoint, signed per Standard Webhooks.

Headers: ``webhook-id`` (the delivery's id — the same on every retry and replay),
``webhook-timestamp`` (this attempt, Unix seconds) and ``webhook-signature`` made by the
``standardwebhooks`` library with the endpoint's secret. A 2xx answer delivers; anything
else — another status, a redirect (never followed), a timeout, a refused connection — is
stored as an attempt and retried after an exponential backoff with jitter, for as long as
the endpoint is active. An endpoint that keeps failing longer than ``webhooks.disable_after``
is disabled (the rule in ``medsign.domain.webhooks``); its pending deliveries then stop.

In production every attempt first resolves the endpoint's name and refuses, without
connecting, a name that now points into the server's own network (``Targets.refusal``): the
check at creation sees only what is written in the URL. A name that changes its answer
between this check and the connection (DNS rebinding within seconds) is not caught; the
firewall rules in ``docs/deployment.md`` are the second line.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import urllib.parse
from datetime import datetime

import httpx
from sqlalchemy import Connection
from standardwebhooks import Webhook

from medsign.clock import Clock
from medsign.config import WebhookSettings
from medsign.domain import webhooks as rules
from medsign.runner.backoff import backoff_delay
from medsign.runner.outcomes import Done, Next, WorkItem
from medsign.runner.worker import StepContext
from medsign.webhooks import outbox

log = logging.getLogger("medsign.webhooks")
USER_AGENT = "medsign-webhooks/1"
ERROR_LIMIT = 500


def headers(*, message_id: str, secret: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, at, body),
            "content-type": "application/json", "user-agent": USER_AGENT}


class WebhookFlow:
    kind = outbox.KIND

    def __init__(self, settings: WebhookSettings, clock: Clock, *,
                 targets: rules.Targets | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings, self.clock, self.transport = settings, clock, transport
        self.targets = targets or rules.Targets()

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        ref = item.ref or ""
        loaded = await ctx.read(lambda conn: outbox.load(conn, ref))
        if loaded is None or loaded.delivery_state != outbox.PENDING:
            return Done(status="cancelled")
        if loaded.endpoint_state != outbox.ACTIVE:
            return Done(status="cancelled",
                        apply=lambda conn: outbox.stop(conn, loaded.delivery_id))
        attempt = await self._post(loaded)
        settings = self.settings

        def apply(conn: Connection) -> None:
            outbox.record(conn, loaded, attempt, disable_after=settings.disable_after)

        if attempt.delivered:
            log.info("webhook delivery %s delivered (%s)", loaded.delivery_id,
                     attempt.status_code)
            return Done(apply=apply)
        delay = backoff_delay(loaded.attempts + 1, base=settings.backoff_base,
                              cap=settings.backoff_cap)
        log.warning("webhook delivery %s to endpoint %s failed: %s; again in %s",
                    loaded.delivery_id, loaded.endpoint_id,
                    attempt.error or attempt.status_code, delay)
        return Next(outbox.STEP, delay=delay, apply=apply)

    async def _post(self, loaded: outbox.Loaded) -> outbox.Attempt:
        at = self.clock.now()
        started = time.monotonic()
        status: int | None = None
        received = b""
        error = await self._refusal(loaded.url)
        if error is None:
            sent = headers(message_id=rules.message_id(loaded.delivery_id),
                           secret=loaded.secret, at=at, body=loaded.body)
            status, received, error = await self._send(loaded, sent)
        duration = int((time.monotonic() - started) * 1000)
        if status is not None and not 200 <= status < 300 and error is None:
            error = f"HTTP {status}"
        return outbox.Attempt(at=at, status_code=status, duration_ms=duration,
                              response_excerpt=rules.excerpt(received) if received else None,
                              error=error)

    async def _send(self, loaded: outbox.Loaded,
                    sent: dict[str, str]) -> tuple[int | None, bytes, str | None]:
        """The receiver's status and the start of its answer, or the transport's error."""
        status: int | None = None
        received = b""
        try:
            async with httpx.AsyncClient(timeout=self.settings.timeout.total_seconds(),
                                         follow_redirects=False, transport=self.transport,
                                         trust_env=False) as client, \
                    client.stream("POST", loaded.url, content=loaded.body.encode(),
                                  headers=sent) as answer:
                status = answer.status_code
                async for chunk in answer.aiter_bytes():
                    received += chunk
                    if len(received) >= rules.EXCERPT_BYTES:
                        break
        except httpx.HTTPError as exc:
            error = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return status, received, error[:ERROR_LIMIT]
        return status, received, None

    async def _refusal(self, url: str) -> str | None:
        """Why this attempt must not connect: the name resolves into an internal network
        (production only). A name that does not resolve is left to the connection, whose
        error is the clearer one."""
        if not self.targets.production:
            return None
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        refusal = rules.host_refusal(host, allowed=self.targets.allowed)
        if refusal is not None or rules.literal_address(host) is not None:
            return refusal
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM)
        except OSError:
            return None
        addresses = [rules.literal_address(str(info[4][0]).split("%", 1)[0]) for info in found]
        return self.targets.refusal(a for a in addresses if a is not None)

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        log.error("webhook delivery %s failed for good: %s", item.ref, reason)
