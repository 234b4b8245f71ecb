"""The rules of outbound events: URLs, event types, the disable rule, the signature headers
and the retry timing."""

from __future__ import annotations

import base64
import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from medsign.domain import webhooks as rules
from medsign.runner.backoff import backoff_delay
from medsign.webhooks.flow import headers

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize("url", ["https://mis.example.ru/hooks", "https://8.8.8.8:8443/h?x=1"])
def test_https_urls_are_accepted_everywhere(url: str) -> None:
    assert rules.check_url(f"  {url} ", production=True) == url


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/h", "https://localhost:8443/h", "https://LOCALHOST./h",
    "https://api.localhost/h", "https://10.0.0.5:8443/h", "https://192.168.1.1/h",
    "https://172.16.0.1/h", "https://169.254.169.254/latest/meta-data", "https://[::1]/h",
    "https://[fd00::1]/h", "https://[::ffff:127.0.0.1]/h", "https://100.64.0.1/h",
    "https://0.0.0.0/h", "https://224.0.0.1/h"])
def test_production_refuses_addresses_inside_the_servers_network(url: str) -> None:
    with pytest.raises(rules.UrlRejected, match="внутреннюю сеть"):
        rules.check_url(url, production=True)
    assert rules.check_url(url, production=False) == url  # the demo's receivers are local


def test_a_configured_network_lets_a_regional_mis_in() -> None:
    region = (ipaddress.ip_network("10.20.0.0/16"),)
    targets = rules.Targets(production=True, allowed=region)
    assert targets.check_url("https://10.20.3.4/h") == "https://10.20.3.4/h"
    with pytest.raises(rules.UrlRejected, match="webhooks.allowed_networks"):
        targets.check_url("https://10.21.3.4/h")
    assert rules.Targets().check_url("http://10.21.3.4/h")


def test_at_delivery_one_internal_address_among_the_resolved_ones_refuses() -> None:
    public, internal = ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.0.0.1")
    production = rules.Targets(production=True)
    assert production.refusal([public]) is None
    refusal = production.refusal([public, internal])
    assert refusal is not None and "10.0.0.1" in refusal
    assert rules.Targets().refusal([internal]) is None
    mapped = ipaddress.ip_address("::ffff:10.0.0.1")
    assert production.refusal([mapped]) is not None


def test_http_is_allowed_outside_production_only() -> None:
    assert rules.check_url("http://127.0.0.1:9000/h", production=False)
    with pytest.raises(rules.UrlRejected, match="https://"):
        rules.check_url("http://mis.example.ru:9000/h", production=True)


@pytest.mark.parametrize(("url", "words"), [
    ("https://user:pw@mis.example.ru/h", "пароля"),
    ("https://user@mis.example.ru/h", "пароля"),
    ("ftp://mis.example.ru/h", "https://"),
    ("https:///path", "имени сервера"),
    ("https://mis.example.ru/h#x", "#"),
    ("https://mis.example.ru:99999/h", "разобран"),
    ("", "от 1"),
    ("https://mis.example.ru/" + "a" * 2000, "от 1"),
])
def test_bad_urls_are_refused_with_a_reason(url: str, words: str) -> None:
    with pytest.raises(rules.UrlRejected, match=words):
        rules.check_url(url, production=False)


def test_event_types_are_known_unique_and_ordered() -> None:
    assert rules.check_event_types(["invitation.sent", "signing_request.completed",
                                    "invitation.sent"]) == ["signing_request.completed",
                                                            "invitation.sent"]
    with pytest.raises(ValueError, match="signing_request.nope"):
        rules.check_event_types(["signing_request.nope"])
    with pytest.raises(ValueError, match="хотя бы один"):
        rules.check_event_types([])


@pytest.mark.parametrize(("move", "expected"), [
    ((None, "new", "signing.new"), ["signing_request.state_changed"]),
    (("uploaded", "completed", "signing.completed"),
     ["signing_request.state_changed", "signing_request.completed"]),
    (("sent", "cancelled", "signing.refused"),
     ["signing_request.state_changed", "signing_request.refused"]),
    (("sent", "cancelled", "signing.cancelled_by_clinic"), ["signing_request.state_changed"]),
    (("sent", "expired", "signing.expired"),
     ["signing_request.state_changed", "signing_request.expired"]),
    (("sent", "failed", "signing.failed"),
     ["signing_request.state_changed", "signing_request.failed"]),
    (("failed", "failed", "signing.failed"), []),
])
def test_each_move_raises_its_events(move: tuple[str | None, str, str],
                                     expected: list[str]) -> None:
    assert [e.value for e in rules.signing_events(*move)] == expected


def test_an_endpoint_is_disabled_only_after_failing_longer_than_the_period() -> None:
    period = timedelta(days=3)
    first = rules.after_attempt(delivered=False, failing_since=None, now=NOW, period=period)
    assert first == rules.DisableDecision(False, NOW)
    at_period = rules.after_attempt(delivered=False, failing_since=NOW, now=NOW + period,
                                    period=period)
    assert not at_period.disable
    past = rules.after_attempt(delivered=False, failing_since=NOW,
                               now=NOW + period + timedelta(seconds=1), period=period)
    assert past.disable and past.failing_since == NOW
    healed = rules.after_attempt(delivered=True, failing_since=NOW,
                                 now=NOW + 2 * period, period=period)
    assert healed == rules.DisableDecision(False, None)


def test_the_reason_names_the_period_in_words() -> None:
    assert "3 дн." in rules.disabled_reason(timedelta(days=3))
    assert "2 ч" in rules.disabled_reason(timedelta(hours=2))
    assert "1 мин" in rules.disabled_reason(timedelta(minutes=1))


def test_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    one, two = rules.new_secret(), rules.new_secret()
    assert one != two and one.startswith("whsec_")
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32


def test_the_headers_verify_with_the_reference_library_and_nothing_else() -> None:
    # the reference library checks the timestamp against the wall clock (5 minutes), so
    # this test signs at the moment it runs, not at the module's import
    secret, body = rules.new_secret(), '{"type":"invitation.sent","data":{}}'
    now = datetime.now(UTC).replace(microsecond=0)
    sent = headers(message_id="msg_1", secret=secret, at=now, body=body)
    assert sent["webhook-id"] == "msg_1"
    assert sent["webhook-timestamp"] == str(int(now.timestamp()))
    assert sent["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, sent) == {"type": "invitation.sent", "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("{}", '{"x":1}'), sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(rules.new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**sent, "webhook-id": "msg_2"})


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap() -> None:
    base, cap = timedelta(seconds=30), timedelta(hours=1)
    rng = random.Random(7)
    delays = [backoff_delay(n, base=base, cap=cap, rng=rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(cap, base * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] <= cap and delays[-1] >= cap / 2


def test_the_excerpt_keeps_one_kilobyte() -> None:
    assert len(rules.excerpt(b"a" * 5000)) == 1024
    assert rules.excerpt("ж".encode() * 600).startswith("ж")
