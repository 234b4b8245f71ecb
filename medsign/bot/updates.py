"""Incoming MAX updates: stored once, then turned into decisions.

``ingest`` keeps each update once — by a digest of its JSON, so a webhook delivered twice or
a batch re-read after a crash changes nothing — and queues it for the worker in the same
transaction. ``Handler.handle`` runs in the worker's commit: it links accounts, records the
patient's choice by compare-and-set (a press delivered twice starts signing once), starts
signing, and writes what to answer into ``max_updates.outcome`` for the ``reply`` step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from medsign.bot import links as max_links
from medsign.bot import repository
from medsign.clock import Clock
from medsign.db.models import NotificationRow
from medsign.domain import bot
from medsign.domain.errors import DomainError
from medsign.domain.patient_choice import Outcome
from medsign.domain.phones import normalize_phone
from medsign.integrations.max.schemas import (
    BotStarted,
    BotStopped,
    MessageCallback,
    MessageCreated,
    parse_update,
)
from medsign.notifications import service as notifications
from medsign.notifications.service import NotificationPolicy
from medsign.records.patients import full_name
from medsign.runner import store
from medsign.signing import patient_choice
from medsign.signing.availability import IdentityCheck

UPDATE_KIND = "max.update"
POLL_KIND = "max.poll"
SUBSCRIBE_KIND = "max.subscribe"


def dedupe_key(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def ingest(conn: Connection, raw: dict[str, Any], *, via: str, now: datetime) -> bool:
    """Store one update and queue it; False when it was already here (a repeat)."""
    stored = repository.insert_update(conn, raw=raw, dedupe_key=dedupe_key(raw), via=via,
                                      now=now)
    if stored is None:
        return False
    store.enqueue(conn, kind=UPDATE_KIND, step="handle", ref=str(stored), now=now)
    return True


def ingest_many(conn: Connection, raws: Iterable[dict[str, Any]], *, via: str,
                now: datetime) -> None:
    for raw in raws:
        ingest(conn, raw, via=via, now=now)


class Handler:
    def __init__(self, *, clock: Clock, policy: NotificationPolicy,
                 identities: IdentityCheck) -> None:
        self.clock = clock
        self.policy = policy
        self.identities = identities

    def handle(self, db: Session, update_id: int) -> None:
        """Decide what the stored update means, once; the runner step commits it."""
        row = repository.stored_update(db, update_id)
        if row.outcome is None:
            row.outcome = self._dispatch(db, parse_update(row.payload), self.clock.now())

    def _dispatch(self, db: Session, update: Any, now: datetime) -> dict[str, Any]:
        if isinstance(update, MessageCallback):
            return self._callback(db, update, now)
        if isinstance(update, BotStarted):
            return self._started(db, update, now)
        if isinstance(update, BotStopped):
            max_links.set_reachable(db, user_id=update.user_id, reachable=False,
                                    chat_id=update.chat_id, now=now)
            return {}
        if isinstance(update, MessageCreated) and update.contact_phone:
            return self._contact(db, update, now)
        return {}

    # -- buttons --------------------------------------------------------------------------
    def _callback(self, db: Session, cb: MessageCallback, now: datetime) -> dict[str, Any]:
        relink = bot.parse_relink_payload(cb.payload)
        if relink is not None:
            return self._relink(db, cb, relink[0] is bot.RelinkAnswer.yes, relink[1], now)
        parsed = bot.parse_payload(cb.payload)
        row = repository.notification_by_token(db, token=parsed[1]) if parsed else None
        if parsed is None or row is None or row.max_user_id != cb.user_id or \
                row.state != "sent" or now > row.token_expires_at:
            return _toast(cb, bot.STALE_BUTTON)
        if parsed[0] is bot.Choice.sign:
            return self._sign(db, cb, row, now)
        return self._paper(db, cb, row, now)

    def _sign(self, db: Session, cb: MessageCallback, row: NotificationRow,
              now: datetime) -> dict[str, Any]:
        decision = patient_choice.sign_online(db, appointment_id=row.appointment_id,
                                              actor=f"max:{cb.user_id}",
                                              identities=self.identities, now=now,
                                              invitation=row)
        if decision.outcome is Outcome.already_chosen:
            return _toast(cb, bot.ALREADY_CHOSEN)
        if decision.outcome is Outcome.phone_missing:
            # Signing needs the phone: ask for the contact; the buttons go on acting.
            return {**_toast(cb, bot.PHONE_NEEDED_TOAST),
                    **_send(cb.user_id, cb.chat_id, bot.SHARE_CONTACT_TO_SIGN, "contact")}
        if decision.outcome is Outcome.unavailable:
            # The clinic cannot sign online now: say so kindly; both buttons go on acting
            # (online again later, or on paper).
            return {**_toast(cb, bot.SIGNING_ONLINE_UNAVAILABLE_TOAST),
                    **_send(cb.user_id, cb.chat_id, bot.SIGNING_ONLINE_UNAVAILABLE)}
        if decision.outcome is not Outcome.started:  # staff wording stays with staff
            return _toast(cb, bot.start_refused(decision.code or ""))
        # Only "being prepared": the documents reach Госключ when the runner's ``send`` has
        # been accepted, and that is told then, with the link
        # (``notifications.service.tell_patient``).
        return _answer(cb, toast=bot.SIGNING_STARTED_TOAST, text=bot.after_sign(decision.kinds),
                       buttons="none")

    @staticmethod
    def _paper(db: Session, cb: MessageCallback, row: NotificationRow,
               now: datetime) -> dict[str, Any]:
        decision = patient_choice.sign_on_paper(db, appointment_id=row.appointment_id, now=now,
                                                invitation=row)
        if decision.outcome is Outcome.already_chosen:
            return _toast(cb, bot.ALREADY_CHOSEN)
        appt, org = decision.appointment, decision.organization
        return _answer(cb, toast=bot.PAPER_TOAST, text=bot.after_paper(appt.starts_at,
                                                                        org.timezone),
                       buttons="none")

    # -- linking --------------------------------------------------------------------------
    def _started(self, db: Session, started: BotStarted, now: datetime) -> dict[str, Any]:
        known = max_links.set_reachable(db, user_id=started.user_id, reachable=True,
                                        chat_id=started.chat_id, now=now)
        linking = None
        if started.payload:
            linking = max_links.link_by_token(db, token=started.payload,
                                              user_id=started.user_id,
                                              chat_id=started.chat_id, now=now)
            known = [linking.patient] if linking is not None and linking.linked else known
        # Re-plan also when the link fails: a patient who stopped the bot and restarts it
        # from the portal link they already used is reachable again all the same.
        for patient in known:
            notifications.sync_patient(db, patient=patient, policy=self.policy, now=now)
        if started.payload and linking is None:
            return _send(started.user_id, started.chat_id, bot.LINK_FAILED, "contact")
        if linking is not None and not linking.linked:
            return _send(started.user_id, started.chat_id, bot.RELINK_WAIT)
        if not known:
            return _send(started.user_id, started.chat_id, bot.WELCOME_UNKNOWN, "contact")
        return _send(started.user_id, started.chat_id, bot.linked(full_name(known[0])))

    def _contact(self, db: Session, message: MessageCreated, now: datetime) -> dict[str, Any]:
        if message.contact_user_id != message.user_id or not message.contact_phone:
            return {}  # someone else's contact proves nothing about this account
        user, chat = message.user_id, message.chat_id
        linking = max_links.link_by_phone(db, phone=message.contact_phone, user_id=user,
                                          chat_id=chat, now=now)
        patients = linking.linked
        phone = _signing_phone(message.contact_phone)
        adopted = [] if phone is None else max_links.adopt_phone(db, phone=phone, user_id=user,
                                                                 now=now)
        for patient in patients + adopted:
            notifications.sync_patient(db, patient=patient, policy=self.policy, now=now)
        if adopted:
            return self._phone_saved(db, user, chat, adopted, now)
        if patients:
            return _send(user, chat, bot.linked(full_name(patients[0])))
        if linking.waiting:
            return _send(user, chat, bot.RELINK_WAIT)
        if phone is None and repository.is_linked(db, user_id=user):
            return _send(user, chat, bot.PHONE_UNUSABLE)
        return _send(user, chat, bot.CONTACT_NOT_FOUND)

    def _relink(self, db: Session, cb: MessageCallback, yes: bool, token: str,
                now: datetime) -> dict[str, Any]:
        """The current account answers whether a new account may take the patient over."""
        decision = max_links.decide_relink(db, token=token, user_id=cb.user_id, yes=yes,
                                           now=now)
        if decision is None:
            return _toast(cb, bot.STALE_BUTTON)
        if not decision.switched:
            return {**_answer(cb, toast=bot.RELINK_NO_TOAST, text=bot.RELINK_KEPT_OLD,
                              buttons="none"),
                    **_send(decision.new_user_id, decision.new_chat_id, bot.RELINK_DECLINED)}
        notifications.sync_patient(db, patient=decision.patient, policy=self.policy, now=now)
        return {**_answer(cb, toast=bot.RELINK_YES_TOAST, text=bot.RELINK_DONE_OLD,
                          buttons="none"),
                **_send(decision.new_user_id, decision.new_chat_id,
                        bot.linked(full_name(decision.patient)))}

    @staticmethod
    def _phone_saved(db: Session, user_id: int, chat_id: int | None, patients: list[Any],
                     now: datetime) -> dict[str, Any]:
        """Offer the buttons of the patient's open invitation again, now that signing can
        start."""
        open_one = repository.open_invitation(db, patient_ids=[p.id for p in patients],
                                              user_id=user_id, now=now)
        if open_one is None:
            return _send(user_id, chat_id, bot.PHONE_SAVED)
        reply = _send(user_id, chat_id, bot.PHONE_SAVED_SIGN, "choice")
        reply["send"]["token"] = open_one.token
        return reply


def _signing_phone(phone: str) -> str | None:
    """The shared phone as the signing platform needs it, or None for one it cannot serve."""
    try:
        return normalize_phone(phone)
    except DomainError:
        return None


def _toast(cb: MessageCallback, text: str) -> dict[str, Any]:
    return {"answer": {"callback_id": cb.callback_id, "user_id": cb.user_id, "toast": text,
                       "text": None}}


def _answer(cb: MessageCallback, *, toast: str, text: str, buttons: str) -> dict[str, Any]:
    return {"answer": {"callback_id": cb.callback_id, "user_id": cb.user_id, "toast": toast,
                       "text": text, "buttons": buttons}}


def _send(user_id: int, chat_id: int | None, text: str, buttons: str = "none") -> dict[str, Any]:
    return {"send": {"user_id": user_id, "chat_id": chat_id, "text": text, "buttons": buttons}}


