"""Typed async client of the MAX Bot API (spec ``max-bot-api.md``).

One ``httpx.AsyncClient`` per instance, one method per endpoint, one response handler that maps
every failure to an exception of this tree::

    MaxError                     .message
    ├── MaxTransient             timeout, connection error, 429, 5xx (incl. 503)
    │                            .retry_after (seconds from Retry-After, 429 only), .status
    └── MaxRejected              any other non-2xx, ``{"success": false}``, or a 2xx answer
                                 we cannot read; .status, .code (the server's dotted code:
                                 "chat.denied", "proto.payload", "verify.token", …;
                                 "http_<status>", "request.failed", "malformed_response"),
                                 .message; .chat_denied — the user never started the bot
                                 or stopped it (403 chat.denied)

Files (spec §"uploads"): ``upload_file`` asks ``POST /uploads?type=file`` for an upload URL,
posts the bytes there as ``multipart/form-data`` (field ``data``) and returns the token of the
uploaded file; ``send_file`` attaches it (``{"type": "file", "payload": {"token": …}}``, the only
attachment of its message). MAX processes a file before it can be attached and answers
``400 attachment.not.ready`` meanwhile: ``send_file`` pauses and tries again (pauses from
``ready_pauses``), then gives up with :class:`MaxTransient` (``attachment.not.ready``,
``retry_after`` ``NOT_READY_RETRY_S``); the same token may be sent again later.
A file larger than ``MAX_FILE_BYTES`` is refused before any call (``MaxRejected``
``file.too.big``).

Retry ``MaxTransient`` with backoff (honour ``retry_after``); a ``MaxRejected`` is permanent for
that request. The token goes raw into ``Authorization`` (no ``Bearer``, never in the query).
Messages are identified by ``body.mid`` only (``seq`` is not an id). An optional
``on_call(method, outcome, seconds)`` hook sees every call; ``outcome`` is ``"ok"``,
``"transient"`` or ``"rejected"``.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from medsign.integrations.http import (
    ApiClient,
    ApiError,
    ApiRejected,
    ApiTransient,
    CallHook,
    ErrorMap,
    http_client,
    segment,
)
from medsign.integrations.max.schemas import (
    KEEP,
    BotInfo,
    Keep,
    Keyboard,
    SentMessage,
    UpdateBatch,
    keyboard_attachment,
    parse_update,
    user_name,
)

_POLL_MARGIN_S = 10.0
# The platform's limit of one file (POST /uploads, type=file: "до 4 ГБ").
MAX_FILE_BYTES = 4 * 1024 ** 3
NOT_READY = "attachment.not.ready"
# Pauses before sending a just-uploaded file again while MAX still processes it (growing, as
# MAX advises); the runner retries the step after the last one.
READY_PAUSES = (0.5, 1.0, 2.0)
# ... and how long the runner waits before it tries again (``retry_after`` of that error).
NOT_READY_RETRY_S = 10.0


class MaxError(ApiError):
    """Any error of the MAX Bot API client."""


class MaxTransient(MaxError, ApiTransient):
    """Retried by the runner with backoff (honouring ``retry_after``)."""


class MaxRejected(MaxError, ApiRejected):
    """Refused by the platform, with its ``code`` (``chat.denied``, ``verify.token``, …)."""

    @property
    def chat_denied(self) -> bool:
        return self.code == "chat.denied"


def verify_webhook_secret(expected: str, given: str | None) -> bool:
    """Compare the ``X-Max-Bot-Api-Secret`` header in constant time."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


ERRORS = ErrorMap.of(MaxTransient, MaxRejected)


