"""The emulated platform apart from HTTP: one bot, its users' dialogs, its update queue.

:class:`Emulator` holds the state and the rules shared by the bot's API
(:mod:`messaging`, :mod:`webhooks`) and the users' acts (:mod:`people`). Errors are
:class:`PlatformError` — status, the platform's dotted code, message — or
:class:`~medsign.integrations.max.emulator.validation.ProtoPayload` (400 ``proto.payload``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from medsign.integrations.max.emulator.config import EmulatorConfig
from medsign.integrations.max.emulator.limits import Limits
from medsign.integrations.max.emulator.model import LOCALE, StoredMessage, Uploads, User
from medsign.integrations.max.emulator.store import STATE_FILE, Store
from medsign.integrations.max.emulator.webhooks import Deliverer


class PlatformError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str) -> PlatformError:
    return PlatformError(404, "not.found", f"{what} not found")


def chat_denied(reason: str, subject: int) -> PlatformError:
    """``reason``: ``notfound`` (never started) or ``suspended`` (stopped the bot)."""
    return PlatformError(403, "chat.denied", f"Key: error.dialog.{reason}, args: [{subject},].")


def access_denied(message: str) -> PlatformError:
    return PlatformError(403, "access.denied", message)


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        path = None
        if config.state_dir is not None:
            config.state_dir.mkdir(parents=True, exist_ok=True)
            path = config.state_dir / STATE_FILE
        self.store = Store(path, self.now_ms, int(config.update_ttl_s * 1000))
        self.limits = Limits(config)
        self.webhooks = Deliverer(self)
        self.idempotency_keys: set[str] = set()
        self.uploads = Uploads()

    def now_ms(self) -> int:
        return self.config.now_ms()

    # --- the bot --------------------------------------------------------------------------

    def bot_wire(self) -> dict[str, Any]:
        config = self.config
        return {"user_id": config.bot_user_id, "first_name": config.bot_name,
                "username": config.bot_username, "is_bot": True,
                "last_activity_time": self.now_ms(), "name": config.bot_name}

    def me(self) -> dict[str, Any]:
        return {**self.bot_wire(), "description": None, "avatar_url": None,
                "full_avatar_url": None, "commands": None}

    def deep_link(self, payload: str | None = None) -> str:
        base = f"https://max.ru/{self.config.bot_username}"
        return f"{base}?start={payload}" if payload else base

    # --- dialogs --------------------------------------------------------------------------

    def user(self, user_id: int) -> User:
        found = self.store.users.get(user_id)
        if found is None:
            raise not_found("user")
        return found

    def reachable(self, *, user_id: int | None, chat_id: int | None) -> User:
        """The user a bot message goes to, if the dialog is open; else ``chat.denied``."""
        store = self.store
        found = (store.users.get(user_id) if user_id is not None
                 else store.user_by_chat(chat_id) if chat_id is not None else None)
        subject = user_id if user_id is not None else chat_id or 0
        if found is None or found.state == "new":
            raise chat_denied("notfound", subject)
        if found.state == "stopped":
            raise chat_denied("suspended", subject)
        return found

    def message_wire(self, message: StoredMessage) -> dict[str, Any]:
        return message.wire(self.bot_wire(), self.store.users[message.user_id])

    def new_message(self, user: User, *, from_bot: bool, text: str | None,
                    attachments: list[dict[str, Any]], format: str | None = None
                    ) -> StoredMessage:
        now = self.now_ms()
        seq = self.store.ids.seq(now)
        message = StoredMessage(mid=self.store.ids.mid(user.chat_id, seq), seq=seq,
                                chat_id=user.chat_id, user_id=user.user_id, from_bot=from_bot,
                                timestamp=now, text=text, attachments=attachments,
                                format=format)
        self.store.messages[message.mid] = message
        return message

    # --- updates --------------------------------------------------------------------------

    def emit(self, update_type: str, actor: User, **fields: Any) -> dict[str, Any]:
        """Queue an update for the bot (and wake long polls and the webhook sender)."""
        body = {"update_type": update_type, "timestamp": self.now_ms(), **fields,
                "user_locale": LOCALE}
        self.store.log.append(body)
        self.store.count("updates_created")
        actor.last_activity_time = body["timestamp"]
        self.webhooks.kick()
        return body

    # --- housekeeping ---------------------------------------------------------------------

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Save the state after a change, even a partial one."""
        try:
            yield
        finally:
            self.store.save()

    def configure(self, changes: dict[str, Any]) -> None:
        self.config = self.config.with_runtime_changes(changes)
        self.limits.configure(self.config)

    def reset(self) -> None:
        self.webhooks.stop()
        self.store.reset()
        self.uploads = Uploads()
        self.limits.configure(self.config)

    def stats(self) -> dict[str, Any]:
        counted = dict(self.store.stats)
        by_limit = {k.split(":", 1)[1]: v for k, v in counted.items() if k.startswith("429:")}
        names = ("messages_sent", "messages_edited", "messages_deleted", "callbacks_answered",
                 "notifications", "updates_created", "webhook_deliveries", "webhook_failures",
                 "webhook_unsubscribed", "webhook_dropped", "repeated_idempotency_keys",
                 "upload_urls", "files_uploaded", "attachments_not_ready")
        return {"requests": dict(self.store.requests),
                "too_many_requests": sum(by_limit.values()),
                "too_many_requests_by_limit": by_limit,
                **{name: counted.get(name, 0) for name in names},
                "pending_updates": len(self.store.log.pending),
                "users": len(self.store.users), "messages": len(self.store.messages)}

    async def aclose(self) -> None:
        await self.webhooks.aclose()
        self.store.save()
