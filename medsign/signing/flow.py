"""The signing transaction (DESIGN.md flow C) as runner steps.

    send ─► poll ─► download + countersign ─► upload (each file) ─► complete ─► done
             │ (patient refused, platform error, local expiry, appointment cancelled) ─► done
                        └ (the documents name someone other than the patient) ─► stopped

Each step performs its outbound call outside any transaction and returns the domain change to
commit with the transition (``apply``), so the request's state and the runner's row never
disagree. Calls that create something on the platform (``send``, ``upload``, ``complete``)
record their idempotency key first; a step that finds its own key from an earlier attempt
knows it may be repeating itself and checks before acting twice.

Steps that call nothing that creates anything run together: the archive is verified and
counter-signed in the run that downloads it (one commit for both transitions, no second read
of the archive), and the MO signatures are uploaded one after the other in one run, the file
id of each accepted upload recorded with the call record of the next one — a failure repeats
only the upload that failed. Every step is a claim, a load and a commit of the runner, so
fewer of them is most of a transaction's cost in the worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from medsign.clock import Clock
from medsign.config import SigningSettings
from medsign.crypto import SignerUnavailable, TrustStore
from medsign.db.integrity import IntegrityBroken
from medsign.db.models import (
    AppointmentRow,
    DocumentRow,
    OrganizationRow,
    PatientRow,
    SigningRequestRow,
)
from medsign.domain.consents import Consent, ConsentKind, ConsentState
from medsign.domain.reconciliation import RECOVERED, Ending, platform_ending
from medsign.domain.signer_check import Identity, SignerMismatch, first_mismatch
from medsign.domain.signing import FINAL_STATES, CancelledBy, SigningRequest, SigningState
from medsign.integrations.goskey.client import GoskeyClient, GoskeyRejected, GoskeyTransient
from medsign.integrations.goskey.schemas import DocumentSpec, Executor, SendRequest
from medsign.notifications import service as notifications
from medsign.records import mapping as records
from medsign.runner.backoff import poll_delay
from medsign.runner.outcomes import Done, Next, PermanentError, TransientError, WorkItem
from medsign.runner.worker import StepContext
from medsign.signing import journal as transaction_journal
from medsign.signing import repository
from medsign.signing import service as signing_service
from medsign.signing.archive import ArchiveRejected, VerifiedArchive, verify_archive
from medsign.signing.countersign import SignerProvider, countersign

log = logging.getLogger("medsign.signing.flow")
ACTOR = "system:signing"
DEAL_TYPE = "med_permission"
REFUSED = "Пациент отказался от подписания в Госключе."


@dataclass(frozen=True)
class Loaded:
    """Everything a step needs to know about one request, read in one short transaction."""

    row: SigningRequestRow
    appointment: AppointmentRow
    organization: OrganizationRow
    patient: PatientRow

    def domain(self) -> SigningRequest:
        return signing_service.to_domain(self.row,
                                         appointment_external_id=self.appointment.external_id,
                                         organization_code=self.organization.code)


def load(conn: Connection, request_id: str) -> Loaded:
    """The request with its appointment, organisation and patient, in one query."""
    found = repository.load_for_step(conn, request_id=request_id)
    if found is None:
        raise PermanentError(f"нет транзакции подписания {request_id}", code="not_found")
    return Loaded(*found)


def transition(clock: Clock, request_id: str, change: Callable[[SigningRequest], None], *,
               consents: ConsentState | None = None,
               documents: list[DocumentRow] | None = None,
               also: Callable[[Session], None] | None = None,
               loaded: Loaded | None = None) -> Callable[[Connection], None]:
    """An ``apply``: load the request, let the domain move it, save it and its side data.

    ``loaded`` (read at the start of the step) spares reading the appointment's external id
    and the organisation's code again: neither ever changes."""
    def apply(conn: Connection) -> None:
        with Session(bind=conn, expire_on_commit=False) as db:
            row = repository.locked(db, request_id=request_id)
            request = _domain(db, row) if loaded is None else signing_service.to_domain(
                row, appointment_external_id=loaded.appointment.external_id,
                organization_code=loaded.organization.code)
            change(request)
            events = signing_service.save(db, row, request, actor=ACTOR, now=clock.now())
            notifications.tell_patient(db, row, events, clock.now())
            if consents is not None:
                _set_consents(db, row, consents, clock.now())
            db.add_all(documents or [])
            if also is not None:
                also(db)
            # Joined to the runner's transaction: this commits the session's own savepoint;
            # the runner commits the outer transaction only while the lease holds.
            db.commit()
    return apply


