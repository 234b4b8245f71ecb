"""The МИС hears about the invitation and the patient's answer, and about a MAX account
linked, through its webhook endpoint (a real receiver on a local port)."""

from __future__ import annotations

from tests.integration.bot.conftest import invite
from tests.integration.bot.stand import BotStand
from tests.integration.webhooks.receiver import receiver


def test_link_invitation_and_answer_arrive_as_events(stand: BotStand) -> None:
    with receiver() as mis:
        made = stand.api.post("/api/v1/webhook-endpoints", json={
            "url": mis.url, "event_types": ["max_account.linked", "invitation.sent",
                                            "invitation.answered"]})
        assert made.status_code == 201, made.text
        secret = mis.secret = made.json()["secret"]
        invited = invite(stand)
        stand.press(invited.user_id, invited.mid, invited.paper)
        stand.work()
        stand.run_worker()
        by_type = {r.payload["type"]: r for r in mis.received}
        assert set(by_type) == {"max_account.linked", "invitation.sent", "invitation.answered"}
        assert all(r.signed_with(secret) for r in mis.received)
        linked = by_type["max_account.linked"].payload["data"]
        assert (linked["organization"], linked["patient"]) == ("mo1", "p1")
        sent = by_type["invitation.sent"].payload["data"]
        assert (sent["appointment"], sent["patient"], sent["channel"]) == ("a1", "p1", "max")
        answered = by_type["invitation.answered"].payload["data"]
        assert (answered["appointment"], answered["choice"]) == ("a1", "paper")
        assert len(mis.received) == 3  # each once
