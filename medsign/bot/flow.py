"""The MAX bot as runner steps: invitations, outgoing messages, incoming updates, polling.

Kinds of work:

- ``max.notify`` — the day-before invitation of one appointment (``notifications.service``);
- ``max.message`` — one outgoing message or edit (replies, final messages, follow-ups);
- ``max.update`` — one incoming update: ``handle`` decides and commits (linking, the patient's
  choice, starting signing), ``reply`` answers the button or writes back;
- ``max.poll`` — long polling, when ``max.updates = "polling"``: the marker lives in the item
  and moves only in the transaction that stores the batch it acknowledges;
- ``max.subscribe`` — keeps the webhook subscription, when ``max.updates = "webhook"``.

MAX has no idempotency keys. A send records "call started" first; a step that finds its own
record from a crashed attempt looks for the message in the chat before sending it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from medsign.bot import links as max_links
from medsign.bot import repository
from medsign.bot import updates as max_updates
from medsign.clock import Clock
from medsign.db.models import NotificationRow
from medsign.domain import bot
from medsign.integrations.max.client import MaxClient, MaxRejected, MaxTransient
from medsign.integrations.max.schemas import CallbackButton, LinkButton, RequestContactButton
from medsign.notifications import service as notifications
from medsign.notifications.service import NotificationPolicy
from medsign.runner.outcomes import Done, Next, PermanentError, TransientError, WorkItem
from medsign.runner.worker import StepContext

log = logging.getLogger("medsign.bot.flow")
# The error code of a send MAX refused with 429 (so nothing was sent).
SEND_REFUSED = "max_send_refused"
T = TypeVar("T")
Keyboard = list[list[Any]] | None


def keyboard(kind: str, *, token: str | None, goskey_url: str) -> Keyboard:
    """The buttons of a message by name: the choice, the Goskey link, the contact request,
    the confirmation of a new MAX account."""
    if kind == "choice" and token:
        return [[CallbackButton(bot.SIGN_BUTTON, bot.payload(bot.Choice.sign, token)),
                 CallbackButton(bot.PAPER_BUTTON, bot.payload(bot.Choice.paper, token))]]
    if kind == "relink" and token:
        return [[CallbackButton(bot.RELINK_YES_BUTTON,
                                bot.relink_payload(bot.RelinkAnswer.yes, token)),
                 CallbackButton(bot.RELINK_NO_BUTTON,
                                bot.relink_payload(bot.RelinkAnswer.no, token))]]
    if kind == "goskey":
        return [[LinkButton(bot.GOSKEY_BUTTON, goskey_url)]]
    if kind == "contact":
        return [[RequestContactButton(bot.SHARE_CONTACT_BUTTON)]]
    return None


async def calling(fn: Awaitable[T]) -> T:
    """Map the platform's errors onto the runner's: retry what may pass, stop on the rest."""
    try:
        return await fn
    except MaxTransient as exc:
        raise TransientError(exc.message, code="max_unavailable",
                             retry_after=exc.retry_after) from exc
    except MaxRejected as exc:
        if exc.chat_denied:
            raise
        raise PermanentError(f"MAX отклонил запрос: {exc.code}: {exc.message}",
                             code=f"max_{exc.code}") from exc


def mark_unreachable(user_id: int, now: datetime) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        with Session(bind=conn) as db:
            max_links.mark_unreachable(db, user_id=user_id, now=now)
            db.commit()
    return apply


@dataclass
class MaxDeps:
    client: MaxClient
    clock: Clock
    policy: NotificationPolicy

    async def send_once(self, ctx: StepContext, *, user_id: int, chat_id: int | None,
                        text: str, buttons: Keyboard, marker: str,
                        upload: Callable[[], Awaitable[str]] | None = None
                        ) -> tuple[str, int | None]:
        """Send a message unless a crashed attempt already did; return (mid, chat_id).

        ``upload`` makes a file message: called only when the message is to be sent (so a
        message found in the chat costs no upload), it uploads the file and returns its token;
        the message carries that file instead of buttons. An upload of a crashed attempt is
        simply repeated — an unused upload is harmless, a second message is not.

        A retry looks in the chat first — unless the last attempt's send was refused with
        429: MAX sent nothing then, and that attempt had already looked. Looking again would
        spend on ``GET /messages`` the request the send needs, and on a platform kept at its
        limit the send would be refused again every time.
        """
        if ctx.item.call_key is not None and chat_id is not None and \
                not (ctx.item.last_error or "").startswith(f"{SEND_REFUSED}:"):
            found = await self._find(ctx, chat_id, marker)
            if found is not None:
                log.info("message of a crashed attempt found in the chat; not sending again")
                return found, chat_id
        token = await upload() if upload is not None else None
        await ctx.rate_limit("max")
        await ctx.rate_limit("max_chat", str(user_id))
        await ctx.begin_call(ctx.idempotency_key())
        try:
            sent = await calling(
                self.client.send_file(user_id=user_id, text=text, token=token)
                if token is not None else
                self.client.send_message(user_id=user_id, text=text, keyboard=buttons))
        except TransientError as exc:
            cause = exc.__cause__
            if isinstance(cause, MaxTransient) and cause.status == 429:
                raise TransientError(exc.message, code=SEND_REFUSED,
                                     retry_after=exc.retry_after) from cause
            raise
        return sent.mid, sent.chat_id

    async def _find(self, ctx: StepContext, chat_id: int, marker: str) -> str | None:
        await ctx.rate_limit("max")
        since = (ctx.item.call_started_at or ctx.clock.now()) - timedelta(seconds=5)
        for message in await calling(self.client.list_messages(chat_id=chat_id, count=20)):
            body = message.get("body") or {}
            if message.get("timestamp", 0) >= since.timestamp() * 1000 and \
                    marker in repr(body):
                return str(body.get("mid"))
        return None


class NotifyFlow:
    """``max.notify``: send one appointment's invitation, once."""

    kind = notifications.NOTIFY_KIND

    def __init__(self, deps: MaxDeps) -> None:
        self.deps = deps

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        loaded = await ctx.read(lambda conn: _load_notification(conn, int(item.ref or 0)))
        if loaded is None:
            return Done("cancelled")
        row, context = loaded
        reason = notifications.eligible(context)
        if row.state != "scheduled" or reason is not None:
            return Done("cancelled", apply=_set_state(row.id, "skipped", reason, self.deps.clock))
        user_id = context.patient.max_user_id
        if user_id is None:  # eligible() gives a reason for a patient without MAX
            raise RuntimeError(f"notification {row.id}: the patient has no MAX account")
        buttons = keyboard("choice", token=row.token, goskey_url=self.deps.policy.goskey_bot_url)
        try:
            mid, chat_id = await self.deps.send_once(
                ctx, user_id=user_id, chat_id=context.patient.max_chat_id,
                text=notifications.invitation_text(context), buttons=buttons, marker=row.token)
        except MaxRejected as exc:  # chat.denied: the patient stopped the bot
            now = self.deps.clock.now()
            return Done("cancelled", apply=_both(
                mark_unreachable(user_id, now),
                _set_state(row.id, "undeliverable", f"MAX: {exc.code}", self.deps.clock)))
        return Done(apply=_sent(row.id, user_id, mid, chat_id, context.appointment.starts_at,
                                self.deps.clock.now()))

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        _set_state(int(item.ref or 0), "failed", reason, self.deps.clock)(conn)


