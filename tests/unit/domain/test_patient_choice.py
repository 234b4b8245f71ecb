"""The patient's choice (sign online / on paper) as plain rules: what a refused start means,
when the invitation's buttons go on acting, what the pages offer, and what the patient reads."""

from __future__ import annotations

import re

import pytest

from medsign.domain import bot
from medsign.domain.patient_choice import (
    Outcome,
    keeps_choice_open,
    may_choose,
    refusal_outcome,
)
from medsign.signing import availability


def test_the_service_refusals_map_to_what_they_mean_for_the_patient() -> None:
    assert refusal_outcome("patient_phone_missing") is Outcome.phone_missing
    # the code the availability rule really raises, not a copy of it
    assert refusal_outcome(availability.UNAVAILABLE) is Outcome.unavailable
    assert refusal_outcome("signing_request_active") is Outcome.already_started
    for code in ("appointment_cancelled", "no_electronic_consents", "something_new"):
        assert refusal_outcome(code) is Outcome.refused


def test_only_what_can_change_keeps_the_buttons_acting() -> None:
    assert {o for o in Outcome if keeps_choice_open(o)} == {Outcome.phone_missing,
                                                            Outcome.unavailable}


@pytest.mark.parametrize(("scheduled", "pending", "open_", "offered"), [
    (True, True, False, True),
    (False, True, False, False),  # the visit is cancelled
    (True, False, False, False),  # nothing waits for an electronic signature
    (True, True, True, False),  # signing is already under way
])
def test_the_pages_offer_the_choice_only_while_it_is_open(scheduled: bool, pending: bool,
                                                          open_: bool, offered: bool) -> None:
    assert may_choose(scheduled=scheduled, pending_electronic=pending,
                      signing_open=open_) is offered


@pytest.mark.parametrize("outcome", [o for o in Outcome
                                     if o not in (Outcome.started, Outcome.paper)])
@pytest.mark.parametrize("code", [None, "patient_phone_missing", "mo_signing_unavailable",
                                  "no_electronic_consents", "internal_reason_x"])
def test_a_refusal_on_the_page_reads_as_plain_russian(outcome: Outcome, code: str | None) -> None:
    text = bot.choice_refused(outcome, code)
    # no codes, no field names; the messenger keeps its own name
    assert not re.search(r"[A-Za-z_]", text.replace("MAX", "")), text
    assert "ИДС" not in text and text.endswith(".")


def test_each_refusal_says_what_the_patient_can_do() -> None:
    assert "телефон" in bot.choice_refused(Outcome.phone_missing, "patient_phone_missing")
    assert bot.choice_refused(Outcome.unavailable, None) == bot.SIGNING_ONLINE_UNAVAILABLE
    assert bot.choice_refused(Outcome.already_started, None) == bot.SIGNING_ALREADY_OPEN
    assert bot.choice_refused(Outcome.refused, "appointment_cancelled") == \
        bot.start_refused("appointment_cancelled")
    assert bot.GOSKEY_BUTTON in bot.GOSKEY_INSTRUCTION