class MaxClient(ApiClient):
    errors = ERRORS

    def __init__(self, base_url: str, token: str, *, ca_bundle: Path | None = None,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 on_call: CallHook | None = None) -> None:
        super().__init__(http_client(base_url, headers={"Authorization": token},
                                     ca_bundle=ca_bundle, timeout=timeout, transport=transport),
                         on_call)
        self._timeout = timeout

    async def me(self) -> BotInfo:
        async with self._call("me"):
            response = await self._request("GET", "/me")
            body = ERRORS.json_object(response)
            user_id = body.get("user_id")
            if not isinstance(user_id, int):
                raise ERRORS.malformed(response, "the answer has no 'user_id'")
            username = body.get("username")
            return BotInfo(user_id=user_id, name=user_name(body),
                           username=username if isinstance(username, str) else None)

    async def send_message(self, *, user_id: int | None = None, chat_id: int | None = None,
                           text: str, keyboard: Keyboard | None = None,
                           format: str | None = None, notify: bool = True,
                           attachments: Sequence[dict[str, Any]] = ()) -> SentMessage:
        """Send to a user (``user_id``) or a chat (``chat_id``) — exactly one of them;
        ``attachments`` go before the keyboard (a file must be the only attachment)."""
        if (user_id is None) == (chat_id is None):
            raise ValueError("pass exactly one of user_id and chat_id")
        params = {"user_id": user_id} if user_id is not None else {"chat_id": chat_id}
        body: dict[str, Any] = {"text": text, "notify": notify,
                                "attachments": [*attachments, *(_attachments(keyboard) or [])]}
        if format is not None:
            body["format"] = format
        async with self._call("send_message"):
            response = await self._request("POST", "/messages", params=params, json=body)
            return _sent_message(response)

    async def upload_file(self, content: bytes, filename: str, *,
                          max_bytes: int = MAX_FILE_BYTES) -> str:
        """Upload one file; return the token to attach it. Each upload URL takes one file."""
        if not content:
            raise MaxRejected(0, "file.empty", f"{filename}: the file is empty")
        if len(content) > max_bytes:
            raise MaxRejected(0, "file.too.big", f"{filename}: {len(content)} bytes, more than "
                                                 f"the limit of {max_bytes}")
        async with self._call("get_upload_url"):
            response = await self._request("POST", "/uploads", params={"type": "file"})
            url = ERRORS.required_text(ERRORS.json_object(response), "url", response)
        async with self._call("upload_file"):
            response = await self._request(
                "POST", url, files={"data": (filename, content, "application/octet-stream")})
            return ERRORS.required_text(ERRORS.json_object(response), "token", response)

    async def send_file(self, *, user_id: int, text: str, token: str,
                        ready_pauses: Sequence[float] = READY_PAUSES) -> SentMessage:
        """Send an uploaded file (its token) with a caption; wait while MAX processes it."""
        attachment = {"type": "file", "payload": {"token": token}}
        pauses = list(ready_pauses)
        while True:
            try:
                return await self.send_message(user_id=user_id, text=text,
                                               attachments=[attachment])
            except MaxRejected as exc:
                if exc.code != NOT_READY:
                    raise
                if not pauses:
                    raise MaxTransient(f"{exc.status} {NOT_READY}: {exc.message}",
                                       status=exc.status,
                                       retry_after=NOT_READY_RETRY_S) from exc
                await asyncio.sleep(pauses.pop(0))

    async def edit_message(self, mid: str, *, text: str | None,
                           keyboard: Keyboard | None | Keep = KEEP) -> None:
        """``keyboard=None`` removes the keyboard (``"attachments": []``); :data:`KEEP` leaves
        it as it is (no ``attachments``). ``text=None`` leaves ``text`` out of the body."""
        async with self._call("edit_message"):
            response = await self._request("PUT", "/messages", params={"message_id": mid},
                                           json=_new_body(text, keyboard))
            _check_success(response)

    async def delete_message(self, mid: str) -> None:
        async with self._call("delete_message"):
            response = await self._request("DELETE", "/messages", params={"message_id": mid})
            _check_success(response)

    async def get_message(self, mid: str) -> dict[str, Any]:
        async with self._call("get_message"):
            response = await self._request("GET", f"/messages/{segment(mid)}")
            return ERRORS.json_object(response)

    async def list_messages(self, *, chat_id: int, count: int = 50) -> list[dict[str, Any]]:
        """The chat's latest messages, newest first (``GET /messages?chat_id=``)."""
        async with self._call("list_messages"):
            response = await self._request("GET", "/messages",
                                           params={"chat_id": chat_id, "count": count})
            messages = ERRORS.json_object(response).get("messages")
            return [m for m in messages if isinstance(m, dict)] if isinstance(messages,
                                                                               list) else []

    async def answer_callback(self, callback_id: str, *, notification: str | None = None,
                              text: str | None = None,
                              keyboard: Keyboard | None | Keep = KEEP) -> None:
        """Answer a press: a toast (``notification``) and/or a new text/keyboard for the
        message that carries the pressed button (same keyboard rules as ``edit_message``)."""
        body: dict[str, Any] = {}
        if notification is not None:
            body["notification"] = notification
        if text is not None or keyboard is not KEEP:
            body["message"] = _new_body(text, keyboard)
        if not body:
            raise ValueError("an answer needs a notification, a text or a keyboard")
        async with self._call("answer_callback"):
            response = await self._request("POST", "/answers",
                                           params={"callback_id": callback_id}, json=body)
            _check_success(response)

    async def get_updates(self, *, marker: int | None, timeout: int = 30, limit: int = 100,
                          types: Sequence[str] | None = None) -> UpdateBatch:
        """Long polling: the server holds the request up to ``timeout`` seconds, so the HTTP
        read timeout is longer. Passing ``marker`` commits every update before it — pass the
        batch's marker only after the batch is processed."""
        params: dict[str, Any] = {"timeout": timeout, "limit": limit}
        if marker is not None:
            params["marker"] = marker
        if types:
            params["types"] = ",".join(types)
        wait = httpx.Timeout(self._timeout, read=max(self._timeout, timeout + _POLL_MARGIN_S))
        async with self._call("get_updates"):
            response = await self._request("GET", "/updates", params=params, timeout=wait)
            return _update_batch(response)

    async def subscriptions(self) -> list[dict[str, Any]]:
        async with self._call("subscriptions"):
            response = await self._request("GET", "/subscriptions")
            found = ERRORS.json_object(response).get("subscriptions")
            if not isinstance(found, list):
                raise ERRORS.malformed(response, "the answer has no 'subscriptions' list")
            return [s for s in found if isinstance(s, dict)]

    async def subscribe(self, url: str, *, secret: str | None,
                        update_types: Sequence[str] | None = None) -> None:
        body: dict[str, Any] = {"url": url}
        if secret is not None:
            body["secret"] = secret
        if update_types is not None:
            body["update_types"] = list(update_types)
        async with self._call("subscribe"):
            _check_success(await self._request("POST", "/subscriptions", json=body))

    async def unsubscribe(self, url: str) -> None:
        async with self._call("unsubscribe"):
            _check_success(await self._request("DELETE", "/subscriptions", params={"url": url}))