def _domain(db: Session, row: SigningRequestRow) -> SigningRequest:
    appointment, org = repository.appointment_and_organization(db, row)
    return signing_service.to_domain(row, appointment_external_id=appointment.external_id,
                                     organization_code=org.code)


# How a request's ending moves the consents it was signing (through the domain's methods).
_CONSENT_MOVES: dict[ConsentState, Callable[[Consent], None]] = {
    ConsentState.signed: Consent.mark_signed,
    ConsentState.declined: Consent.mark_declined,
    ConsentState.pending: Consent.abort_signing,
}


def _set_consents(db: Session, row: SigningRequestRow, state: ConsentState,
                  now: datetime) -> None:
    for consent in repository.consents_in_signing(db, row):
        records.change_consent(consent, _CONSENT_MOVES[state], now=now)


# A work item's data flag set by a reconciliation after a restore: the platform completed this
# transaction before the data were lost; fetch the archive again, counter-sign it again and
# complete without a second upload (``SigningRequest.complete_after_restore``).
RECOVER = "recover"


class SigningFlow:
    kind = signing_service.SIGNING_KIND

    def __init__(self, *, client: GoskeyClient, settings: SigningSettings, trust: TrustStore,
                 signers: SignerProvider, clock: Clock,
                 deal_type_ids: list[str] | None = None, journal: Path | None = None,
                 on_journal_error: Callable[[], None] | None = None) -> None:
        self.client = client
        self.clock = clock
        self.settings = settings
        self.trust = trust
        self.signers = signers
        self.deal_type_ids = deal_type_ids or []
        self.journal = journal
        self.on_journal_error = on_journal_error

    async def run(self, item: WorkItem, ctx: StepContext) -> Next | Done:
        if item.ref is None:
            raise IntegrityBroken(f"signing work item {item.id} has no ref (request id)")
        loaded = await ctx.read(lambda conn: load(conn, item.ref or ""))
        state = SigningState(loaded.row.state)
        if state in FINAL_STATES or state is SigningState.signer_mismatch:
            return Done("cancelled" if state is not SigningState.completed else "done")
        step = STEPS.get(item.step)
        if step is None:
            raise PermanentError(f"неизвестный шаг «{item.step}»", code="unknown_step")
        try:
            result: Next | Done = await step(self, item, ctx, loaded)
        except GoskeyTransient as exc:
            raise TransientError(exc.message, code="goskey_unavailable",
                                 retry_after=exc.retry_after) from exc
        except GoskeyRejected as exc:
            raise PermanentError(f"платформа отклонила запрос: {exc.code}: {exc.message}",
                                 code=f"goskey_{exc.code}") from exc
        return result

    def on_failed(self, conn: Connection, item: WorkItem, reason: str) -> None:
        """Mirror the runner's ``failed`` in the request (unless it already ended)."""
        def fail(request: SigningRequest) -> None:
            if request.can_transition(SigningState.failed):
                request.fail(reason)
        if item.ref is not None:
            transition(self.clock, item.ref, fail)(conn)

    def _apply(self, loaded: Loaded, change: Callable[[SigningRequest], None],
               **side: Any) -> Callable[[Connection], None]:
        return transition(self.clock, loaded.row.id, change, loaded=loaded, **side)

    # -- steps ---------------------------------------------------------------------------
    async def _send(self, item: WorkItem, ctx: StepContext, loaded: Loaded) -> Next | Done:
        request = self._send_request(loaded)
        key = ctx.idempotency_key(subject=loaded.row.id)
        await ctx.rate_limit("goskey")
        await ctx.begin_call(key)
        # the intent first: a process killed between the platform's answer and the line
        # below leaves a transaction that only this line tells about
        await self._journal(loaded, "", ctx.clock.now())
        transaction_id = await self.client.send(request, idempotency_key=key)
        log.info("transaction sent", extra={"transaction_id": transaction_id})
        await self._journal(loaded, transaction_id, ctx.clock.now())
        return Next("poll", delay=self.settings.poll_interval, data={"polls": 0},
                    apply=self._apply(loaded, lambda r: r.mark_sent(transaction_id)))

    async def _journal(self, loaded: Loaded, transaction_id: str, now: datetime) -> None:
        """Append the transaction to the journal, durably, before the step commits (with
        ``transaction_id`` empty: the send about to be made).

        A failure does not stop the step: the platform has created the transaction, and the
        commit that follows records its id in the database — losing it there for a journal
        that cannot be written would be worse. The failure is logged as an error for the
        operators (the journal is what finds this transaction if the database is restored
        from an older backup before the next one)."""
        if self.journal is None:
            return
        entry = transaction_journal.JournalEntry(
            at=now, signing_request=loaded.row.id, transaction=transaction_id,
            organization=loaded.organization.code,
            appointment=loaded.appointment.external_id)
        try:
            await asyncio.to_thread(transaction_journal.append, self.journal, entry)
        except transaction_journal.JournalWriteFailed as exc:
            if self.on_journal_error is not None:
                self.on_journal_error()
            what = "the transaction is" if transaction_id else "the send about to be made is"
            log.error("the transaction journal could not be written: %s; %s recorded in the "
                      "database only", exc.reason, what,
                      extra={"transaction_id": transaction_id or None,
                             "signing_request_id": loaded.row.id, "journal": str(exc.path)})

    def _send_request(self, loaded: Loaded) -> SendRequest:
        org = loaded.organization
        templates = org.template_ids or {}
        documents = []
        for kind in loaded.row.consent_kinds:
            template = templates.get(kind)
            if not template:
                raise PermanentError(f"для МО {org.code} не настроен шаблон «{kind}»",
                                     code="template_not_configured")
            documents.append(DocumentSpec(template_id=template,
                                           title=ConsentKind(kind).patient_title))
        return SendRequest(
            phone=loaded.row.phone, department_id=org.partner_department_id or "",
            deal_type_ids=self.deal_type_ids, documents=documents,
            service_names=[loaded.appointment.service_name],
            executor=Executor(name=org.name, address=org.address, ogrn=org.ogrn, inn=org.inn,
                              kpp=org.kpp))

    async def _poll(self, item: WorkItem, ctx: StepContext, loaded: Loaded) -> Next | Done:
        if ctx.clock.now() >= loaded.appointment.starts_at + self.settings.expiry_grace:
            return Done("cancelled", apply=self._apply(loaded, lambda r: r.expire(),
                                                      consents=ConsentState.pending))
        await ctx.rate_limit("goskey")
        status = await self.client.status(loaded.row.transaction_id or "")
        recovering = bool(item.data.get(RECOVER))
        zip_id = status.patient_signed_zip or (status.archive_zip if recovering else None)
        if zip_id:
            return Next("download", data={RECOVER: True} if recovering else None,
                        apply=self._apply(loaded, lambda r: r.mark_patient_signed(zip_id)))
        ending = platform_ending(status.status, status.reason)
        if ending is not None:
            change, consents = ending_change(ending, status.status)
            return Done("cancelled", apply=self._apply(loaded, change, consents=consents))
        polls = int(item.data.get("polls", 0)) + 1
        delay = poll_delay(polls, interval=self.settings.poll_interval,
                           factor=self.settings.poll_backoff_factor,
                           maximum=self.settings.poll_interval_max)
        return Next("poll", delay=delay, data={"polls": polls})

    async def _download(self, item: WorkItem, ctx: StepContext, loaded: Loaded) -> Next | Done:
        """Download, verify and counter-sign: nothing here changes the platform, so a crash
        only means downloading again."""
        data = await self._fetch_archive(ctx, loaded)
        verified = await self._verify(data, loaded, ctx.clock.now())
        archive = _document(loaded.row.id, repository.ARCHIVE, "platform-archive.zip",
                            "application/zip", data, now=ctx.clock.now())
        mismatch = signer_mismatch(verified, loaded.patient)
        if mismatch is not None:
            return self._stop_mismatch(loaded, mismatch, verified_now=True, documents=[archive])
        signatures = await self._sign(loaded, verified, data, ctx.clock.now())
        recovering = bool(item.data.get(RECOVER))

        def verified_and_countersigned(request: SigningRequest) -> None:
            request.mark_archive_verified()
            request.mark_countersigned()
            if recovering:
                request.complete_after_restore(RECOVERED)
        if recovering:
            return Done(apply=self._apply(loaded, verified_and_countersigned,
                                          documents=[archive, *signatures],
                                          consents=ConsentState.signed))
        return Next("upload", apply=self._apply(loaded, verified_and_countersigned,
                                               documents=[archive, *signatures]))

    async def _fetch_archive(self, ctx: StepContext, loaded: Loaded) -> bytes:
        await ctx.rate_limit("goskey")
        with tempfile.TemporaryDirectory(prefix="medsign-archive-") as folder:
            target = Path(folder) / "archive.zip"
            await self.client.download(loaded.row.transaction_id or "",
                                       loaded.row.zip_file_id or "", phone=loaded.row.phone,
                                       dest=target, max_bytes=self.settings.max_archive_bytes)
            return target.read_bytes()

    async def _verify(self, archive: bytes, loaded: Loaded, at: datetime) -> VerifiedArchive:
        """Verify off the event loop: GOST maths and hashing take milliseconds per file."""
        try:
            return await asyncio.to_thread(
                verify_archive, archive, expected_documents=len(loaded.row.consent_kinds),
                trust=self.trust, limits=self.settings, at=at)
        except ArchiveRejected as exc:
            raise PermanentError(exc.message, code=exc.code) from exc

    def _stop_mismatch(self, loaded: Loaded, mismatch: SignerMismatch, *, verified_now: bool,
                       documents: list[DocumentRow] | None = None) -> Done:
        """The documents name someone else: keep the archive as evidence, make no MO
        signature, and stop where an operator sees it (the consents stay in signing until
        the operator cancels)."""
        log.warning("signer is not the patient",
                    extra={"transaction_id": loaded.row.transaction_id})

        def stop(request: SigningRequest) -> None:
            if verified_now:
                request.mark_archive_verified()
            request.stop_signer_mismatch(mismatch)
        return Done("cancelled", apply=self._apply(loaded, stop, documents=documents))

    async def _countersign(self, item: WorkItem, ctx: StepContext, loaded: Loaded) -> Next | Done:
        """A request whose archive was verified and stored in a run of its own (before
        ``download`` counter-signed too, or by an earlier version): verify it again in full
        — other bytes, maybe other certificates by now — and counter-sign."""
        archive = await ctx.read(lambda conn: _archive_bytes(conn, loaded.row.id))
        verified = await self._verify(archive, loaded, ctx.clock.now())
        mismatch = signer_mismatch(verified, loaded.patient)
        if mismatch is not None:
            return self._stop_mismatch(loaded, mismatch, verified_now=False)
        documents = await self._sign(loaded, verified, archive, ctx.clock.now())
        if item.data.get(RECOVER):
            def countersigned_and_completed(request: SigningRequest) -> None:
                request.mark_countersigned()
                request.complete_after_restore(RECOVERED)
            return Done(apply=self._apply(loaded, countersigned_and_completed,
                                          documents=documents, consents=ConsentState.signed))
        return Next("upload", apply=self._apply(loaded, lambda r: r.mark_countersigned(),
                                               documents=documents))

    async def _sign(self, loaded: Loaded, verified: VerifiedArchive, archive: bytes,
                    now: datetime) -> list[DocumentRow]:
        """The MO's signatures over the verified archive (off the event loop).

        A signer that cannot run (GOST engine removed, provider down) is retried, then the
        request fails with the reason for an operator to retry: never signed otherwise."""
        org = loaded.organization
        try:
            signer = await asyncio.to_thread(self.signers.for_organization, org.code,
                                             name=org.name, ogrn=org.ogrn, inn=org.inn)
            signatures = await asyncio.to_thread(countersign, verified, archive, signer=signer,
                                                 mode=self.settings.countersign_mode,
                                                 signing_time=now)
        except SignerUnavailable as exc:
            raise TransientError(f"подпись МО невозможна: {exc.message}", code=exc.code) from exc
        return [_document(loaded.row.id, repository.MO_SIGNATURE, s.name,
                          "application/pkcs7-signature", s.content, now=now, covers=s.covers)
                for s in signatures]

    async def _upload(self, item: WorkItem, ctx: StepContext, loaded: Loaded) -> Next:
        """Every MO signature not yet accepted, one after the other. The file id of each
        accepted upload is recorded, with the call record of the next upload, in the item's
        data before that call: a failure or a crash repeats only the upload that failed,
        never one the platform has already accepted."""
        signatures = await ctx.read(
            lambda conn: repository.mo_signatures(conn, request_id=loaded.row.id))
        done: dict[str, str] = dict(item.data.get("uploaded") or {})
        for doc in signatures:
            if str(doc.id) in done:
                continue
            await ctx.rate_limit("goskey")
            key = ctx.idempotency_key(f"upload-{doc.id}", subject=loaded.row.id)
            await ctx.begin_call(key,
                                 data={**item.data, "uploaded": dict(done)} if done else None)
            done[str(doc.id)] = await self.client.upload(
                loaded.row.transaction_id or "", doc.content, filename=doc.name,
                mime_type=doc.media_type, idempotency_key=key)
        uploaded = {doc.id: done[str(doc.id)] for doc in signatures}
        file_ids = list(uploaded.values())
        return Next("complete", apply=self._apply(
            loaded, lambda r: r.mark_uploaded(file_ids),
            also=lambda db: repository.remember_uploads(db, uploaded)))

    async def _complete(self, item: WorkItem, ctx: StepContext, loaded: Loaded) -> Done:
        tx = loaded.row.transaction_id or ""
        if item.call_key is not None and (await self.client.status(tx)).status == "finished":
            file_id = None  # our earlier call went through before a crash
        else:
            await ctx.rate_limit("goskey")
            key = ctx.idempotency_key(subject=loaded.row.id)
            await ctx.begin_call(key)
            file_id = await self.client.complete(
                tx, phone=loaded.row.phone, template_id=self.settings.completion_template_id,
                idempotency_key=key)
        return Done(apply=self._apply(loaded, lambda r: r.mark_completed(file_id),
                                     consents=ConsentState.signed))


