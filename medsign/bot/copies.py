"""``max.copies``: the signed PDFs of a completed request, sent into the patient's MAX chat.

Queued by ``notifications.service.tell_patient`` in the transaction that completes the request,
run by the runner after it: whatever happens here, the request stays completed. One step per
document (``data.next`` is the number of the next PDF, 1-based, in the order of the downloads):
upload the file (``POST /uploads`` → upload URL → token), then send it with a short caption
(a file must be the only attachment of its message). The token is kept in the item before the
send, so a file MAX is still processing (``attachment.not.ready``) is sent again later by the
same token rather than uploaded anew. A retry after a crash looks for the
document's message in the chat first (its file name is the marker) and uploads again only if
the message is not there: an upload may be repeated, a message is never sent twice.

MAX's temporary errors (5xx, 429, a file still processed) are retried with backoff; a refusal
(a file too big, a token refused) fails the item, and the request's page shows it to
operators. A patient who stopped the bot ends the item (``cancelled``) and is marked
unreachable. ``max.send_signed_copies = false`` cancels queued items instead of sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from medsign.bot import repository
from medsign.bot.flow import MaxDeps, calling, mark_unreachable
from medsign.db.models import PatientRow, SigningRequestRow
from medsign.domain import bot
from medsign.domain.signing import SigningState
from medsign.errors import Conflict, NotFound
from medsign.integrations.max.client import MaxRejected
from medsign.notifications.service import COPIES_KIND
from medsign.runner.outcomes import Done, Next, PermanentError, WorkItem
from medsign.runner.worker import StepContext
from medsign.signing import documents

log = logging.getLogger("medsign.bot.copies")


@dataclass(frozen=True)
class Copy:
    """The document a step sends, or why nothing is sent (``skip``; ``finished``: every
    document was sent)."""

    skip: str | None
    finished: bool = False
    number: int = 0
    count: int = 0
    title: str = ""
    filename: str = ""
    content: bytes = b""
    chat_id: int | None = None


class CopiesFlow:
    kind = COPIES_KIND

    def __init__(self, deps: MaxDeps, *, enabled: bool = True) -> None:
        self.deps = deps
        self.enabled = enabled

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        if not self.enabled:
            return Done("cancelled")
        user_id, number = int(item.data["user_id"]), int(item.data.get("next", 1))
        try:
            found = await ctx.read(lambda conn: _load(conn, str(item.ref), user_id, number))
        except (Conflict, NotFound) as exc:  # the archive is gone, or a PDF is too large
            raise PermanentError(exc.message, code=exc.code) from exc
        if found.finished:
            return Done()
        if found.skip is not None:
            log.info("signed copies not sent: %s", found.skip)
            return Done("cancelled")

        async def upload() -> str:
            """The file's token: the one this step uploaded before (a file MAX was still
            processing), or a new upload — remembered before the send is tried."""
            kept = item.data.get("token")
            if isinstance(kept, str) and item.data.get("token_for") == number:
                return kept
            await ctx.rate_limit("max")
            token = await calling(self.deps.client.upload_file(found.content, found.filename))
            await ctx.begin_call(ctx.idempotency_key(), data={
                "user_id": user_id, "next": number, "token": token, "token_for": number})
            return token

        try:
            await self.deps.send_once(
                ctx, user_id=user_id, chat_id=found.chat_id, buttons=None,
                text=bot.signed_copy(found.title, number=found.number, count=found.count),
                marker=found.filename, upload=upload)
        except MaxRejected as exc:  # chat.denied: the patient stopped the bot
            log.warning("signed copies not delivered: %s", exc.code)
            return Done("cancelled", apply=mark_unreachable(user_id, self.deps.clock.now()))
        if found.number >= found.count:
            return Done()
        return Next("send", data={"user_id": user_id, "next": found.number + 1})

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        """The failed item (its error) is what the request's page shows; nothing to undo."""


def _load(conn: Connection, request_id: str, user_id: int, number: int) -> Copy:
    with Session(bind=conn) as db:
        row = db.get(SigningRequestRow, request_id)
        if row is None or row.state != SigningState.completed:
            return Copy(skip="the request is not completed")
        patient = db.get(PatientRow, row.patient_id)
        if patient is None or patient.max_user_id != user_id or not patient.max_reachable:
            return Copy(skip="the patient's MAX account is no longer linked or reachable")
        pdfs = documents.list_pdfs(db, request_id=request_id, state=row.state)
        if number > len(pdfs):
            return Copy(skip=None, finished=True)
        filename, content = documents.read_pdf(db, request_id=request_id, state=row.state,
                                               number=number)
        return Copy(skip=None, number=number, count=len(pdfs), title=pdfs[number - 1].title,
                    filename=filename, content=content,
                    chat_id=repository.chat_of(conn, user_id=user_id))
