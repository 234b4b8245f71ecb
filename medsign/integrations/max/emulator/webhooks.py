"""Webhook subscriptions and delivery (spec §6.2).

One sender task per bot takes the head of the update queue and POSTs it — one ``Update`` per
request, ``X-Max-Bot-Api-Secret`` when a secret was given — and moves on only after an answer
of exactly ``200``; so deliveries stay in order. A failure is retried after 60 s, 150 s,
375 s, … (×2.5, at most 10 retries); with no success for 8 hours the bot is unsubscribed and
the update stays queued (for long polling). All those times are multiplied by
``webhook_time_scale``. If the retries run out first, the update is dropped [UNCONFIRMED].
Assumptions: one subscription per bot (a new URL replaces the old one); update types the
subscription does not want are skipped.

The module sits below :mod:`core`, whose ``Emulator`` owns a :class:`Deliverer`: it sees the
emulator only as a :class:`Platform`, so nothing here imports the core back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from collections import deque
from contextlib import AbstractContextManager
from typing import Any, Protocol

import httpx

from medsign.integrations.max.emulator.config import EmulatorConfig
from medsign.integrations.max.emulator.model import Subscription
from medsign.integrations.max.emulator.store import Store
from medsign.integrations.max.emulator.updates import Queued
from medsign.integrations.max.emulator.validation import ProtoPayload, check_schema

SECRET_HEADER = "X-Max-Bot-Api-Secret"
ATTEMPTS_KEPT = 200


class Platform(Protocol):
    """What webhooks use of the emulated platform (``core.Emulator`` is one)."""

    config: EmulatorConfig
    store: Store
    webhooks: Deliverer

    def now_ms(self) -> int: ...

    def changing(self) -> AbstractContextManager[None]: ...


def subscribe(emulator: Platform, body: Any) -> None:
    check_schema(body, "SubscriptionRequestBody")
    url = body["url"]
    _check_url(url, insecure=emulator.config.insecure_webhooks)
    with emulator.changing():
        emulator.store.subscription = Subscription(
            url=url, secret=body.get("secret"), update_types=body.get("update_types"),
            time=emulator.now_ms())
    emulator.webhooks.restart()


def unsubscribe(emulator: Platform, url: str) -> None:
    current = emulator.store.subscription
    if current is not None and current.url == url:
        with emulator.changing():
            emulator.store.subscription = None
        emulator.webhooks.stop()


def _check_url(url: str, *, insecure: bool) -> None:
    parts = urllib.parse.urlsplit(url)
    schemes = ("https", "http") if insecure else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ProtoPayload("url: must be an https:// URL" +
                           (" (or http:// here)" if insecure else ""))
    try:
        port = parts.port
    except ValueError:
        raise ProtoPayload("url: invalid port") from None
    if not insecure and port not in (None, 443):
        raise ProtoPayload("url: only port 443 is supported")


class Deliverer:
    def __init__(self, emulator: Platform) -> None:
        self.emulator = emulator
        self.attempts: deque[dict[str, Any]] = deque(maxlen=ATTEMPTS_KEPT)
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Make sure a sender runs while there is a subscription (needs a running loop)."""
        if self.emulator.store.subscription is None:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def restart(self) -> None:
        self.stop()
        self.kick()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        config = self.emulator.config
        async with httpx.AsyncClient(transport=config.webhook_transport,
                                     timeout=config.webhook_timeout_s,
                                     follow_redirects=False) as http:
            while (subscription := self.emulator.store.subscription) is not None:
                queued = self.emulator.store.log.head()
                if queued is None:
                    await self.emulator.store.log.wait(None)
                elif not subscription.wants(queued.update_type):
                    self._done(queued)
                elif not await self._deliver(http, subscription, queued):
                    return

    async def _deliver(self, http: httpx.AsyncClient, subscription: Subscription,
                       queued: Queued) -> bool:
        """``False`` when the subscription was dropped for failing too long."""
        loop = asyncio.get_running_loop()
        config = self.emulator.config
        give_up_at = loop.time() + config.webhook_give_up_s * config.webhook_time_scale
        for delay in [0.0, *config.retry_delays()]:
            if loop.time() + delay > give_up_at:
                await asyncio.sleep(max(0.0, give_up_at - loop.time()))
                self._give_up(subscription)
                return False
            await asyncio.sleep(delay)
            if await self._post(http, subscription, queued):
                self._done(queued)
                return True
        self.emulator.store.count("webhook_dropped")
        self._done(queued)
        return True

    async def _post(self, http: httpx.AsyncClient, subscription: Subscription,
                    queued: Queued) -> bool:
        headers = {"Content-Type": "application/json"}
        if subscription.secret:
            headers[SECRET_HEADER] = subscription.secret
        record: dict[str, Any] = {"url": subscription.url, "number": queued.number,
                                  "update_type": queued.update_type,
                                  "at": self.emulator.now_ms()}
        try:
            response = await http.post(subscription.url, headers=headers,
                                       content=json.dumps(queued.body, ensure_ascii=False))
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        ok = record.get("status") == 200
        self.attempts.append(record)
        self.emulator.store.count("webhook_deliveries" if ok else "webhook_failures")
        return ok

    def _done(self, queued: Queued) -> None:
        with self.emulator.changing():
            self.emulator.store.log.commit(queued.number + 1)

    def _give_up(self, subscription: Subscription) -> None:
        store = self.emulator.store
        if store.subscription is subscription:
            with self.emulator.changing():
                store.subscription = None
                store.count("webhook_unsubscribed")
        self._task = None
