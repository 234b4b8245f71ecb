"""An emulated partner transaction and its lifecycle (pure: no I/O).

``active/wip_client`` → (patient signs) → ``active/wip_partner`` with the archive's ids →
(MO uploads a signature that verifies) → ``active/done`` → (complete) → ``finished``;
or, from any active state, → ``cancelled`` (``reason`` "refused" / "expired") or ``error``.

Idempotency keys of ``upload`` and ``complete`` live inside their transaction (so one
transaction's key can never answer for another's, and a key is saved in the same write as the
change it made); ``send``'s key is the transaction's own ``idempotency_key``. ``tally`` counts
what each creating method really did, for tests to read through the control API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ACTIVE, FINISHED, CANCELLED, ERROR = "active", "finished", "cancelled", "error"
WIP_CLIENT, WIP_PARTNER, DONE = "wip_client", "wip_partner", "done"
FINAL = frozenset({FINISHED, CANCELLED, ERROR})


class InvalidState(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyReused(Exception):
    """An ``Idempotency-Key`` sent again with a request other than the one it first came with."""

    def __init__(self, method: str) -> None:
        self.message = (f"this Idempotency-Key was already used for another {method} request "
                        "of this transaction")
        super().__init__(self.message)


@dataclass
class Document:
    template_id: str
    title: str
    doc_type: str
    services: list[str]
    executor: dict[str, str]
    deal_template_id: str = ""


@dataclass
class Upload:
    file_id: str
    filename: str
    mime_type: str
    size: int
    accepted: bool
    covers: str | None
    detail: str
    at: str
    sha256: str = ""


@dataclass
class Transaction:
    id: str
    phone: str
    department_id: str
    deal_types: list[str]
    documents: list[Document]
    created_at: str
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    status: str = ACTIVE
    step_status: str = WIP_CLIENT
    reason: str | None = None
    id_zip: str | None = None
    id_sig: str | None = None
    final_file: str | None = None
    completion_template_id: str | None = None
    decision: str | None = None
    # the Госуслуги profile chosen at send (``PatientProfile.to_json``); None in transactions
    # stored before the emulator kept a registry of people
    signer: dict[str, Any] | None = None
    uploads: list[Upload] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, str]] = field(default_factory=list)
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)
    tally: dict[str, Any] = field(default_factory=lambda: {"sends_created": 1})

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def awaits_patient(self) -> bool:
        return self.status == ACTIVE and self.step_status == WIP_CLIENT

    def count_call(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def replay(self, method: str, key: str | None, fingerprint: str) -> dict[str, Any] | None:
        """The answer stored for an earlier ``method`` call with ``key``, counted as a replay;
        ``None`` when the key is new (or absent). Raises ``KeyReused`` for another request."""
        earlier: dict[str, Any]
        if method == "send":
            earlier = {"fingerprint": self.request_fingerprint, "answer": None}
        else:
            found = self.replays.get(f"{method}:{key}") if key else None
            if found is None:
                return None
            earlier = found
        if earlier["fingerprint"] not in (None, fingerprint):
            self._add("keys_reused")
            raise KeyReused(method)
        self._add(f"{method}s_replayed")
        answer: dict[str, Any] = earlier["answer"] or {}
        return answer

    def remember(self, method: str, key: str | None, fingerprint: str,
                 answer: dict[str, Any]) -> None:
        if key:
            self.replays[f"{method}:{key}"] = {"fingerprint": fingerprint, "answer": answer}

    def duplicate_uploads(self) -> int:
        """Copies of a signature accepted more than once: what the keys exist to prevent."""
        return sum(n - 1 for n in self.tally.get("uploads_accepted", {}).values())

    def check_sign_allowed(self) -> None:
        self._require(self.awaits_patient, "the patient can sign only a pending transaction")

    def sign(self, *, id_zip: str, id_sig: str, at: str) -> None:
        self.check_sign_allowed()
        self.id_zip, self.id_sig, self.step_status = id_zip, id_sig, WIP_PARTNER
        self._record("signed", at)

    def cancel(self, reason: str, at: str) -> None:
        self._require(self.status == ACTIVE, f"the transaction is already {self.status}")
        self.status, self.reason = CANCELLED, reason
        self._record(f"cancelled: {reason}", at)

    def fail(self, at: str) -> None:
        self._require(self.status == ACTIVE, f"the transaction is already {self.status}")
        self.status = ERROR
        self._record("error", at)

    def check_upload_allowed(self) -> None:
        self._require_active()
        self._require(self.step_status in (WIP_PARTNER, DONE),
                      "upload is possible only after the patient has signed")

    def record_upload(self, upload: Upload) -> None:
        self.uploads.append(upload)
        if upload.accepted:
            self.step_status = DONE
            accepted = self.tally.setdefault("uploads_accepted", {})
            accepted[upload.sha256] = accepted.get(upload.sha256, 0) + 1
        else:
            self._add("uploads_rejected")
        self._record(f"upload {'accepted' if upload.accepted else 'rejected'}", upload.at)

    def check_download_allowed(self) -> None:
        # Files stay readable after ``finished``; a cancelled or failed deal gives nothing.
        self._require(self.status in (ACTIVE, FINISHED),
                      f"the transaction is {self.status}: its files are gone")

    def check_complete_allowed(self) -> None:
        self._require_active()
        self._require(self.step_status == DONE,
                      "complete is possible only after an accepted upload")

    def complete(self, *, final_file: str, template_id: str, at: str) -> None:
        self.check_complete_allowed()
        self.status, self.final_file = FINISHED, final_file
        self.completion_template_id = template_id
        self._add("completes_accepted")
        self._record("finished", at)

    def status_json(self) -> dict[str, Any]:
        """The §2.2 answer."""
        data = {"idZip": self.id_zip, "idSig": self.id_sig} if self.id_zip else {}
        doc_type = self.documents[0].doc_type if self.documents else "med_permission"
        body: dict[str, Any] = {"transactionId": self.id, "status": self.status, "steps": [
            {"type": doc_type, "status": self.step_status, "data": data}]}
        if self.reason:
            body["reason"] = self.reason
        return body

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Transaction:
        values = dict(raw)
        values["documents"] = [Document(**d) for d in raw.get("documents", [])]
        values["uploads"] = [Upload(**u) for u in raw.get("uploads", [])]
        return cls(**values)

    def _require_active(self) -> None:
        self._require(self.status == ACTIVE, f"the transaction is already {self.status}")

    def _add(self, counter: str) -> None:
        self.tally[counter] = self.tally.get(counter, 0) + 1

    def _record(self, event: str, at: str) -> None:
        self.events.append({"at": at, "event": event})

    @staticmethod
    def _require(condition: bool, message: str) -> None:
        if not condition:
            raise InvalidState(message)
