"""The patient's decision about an appointment's documents — sign online now, or on paper in
the clinic — as plain rules: what a refused start means for the patient, when the
invitation's buttons must keep acting, and what the patient's pages offer.

The same decision arrives from the MAX buttons and from the patient's pages (the app «К врачу»
and the portal); ``medsign.signing.patient_choice`` carries it out once for both.
"""

from __future__ import annotations

from enum import StrEnum

# The signing service's refusals that are not the end of the matter for the patient.
PHONE_MISSING = "patient_phone_missing"
MO_UNAVAILABLE = "mo_signing_unavailable"
SIGNING_ALREADY_OPEN = "signing_request_active"


class Outcome(StrEnum):
    started = "started"  # online signing started now
    paper = "paper"  # the pending electronic documents are now to be signed on paper
    already_chosen = "already_chosen"  # the invitation's choice was made before (counts once)
    already_started = "already_started"  # online signing of this appointment is under way
    phone_missing = "phone_missing"  # signing needs the patient's phone first
    unavailable = "unavailable"  # the clinic cannot sign online just now
    nothing_pending = "nothing_pending"  # no document waits for the patient's choice
    refused = "refused"  # the start was refused for another reason (its code says which)


def refusal_outcome(code: str) -> Outcome:
    """What a refused start of online signing means for the patient."""
    return {PHONE_MISSING: Outcome.phone_missing, MO_UNAVAILABLE: Outcome.unavailable,
            SIGNING_ALREADY_OPEN: Outcome.already_started}.get(code, Outcome.refused)


def keeps_choice_open(outcome: Outcome) -> bool:
    """Whether the invitation's buttons must go on acting: the start failed for something
    that can change (the phone is shared, the clinic can sign again) — the patient may press
    «Подписать онлайн» again later, or choose paper."""
    return outcome in (Outcome.phone_missing, Outcome.unavailable)


def may_choose(*, scheduled: bool, pending_electronic: bool, signing_open: bool) -> bool:
    """Whether the patient's pages offer «Подписать онлайн» and «Подпишу в клинике»: the visit
    is on, some document waits to be signed electronically, and no signing is under way."""
    return scheduled and pending_electronic and not signing_open
