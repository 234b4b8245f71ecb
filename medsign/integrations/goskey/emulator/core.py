"""What the emulated platform does, apart from HTTP: the five methods and the patient's acts.

Rendering and sealing are CPU work (pure-Python Streebog), so they run in a worker thread; one
lock keeps two requests from signing the same transaction twice, and a lock per transaction
keeps two uploads with one ``Idempotency-Key`` (a retry overtaking a slow original) from both
being accepted while the first is being verified.

``send``, ``upload`` and ``complete`` honour ``Idempotency-Key`` alike: the same key with the
same request gets the stored answer and changes nothing; with another request, ``422
idempotency.key.reused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from medsign.integrations.goskey.emulator import archive
from medsign.integrations.goskey.emulator.config import EmulatorConfig
from medsign.integrations.goskey.emulator.faults import Autopilot, Faults
from medsign.integrations.goskey.emulator.model import InvalidState, KeyReused, Transaction, Upload
from medsign.integrations.goskey.emulator.operator import Operator, UploadVerifier
from medsign.integrations.goskey.emulator.people import Registry, UnknownPerson
from medsign.integrations.goskey.emulator.profile import PatientProfile, profile_for
from medsign.integrations.goskey.emulator.render import Sheet, render_pdf, render_xml
from medsign.integrations.goskey.emulator.store import Store, StoredFile
from medsign.integrations.goskey.emulator.validation import (
    ValidationFailed,
    parse_complete,
    parse_send,
    phone_of,
)


class PlatformError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str = "transaction") -> PlatformError:
    return PlatformError(404, f"{what}.not.found", f"{what} not found")


@dataclass(frozen=True)
class Download:
    name: str
    media_type: str
    data: bytes


class Emulator:
    def __init__(self, config: EmulatorConfig, store: Store, operator: Operator,
                 verifier: UploadVerifier, font: Path) -> None:
        self.config, self.store, self.operator = config, store, operator
        self.verifier, self.font = verifier, font
        self.faults = Faults()
        self.autopilot: Autopilot | None = None
        self._signing = asyncio.Lock()
        self._uploading: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.people = Registry(config.configured_people(), config.unknown_phones)
        saved = store.saved_people()
        if saved is not None:
            self.people.restore(saved)

    # --- the platform's five methods -------------------------------------------------------

    def send(self, body: Any, *, idempotency_key: str | None) -> str:
        fingerprint = _fingerprint(json.dumps(body, sort_keys=True, ensure_ascii=False))
        if idempotency_key:
            self.store.count_send(idempotency_key)
            earlier = self.store.for_key(idempotency_key)
            if earlier is not None:
                self._replay(earlier, "send", idempotency_key, fingerprint)
                return earlier.id
        parsed = parse_send(body)
        try:
            signer = self.people.signer_for(parsed.phone)
        except UnknownPerson as exc:
            raise PlatformError(404, "person.not.found", exc.message) from None
        self.people_changed()  # a one-off substitution (next_as) is used up
        transaction = Transaction(
            id=str(uuid.uuid4()), phone=parsed.phone, department_id=parsed.department_id,
            deal_types=parsed.deal_types, documents=parsed.documents, created_at=self._now(),
            idempotency_key=idempotency_key or None, request_fingerprint=fingerprint,
            signer=signer.to_json(),
            events=[{"at": self._now(), "event": "created"}])
        transaction.count_call("send")
        self.store.save(transaction)
        return transaction.id

    async def status(self, transaction_id: str) -> dict[str, Any]:
        transaction = self.transaction(transaction_id)
        transaction.count_call("status")
        await self._run_autopilot(transaction)
        self.store.save(transaction)
        return transaction.status_json()

    def download(self, transaction_id: str, file_id: str, body: Any) -> Download:
        transaction = self._called(transaction_id, "download")
        self._check_phone(transaction, phone_of(body))
        transaction.check_download_allowed()
        found = self.store.file(transaction_id, file_id)
        if found is None:
            raise not_found("file")
        return Download(found.name, found.media_type, self._faulty(found))

    async def upload(self, transaction_id: str, *, filename: str, mime_type: str,
                     content: bytes, idempotency_key: str | None = None) -> str:
        async with self._uploading[transaction_id]:
            transaction = self._called(transaction_id, "upload")
            fingerprint = _fingerprint(filename, mime_type, content)
            earlier = self._replay(transaction, "upload", idempotency_key, fingerprint)
            if earlier is None:
                earlier = await self._accept_upload(transaction, filename, mime_type, content)
                transaction.remember("upload", idempotency_key, fingerprint, earlier)
                self.store.save(transaction)
        return _answer(earlier)

    async def _accept_upload(self, transaction: Transaction, filename: str, mime_type: str,
                             content: bytes) -> dict[str, Any]:
        """Verify and store the MO's file; the answer to keep for the key (an error too: a
        repeated bad signature is not stored again)."""
        transaction.check_upload_allowed()
        candidates = self._candidates(transaction)
        verdict = await run_in_threadpool(self.verifier.verify, content, candidates)
        file_id = self.store.put_file(transaction.id, filename, mime_type, content)
        transaction.record_upload(Upload(
            file_id=file_id, filename=filename, mime_type=mime_type, size=len(content),
            accepted=verdict.accepted, covers=verdict.covers, detail=verdict.detail,
            at=self._now(), sha256=hashlib.sha256(content).hexdigest()))
        if not verdict.accepted:
            return {"error": [400, "signature.invalid", verdict.detail]}
        return {"fileId": file_id}

    def complete(self, transaction_id: str, body: Any, *,
                 idempotency_key: str | None = None) -> str:
        transaction = self._called(transaction_id, "complete")
        phone, template_id = parse_complete(body)
        self._check_phone(transaction, phone)
        fingerprint = _fingerprint(phone, template_id)
        earlier = self._replay(transaction, "complete", idempotency_key, fingerprint)
        if earlier is not None:
            return _answer(earlier)
        transaction.check_complete_allowed()
        final = self.store.put_file(transaction.id, "final.zip", "application/zip",
                                    self._final_archive(transaction))
        transaction.complete(final_file=final, template_id=template_id, at=self._now())
        transaction.remember("complete", idempotency_key, fingerprint, {"fileId": final})
        self.store.save(transaction)
        return final

    # --- the patient (web page, tests, autopilot) -------------------------------------------

    async def sign(self, transaction_id: str) -> Transaction:
        async with self._signing:
            transaction = self.transaction(transaction_id)
            transaction.check_sign_allowed()
            zip_bytes, seal = await run_in_threadpool(self._sealed_archive, transaction)
            transaction.check_sign_allowed()  # the patient may have refused meanwhile
            store = self.store
            transaction.sign(
                id_zip=store.put_file(transaction.id, "archive.zip", "application/zip",
                                      zip_bytes),
                id_sig=store.put_file(transaction.id, "archive.zip.p7s",
                                      "application/pkcs7-signature", seal),
                at=self._now())
            store.save(transaction)
            return transaction

    def cancel(self, transaction_id: str, reason: str) -> Transaction:
        transaction = self.transaction(transaction_id)
        transaction.cancel(reason, self._now())
        self.store.save(transaction)
        return transaction

    def fail(self, transaction_id: str) -> Transaction:
        transaction = self.transaction(transaction_id)
        transaction.fail(self._now())
        self.store.save(transaction)
        return transaction

    def document_pdf(self, transaction_id: str, number: int) -> bytes:
        transaction = self.transaction(transaction_id)
        if not 1 <= number <= len(transaction.documents):
            raise not_found("document")
        return render_pdf(self._sheet(transaction, number - 1), font=self.font)

    def transaction(self, transaction_id: str) -> Transaction:
        transaction = self.store.get(transaction_id)
        if transaction is None:
            raise not_found()
        self._expire_if_due(transaction)
        return transaction

    def reset(self) -> None:
        self.store.reset()
        self.faults.clear()
        self.autopilot = None
        self.people.reset()
        self.people_changed()

    def people_changed(self) -> None:
        self.store.save_people(self.people.to_json())

    @staticmethod
    def signer_of(transaction: Transaction) -> PatientProfile:
        """The profile that fills the transaction's documents (chosen at ``send``)."""
        if transaction.signer is None:  # stored before the registry existed
            return profile_for(transaction.phone)
        return PatientProfile.from_json(transaction.signer)

    # --- helpers --------------------------------------------------------------------------

    def _called(self, transaction_id: str, method: str) -> Transaction:
        transaction = self.transaction(transaction_id)
        transaction.count_call(method)
        self.store.save(transaction)
        return transaction

    def _replay(self, transaction: Transaction, method: str, key: str | None,
                fingerprint: str) -> dict[str, Any] | None:
        """The stored answer for ``key`` (the replay counted and saved), or ``None``."""
        try:
            earlier = transaction.replay(method, key, fingerprint)
        except KeyReused:
            self.store.save(transaction)  # the refused reuse is counted
            raise
        if earlier is not None:
            self.store.save(transaction)
        return earlier

    def _sealed_archive(self, transaction: Transaction) -> tuple[bytes, bytes]:
        """The archive and the operator's one-line seal over it (``idZip``, ``idSig``)."""
        rendered = []
        for index, document in enumerate(transaction.documents):
            sheet = self._sheet(transaction, index)
            rendered.append(archive.Rendered(document.title, render_xml(sheet),
                                             render_pdf(sheet, font=self.font)))
        zip_bytes = archive.build_archive(rendered, self.operator.seal)
        return zip_bytes, archive.p7s_line(self.operator.seal(zip_bytes))

    def _sheet(self, transaction: Transaction, index: int) -> Sheet:
        return Sheet(document=transaction.documents[index], patient=self.signer_of(transaction),
                     transaction_id=transaction.id,
                     created_at=datetime.fromisoformat(transaction.created_at))

    def _candidates(self, transaction: Transaction) -> list[tuple[str, bytes]]:
        """What an MO signature may cover: each PDF, each XML, the whole archive."""
        zip_file = self.store.file(transaction.id, transaction.id_zip or "")
        if zip_file is None:
            return []
        content = archive.entries(zip_file.data)
        by_kind = sorted(content.items(), key=lambda item: not item[0].endswith(".pdf"))
        return [(name, data) for name, data in by_kind if name.endswith((".pdf", ".xml"))] + [
            ("archive.zip", zip_file.data)]

    def _final_archive(self, transaction: Transaction) -> bytes:
        zip_file = self.store.file(transaction.id, transaction.id_zip or "")
        base = zip_file.data if zip_file is not None else archive.build_archive([], bytes)
        extra = {f"МО {u.filename}": self.store.files[u.file_id].data
                 for u in transaction.uploads if u.accepted}
        return archive.extended(base, extra)

    def _faulty(self, found: StoredFile) -> bytes:
        fault = self.faults.get("download")
        if fault is None or found.name != "archive.zip":
            return found.data
        data = found.data
        if fault.bad_operator_signature:
            data = archive.with_swapped_signatures(data)
        if fault.corrupt_archive:
            data = archive.corrupted(data, fault.rng)
        return data

    async def _run_autopilot(self, transaction: Transaction) -> None:
        pilot = self.autopilot
        if pilot is None or transaction.decision or not transaction.awaits_patient:
            return
        if transaction.calls.get("status", 0) < pilot.after_polls:
            return
        transaction.decision = pilot.decide()
        with contextlib.suppress(InvalidState):  # the page or a test acted first: theirs wins
            if transaction.decision == "sign":
                await self.sign(transaction.id)
            elif transaction.decision == "refuse":
                transaction.cancel("refused", self._now())

    def _expire_if_due(self, transaction: Transaction) -> None:
        limit = self.config.expire_after_s
        # The autopilot's "sign" is the patient's act, made before the deadline: the archive
        # may still be in the signing queue when the deadline passes, but it is not expired.
        if limit is None or not transaction.awaits_patient or transaction.decision == "sign":
            return
        age = self.config.clock() - datetime.fromisoformat(transaction.created_at)
        if age.total_seconds() >= limit:
            transaction.cancel("expired", self._now())
            self.store.save(transaction)

    @staticmethod
    def _check_phone(transaction: Transaction, phone: str) -> None:
        if phone != transaction.phone:
            raise ValidationFailed("phoneNumber: not the phone number of this transaction")

    def _now(self) -> str:
        return self.config.clock().isoformat(timespec="seconds")


def _fingerprint(*parts: str | bytes) -> str:
    """What identifies a request for its key: the same parts give the same digest."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _answer(stored: dict[str, Any]) -> str:
    """The file id of a stored answer, or its stored error raised again."""
    if "error" in stored:
        status, code, message = stored["error"]
        raise PlatformError(status, code, message)
    file_id: str = stored["fileId"]
    return file_id

