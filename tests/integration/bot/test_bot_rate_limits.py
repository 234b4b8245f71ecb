"""MAX's rate limits from the bot's side: a refused send (429) is retried until it gets
through, and its retries do not waste the request budget they need."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from medsign.integrations.max.emulator.limits import TooManyRequests
from medsign.notifications.service import NOTIFY_KIND
from tests.integration.bot.conftest import VISIT
from tests.integration.bot.stand import BotStand

INVITATION = "у вас приём"


class Saturated:
    """The platform's global bucket kept empty by someone else (another process of the bot, a
    burst): from the moment it is armed, every other request is refused — the first one is,
    the next one gets the single token that has refilled, and so on."""

    def __init__(self, stand: BotStand) -> None:
        self.limits = stand.emulator.limits
        self.original = self.limits.check
        self.turn = 0
        self.refused = 0

    def check(self, limit: str, key: int = 0) -> None:
        if limit != "global":
            self.original(limit, key)
            return
        self.turn += 1
        if self.turn % 2 == 1:
            self.refused += 1
            raise TooManyRequests("global", 1.0)

    def __enter__(self) -> Saturated:
        self.limits.check = self.check  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.limits.check = self.original  # type: ignore[method-assign]


@pytest.fixture
def due(stand: BotStand) -> Iterator[int]:
    stand.put_organization()
    stand.put_patient()
    user = stand.link()
    stand.put_appointment(starts_at=VISIT)
    stand.set_time(VISIT - timedelta(hours=24))
    yield user


def test_a_send_refused_with_429_gets_through_on_a_saturated_platform(
        stand: BotStand, due: int) -> None:
    # Without care, each retry first looks for the message in the chat (GET /messages) — it
    # cannot have been sent, MAX refused it — and that look-up takes the one token the send
    # needed: the send is refused again, for ever, until the item fails.
    with Saturated(stand) as platform:
        for _ in range(6):
            stand.run_worker()
            if stand.sent_with(due, INVITATION):
                break
            stand.advance(timedelta(seconds=3))  # past the retry's backoff (Retry-After 1 s)
    assert len(stand.sent_with(due, INVITATION)) == 1, stand.items(NOTIFY_KIND)
    assert platform.refused >= 1
    requests = stand.stats()["requests"]
    assert requests.get("GET /messages", 0) == 0, requests
    assert stand.notification().state == "sent"  # type: ignore[union-attr]


def test_after_an_unknown_outcome_the_retry_still_looks_before_sending(
        stand: BotStand, due: int) -> None:
    # A 5xx may come after the platform acted: that retry must look in the chat first.
    original = stand.emulator.limits.check
    state = {"failed": False}

    def flaky(limit: str, key: int = 0) -> None:
        if limit == "chat_messages" and not state["failed"]:
            state["failed"] = True
            from medsign.integrations.max.emulator.core import PlatformError
            raise PlatformError(503, "service.unavailable", "try later")
        original(limit, key)
    stand.emulator.limits.check = flaky  # type: ignore[method-assign]
    try:
        for _ in range(4):
            stand.run_worker()
            if stand.sent_with(due, INVITATION):
                break
            stand.advance(timedelta(seconds=3))
    finally:
        stand.emulator.limits.check = original  # type: ignore[method-assign]
    assert len(stand.sent_with(due, INVITATION)) == 1
    assert stand.stats()["requests"].get("GET /messages", 0) == 1
