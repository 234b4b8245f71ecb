"""What a patient reads when «Подписать онлайн» cannot start: plain Russian for every reason
the signing service gives, never the service's staff wording or its codes."""

from __future__ import annotations

import re

import pytest

from medsign.domain import bot

SERVICE_REFUSALS = ["appointment_cancelled", "no_electronic_consents", "consent_not_signable",
                    "signing_request_active", "idempotency_key_reused", "not_found",
                    "something_new_tomorrow"]


@pytest.mark.parametrize("code", SERVICE_REFUSALS)
def test_every_refusal_reads_as_plain_russian(code: str) -> None:
    text = bot.start_refused(code)
    assert not re.search(r"[A-Za-z_]", text), text  # no codes, no field names
    assert text.endswith(".") and len(text) < 200


def test_a_cancelled_appointment_is_said_as_such_and_unknown_reasons_offer_the_clinic() -> None:
    assert "отменена" in bot.start_refused("appointment_cancelled")
    assert bot.start_refused("something_new_tomorrow") == bot.START_FAILED
    assert "в клинике" in bot.START_FAILED