def _attachments(keyboard: Keyboard | None) -> list[dict[str, Any]] | None:
    return [keyboard_attachment(keyboard)] if keyboard else None


def _new_body(text: str | None, keyboard: Keyboard | None | Keep) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if text is not None:
        body["text"] = text
    if not isinstance(keyboard, Keep):
        body["attachments"] = _attachments(keyboard) or []
    return body


def _sent_message(response: httpx.Response) -> SentMessage:
    message = ERRORS.json_object(response).get("message")
    message = message if isinstance(message, dict) else {}
    body, recipient = message.get("body"), message.get("recipient")
    mid = body.get("mid") if isinstance(body, dict) else None
    if not isinstance(mid, str) or not mid:
        raise ERRORS.malformed(response, "the answer has no 'message.body.mid'")
    recipient = recipient if isinstance(recipient, dict) else {}
    timestamp = message.get("timestamp")
    return SentMessage(mid=mid, chat_id=_optional_int(recipient.get("chat_id")),
                       user_id=_optional_int(recipient.get("user_id")),
                       timestamp=timestamp if isinstance(timestamp, int) else 0)


def _update_batch(response: httpx.Response) -> UpdateBatch:
    body = ERRORS.json_object(response)
    updates = body.get("updates")
    if not isinstance(updates, list):
        raise ERRORS.malformed(response, "the answer has no 'updates' list")
    return UpdateBatch(updates=[parse_update(u) for u in updates if isinstance(u, dict)],
                       marker=_optional_int(body.get("marker")))


def _check_success(response: httpx.Response) -> None:
    """``SimpleQueryResult``: a 200 may still say ``{"success": false, "message": …}``."""
    body = ERRORS.json_object(response)
    if body.get("success") is not True:
        message = body.get("message")
        raise MaxRejected(response.status_code, "request.failed",
                          message if isinstance(message, str) else "success is not true")








def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