def _load_notification(conn: Connection, notification_id: int
                       ) -> tuple[NotificationRow, notifications.Context] | None:
    with Session(bind=conn) as db:
        found = notifications.invitation(db, notification_id)
        db.expunge_all()
    return found


def _set_state(notification_id: int, state: str, reason: str | None,
               clock: Clock) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        with Session(bind=conn) as db:
            notifications.settle(db, notification_id=notification_id, state=state,
                                 reason=reason, now=clock.now())
            db.commit()
    return apply


def _sent(notification_id: int, user_id: int, mid: str, chat_id: int | None,
          announced: datetime, now: datetime) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        with Session(bind=conn) as db:
            notifications.mark_sent(db, notification_id=notification_id, user_id=user_id,
                                    mid=mid, chat_id=chat_id, announced=announced, now=now)
            db.commit()
    return apply


def _both(*applies: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        for fn in applies:
            fn(conn)
    return apply


class MessageFlow:
    """``max.message``: one outgoing message or edit, described by the item's data."""

    kind = notifications.MESSAGE_KIND

    def __init__(self, deps: MaxDeps) -> None:
        self.deps = deps

    async def run(self, item: WorkItem, ctx: StepContext) -> Done:
        d = item.data
        buttons = keyboard(d.get("buttons", "none"), token=d.get("token"),
                           goskey_url=self.deps.policy.goskey_bot_url)
        try:
            if d.get("edit_mid"):
                await ctx.rate_limit("max")
                await calling(self.deps.client.edit_message(d["edit_mid"], text=d["text"],
                                                            keyboard=buttons))
                return Done()
            chat_id = await ctx.read(
                lambda conn: repository.chat_of(conn, user_id=int(d["user_id"])))
            await self.deps.send_once(ctx, user_id=int(d["user_id"]), chat_id=chat_id,
                                      text=d["text"], buttons=buttons, marker=d["text"][:60])
        except MaxRejected as exc:
            log.warning("message not delivered: %s", exc.code)
            return Done("cancelled", apply=mark_unreachable(int(d["user_id"]),
                                                            self.deps.clock.now()))
        return Done()

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        """A message that could not be sent stays visible to operators as a failed item."""


class UpdateFlow:
    """``max.update``: decide what an incoming update means, then answer it."""

    kind = max_updates.UPDATE_KIND

    def __init__(self, deps: MaxDeps, handler: max_updates.Handler) -> None:
        self.deps = deps
        self.handler = handler

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        update_id = int(item.ref or 0)
        if item.step == "handle":
            return Next("reply", apply=handling(self.handler, update_id))
        outcome = await ctx.read(lambda conn: repository.update_outcome(conn, update_id=update_id))
        await self._reply(ctx, outcome or {})
        return Done()

    async def _reply(self, ctx: StepContext, outcome: dict[str, Any]) -> None:
        answer, send = outcome.get("answer"), outcome.get("send")
        try:
            if answer:
                await self._answer(ctx, answer)
            if send:
                buttons = keyboard(send.get("buttons", "none"), token=send.get("token"),
                                   goskey_url=self.deps.policy.goskey_bot_url)
                await self.deps.send_once(ctx, user_id=send["user_id"],
                                          chat_id=send.get("chat_id"), text=send["text"],
                                          buttons=buttons, marker=send["text"][:60])
        except MaxRejected as exc:
            log.warning("reply not delivered: %s", exc.code)

    async def _answer(self, ctx: StepContext, answer: dict[str, Any]) -> None:
        buttons = keyboard(answer.get("buttons", "none"), token=None,
                           goskey_url=self.deps.policy.goskey_bot_url)
        await ctx.rate_limit("max")
        if answer.get("user_id") is not None:  # MAX also limits answers per chat (2/s)
            await ctx.rate_limit("max_chat", f"answers:{answer['user_id']}")
        if answer.get("text") is None:
            await calling(self.deps.client.answer_callback(
                answer["callback_id"], notification=answer["toast"]))
            return
        await calling(self.deps.client.answer_callback(
            answer["callback_id"], notification=answer.get("toast"), text=answer["text"],
            keyboard=buttons))

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        """Nothing to undo: the decision (if any) was committed by ``handle``."""


def handling(handler: max_updates.Handler, update_id: int) -> Callable[[Connection], None]:
    """The ``handle`` step's ``apply``: the handler decides, the step commits."""
    def apply(conn: Connection) -> None:
        with Session(bind=conn, expire_on_commit=False) as db:
            handler.handle(db, update_id)
            db.commit()
    return apply


class PollFlow:
    """``max.poll``: long polling; the marker moves with the stored batch, never before."""

    kind = max_updates.POLL_KIND

    def __init__(self, deps: MaxDeps, *, timeout: int = 25) -> None:
        self.deps = deps
        self.timeout = timeout

    async def run(self, item: WorkItem, ctx: StepContext) -> Next:
        if item.step == "start":  # polling and a webhook exclude each other
            for sub in await calling(self.deps.client.subscriptions()):
                await calling(self.deps.client.unsubscribe(str(sub.get("url"))))
            return Next("poll")
        await ctx.rate_limit("max")
        batch = await calling(self.deps.client.get_updates(
            marker=item.data.get("marker"), timeout=self.timeout))
        raws = [u.raw for u in batch.updates]
        marker = batch.marker if batch.marker is not None else item.data.get("marker")
        now = self.deps.clock.now()
        return Next("poll", data={"marker": marker},
                    apply=lambda conn: max_updates.ingest_many(conn, raws, via="polling",
                                                               now=now))

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        log.error("MAX long polling stopped: %s", reason)


class SubscribeFlow:
    """``max.subscribe``: make sure the webhook subscription exists; re-check hourly."""

    kind = max_updates.SUBSCRIBE_KIND

    def __init__(self, deps: MaxDeps, *, url: str, secret: str) -> None:
        self.deps, self.url, self.secret = deps, url, secret

    async def run(self, item: WorkItem, ctx: StepContext) -> Next:
        current = await calling(self.deps.client.subscriptions())
        if not any(sub.get("url") == self.url for sub in current):
            await calling(self.deps.client.subscribe(self.url, secret=self.secret))
            log.info("subscribed to MAX updates at %s", self.url)
        return Next("subscribe", delay=timedelta(hours=1))

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        log.error("MAX webhook subscription failed: %s", reason)