def ending_change(ending: Ending, status: str
                  ) -> tuple[Callable[[SigningRequest], None], ConsentState]:
    """How a request ends on the platform's final ``status`` before the patient signed (the
    poll step's ending, and the reconciliation's settling): the move and the consents'."""
    if ending is Ending.expired:
        return (lambda r: r.expire(on_platform=True)), ConsentState.pending
    if ending is Ending.refused:
        return (lambda r: r.cancel(REFUSED, by=CancelledBy.patient)), ConsentState.declined
    message = f"платформа сообщила статус «{status}» до завершения подписания"
    return (lambda r: r.mark_platform_error(message)), ConsentState.pending


def signer_mismatch(verified: VerifiedArchive, patient: PatientRow) -> SignerMismatch | None:
    """The first document whose signer (the platform's XML) is not the patient on record."""
    record = Identity(patient.last_name, patient.first_name, patient.middle_name,
                      patient.birth_date)
    return first_mismatch([(d.title, d.signer) for d in verified.documents], record)


Step = Callable[[SigningFlow, WorkItem, StepContext, Loaded], Awaitable[Next | Done]]
# The steps a signing work item may name, and nothing else (``run`` looks them up here).
STEPS: Mapping[str, Step] = MappingProxyType({
    "send": SigningFlow._send,
    "poll": SigningFlow._poll,
    "download": SigningFlow._download,
    "countersign": SigningFlow._countersign,
    "upload": SigningFlow._upload,
    "complete": SigningFlow._complete,
})


def _document(request_id: str, kind: str, name: str, media_type: str, content: bytes, *,
              now: datetime, covers: str | None = None) -> DocumentRow:
    return DocumentRow(signing_request_id=request_id, kind=kind, name=name,
                       media_type=media_type, content=content,
                       sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                       covers=covers, created_at=now)


def _archive_bytes(conn: Connection, request_id: str) -> bytes:
    content = repository.archive_bytes(conn, request_id=request_id)
    if content is None:
        raise PermanentError("архив платформы не сохранён", code="archive_missing")
    return content
