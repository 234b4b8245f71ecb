"""Files sent by the bot (the ``POST /uploads`` flow of the spec, D0701 ``/uploads``).

1. ``POST /uploads?type=file`` (bot API, token) answers ``{"url": …}`` — an upload URL served by
   the emulator itself (the platform's point to other hosts, ``fu.oneme.ru`` for files); for
   ``video`` and ``audio`` the answer also carries the ``token``. ``type=photo`` is refused
   (no longer supported), as is any other type.
2. ``POST <url>`` with ``multipart/form-data`` (field ``data``, no token needed) stores the file
   and answers ``{"token": …}`` (``file``, ``image``); each URL takes one file.
3. ``POST /messages`` with ``{"type": "file", "payload": {"token": …}}`` attaches it: an unknown
   token is ``400 proto.payload``; a token whose file MAX still processes (``upload_not_ready_s``
   after the upload) is ``400 attachment.not.ready``. The stored attachment carries the
   file's ``filename``, ``size`` and a download ``url`` (the users' page links it).

A file larger than ``upload_max_bytes`` (the platform: 4 GB for files) is refused with ``400
proto.payload`` — the platform's code for this is [UNCONFIRMED]. Uploaded files live in memory
only: a restarted emulator keeps its messages, but their files are gone.
"""

from __future__ import annotations

import secrets
from typing import Any

from medsign.integrations.max.emulator.core import Emulator, PlatformError, not_found
from medsign.integrations.max.emulator.model import StoredFile
from medsign.integrations.max.emulator.validation import ProtoPayload

ROUTE = "/_emulator/uploads/{slot}"
FILES = "/_emulator/files/{token}"
TYPES = ("image", "video", "audio", "file")
NOT_READY = PlatformError(400, "attachment.not.ready",
                          "Key: errors.process.attachment.file.not.processed")


def upload_url(emulator: Emulator, kind: str | None, base_url: str) -> dict[str, Any]:
    if kind == "photo":
        raise ProtoPayload("type: type=photo is no longer supported, use type=image")
    if kind not in TYPES:
        raise ProtoPayload(f"type: must be one of {', '.join(TYPES)}")
    slot = secrets.token_urlsafe(16)
    emulator.uploads.slots[slot] = kind
    emulator.store.count("upload_urls")
    answer: dict[str, Any] = {"url": base_url.rstrip("/") + ROUTE.format(slot=slot)}
    if kind in ("video", "audio"):
        answer["token"] = _token(slot)
    return answer


def slot_kind(emulator: Emulator, slot: str, declared_size: int | None) -> str:
    """What an upload URL was issued for; refuses a used URL and a declared oversize body
    before it is read."""
    kind = emulator.uploads.slots.get(slot)
    if kind is None:
        raise ProtoPayload("url: unknown or already used upload URL")
    limit = emulator.config.upload_max_bytes
    if declared_size is not None and declared_size > limit + 64 * 1024:
        raise _too_big(declared_size, limit)
    return kind


def store(emulator: Emulator, slot: str, kind: str, filename: str, content: bytes
          ) -> dict[str, Any]:
    limit = emulator.config.upload_max_bytes
    if len(content) > limit:
        raise _too_big(len(content), limit)
    if not content:
        raise ProtoPayload("data: the file is empty")
    del emulator.uploads.slots[slot]
    token = _token(slot)
    delay = emulator.config.upload_not_ready_s or 0.0
    emulator.uploads.files[token] = StoredFile(token, filename or "file", content,
                                               emulator.now_ms() + int(delay * 1000))
    emulator.store.count("files_uploaded")
    if kind in ("video", "audio"):
        return {"retval": "ok"}
    return {"token": token}


def attach(emulator: Emulator, attachments: list[dict[str, Any]], base_url: str
           ) -> list[dict[str, Any]]:
    """Check the file attachments of a message; return them as the message will carry them."""
    stored: list[dict[str, Any]] = []
    for n, attachment in enumerate(attachments):
        if attachment.get("type") != "file":
            stored.append(attachment)
            continue
        token = (attachment.get("payload") or {}).get("token")
        found = emulator.uploads.files.get(token) if isinstance(token, str) else None
        if found is None:
            raise ProtoPayload(f"attachments[{n}].payload.token: Invalid token")
        if emulator.now_ms() < found.ready_at_ms:
            emulator.store.count("attachments_not_ready")
            raise NOT_READY
        url = base_url.rstrip("/") + FILES.format(token=found.token)
        stored.append({"type": "file", "filename": found.filename, "size": len(found.content),
                       "payload": {"url": url, "token": found.token}})
    return stored


def download(emulator: Emulator, token: str) -> StoredFile:
    found = emulator.uploads.files.get(token)
    if found is None:
        raise not_found("file")
    return found


def _token(slot: str) -> str:
    return f"f_{slot}"


def _too_big(size: int, limit: int) -> ProtoPayload:
    return ProtoPayload(f"data: the file is {size} bytes, more than the limit of {limit}")
