"""Webhook deliveries of a real signing (worker, API and the Goskey emulator in-process, on
the test database) to a real HTTP receiver on a local port, which verifies every signature
with the Standard Webhooks reference library."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.db.models import ApiClientRow, WebhookDeliveryRow, WebhookEndpointRow
from medsign.domain.webhooks import Targets
from medsign.webhooks import service as webhooks
from tests import factories as f
from tests.integration.signing.stand import SigningStand
from tests.integration.signing.test_evidence import signed
from tests.integration.webhooks.receiver import Receiver

ALL_TYPES = ["signing_request.state_changed", "signing_request.completed",
             "signing_request.refused", "signing_request.expired", "signing_request.failed",
             "invitation.sent", "invitation.answered", "max_account.linked"]


def subscribe(stand: SigningStand, url: str, *, client: str = "mis",
              types: list[str] | None = None) -> WebhookEndpointRow:
    with Session(stand.container.engine, expire_on_commit=False) as db:
        owner = db.scalars(select(ApiClientRow).where(ApiClientRow.name == client)).one()
        made = webhooks.create(db, api_client_id=owner.id, url=url,
                               event_types=types or ALL_TYPES, description=None,
                               targets=Targets(), actor="test", now=stand.clock.now())
        db.commit()
    return made.endpoint


def deliveries(engine: Engine) -> list[WebhookDeliveryRow]:
    with Session(engine) as db:
        return list(db.scalars(select(WebhookDeliveryRow)))


def test_every_event_of_a_signing_arrives_signed_and_completion_links_the_documents(
        stand: SigningStand, mis: Receiver) -> None:
    endpoint = subscribe(stand, mis.url)
    mis.secret = endpoint.secret
    rid = signed(stand)
    stand.run_worker()
    assert all(r.verified for r in mis.received), [r.headers for r in mis.received]
    changes = [r.payload["data"] for r in mis.received
               if r.payload["type"] == "signing_request.state_changed"]
    states = [c["state"] for c in changes]
    assert states[0] == "new" and states[-1] == "completed", states
    history = [h["to_state"] for h in
               stand.api.get(f"/api/v1/signing-requests/{rid}").json()["history"]]
    assert sorted(states) == sorted(history), (states, history)  # one event per move
    assert all(c["signing_request"] == rid and c["organization"] == "mo1" for c in changes)
    completed = [r.payload for r in mis.received if r.payload["type"] ==
                 "signing_request.completed"]
    assert len(completed) == 1
    data = completed[0]["data"]
    assert data["documents_url"] == f"/api/v1/signing-requests/{rid}/documents"
    listed = stand.api.get(data["documents_url"]).json()["documents"]
    assert [d["pdf"] for d in data["documents"]] == [d["pdf"]["url"] for d in listed]
    for link in data["documents"]:
        for part in ("pdf", "patient_signature", "mo_signature"):
            assert stand.api.get(link[part]).status_code == 200
    ids = [r.webhook_id for r in mis.received]
    assert len(set(ids)) == len(ids)  # one id per event and endpoint
    assert {d.state for d in deliveries(stand.container.engine)} == {"delivered"}
    assert len(deliveries(stand.container.engine)) == len(mis.received)


def test_a_500_then_200_gets_the_same_event_again_with_the_same_webhook_id(
        stand: SigningStand, mis: Receiver) -> None:
    endpoint = subscribe(stand, mis.url, types=["signing_request.state_changed"])
    mis.secret = endpoint.secret
    mis.answers = [500]
    stand.start_signing()
    stand.run_worker()
    first = [r for r in mis.received if r.payload["data"]["state"] == "new"]
    assert [r.answered for r in first] == [500]
    stand.advance(timedelta(seconds=3))
    stand.run_worker()
    again = [r for r in mis.received if r.payload["data"]["state"] == "new"]
    assert [r.answered for r in again] == [500, 200]
    assert again[0].webhook_id == again[1].webhook_id
    assert again[0].body == again[1].body and all(r.verified for r in again)
    assert again[0].headers["webhook-timestamp"] != again[1].headers["webhook-timestamp"]
    with Session(stand.container.engine) as db:
        found = webhooks.deliveries(db, endpoint_id=endpoint.id)
        new = next(v for v in found if v.delivery.id == again[0].webhook_id.removeprefix("msg_"))
        tried = webhooks.attempts(db, new.delivery.id)
    assert new.delivery.state == "delivered" and new.delivery.attempts == 2
    assert [a.status_code for a in tried] == [500, 200]
    assert tried[0].error == "HTTP 500" and len(tried[0].response_excerpt or "") == 1024
    assert tried[1].error is None and tried[1].response_excerpt == '{"ok": true}'
    assert all(a.duration_ms >= 0 for a in tried)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_receiver_down_longer_than_the_period_gets_its_endpoint_disabled(
        stand: SigningStand) -> None:
    endpoint = subscribe(stand, f"http://127.0.0.1:{free_port()}/down",
                         types=["signing_request.state_changed"])
    stand.start_signing()
    stand.run_worker()
    for _ in range(12):  # 12 × 10 s: past the one-minute period
        stand.advance(timedelta(seconds=10))
        stand.run_worker()
    with Session(stand.container.engine) as db:
        row = db.get(WebhookEndpointRow, endpoint.id)
        assert row is not None and row.state == "disabled"
        assert row.disabled_reason and "1 мин" in row.disabled_reason
        found = webhooks.deliveries(db, endpoint_id=endpoint.id)
        tried = webhooks.attempts(db, found[0].delivery.id)
    assert {v.delivery.state for v in found} == {"stopped"}
    assert len(tried) >= 3 and all(a.status_code is None and a.error for a in tried)
    # it stayed active while the failures were younger than the period
    assert row.disabled_at is not None and row.failing_since is not None
    assert row.disabled_at - row.failing_since > timedelta(minutes=1)


def test_replay_resends_the_stored_payload_with_the_same_webhook_id(
        stand: SigningStand, mis: Receiver) -> None:
    endpoint = subscribe(stand, mis.url, types=["signing_request.state_changed"])
    mis.secret = endpoint.secret
    stand.start_signing()
    stand.run_worker()
    original = mis.received[0]
    with Session(stand.container.engine) as db:
        webhooks.replay(db, api_client_id=endpoint.api_client_id, endpoint_id=endpoint.id,
                        delivery_id=original.webhook_id.removeprefix("msg_"), actor="test",
                        now=stand.clock.now())
        db.commit()
    stand.run_worker()
    again = [r for r in mis.received if r.webhook_id == original.webhook_id]
    assert len(again) == 2 and again[1].body == original.body and again[1].verified


def test_only_clients_allowed_to_see_the_organization_get_its_events(
        stand: SigningStand, mis: Receiver) -> None:
    f.token(stand.container.engine, name="other-mis", organizations=["mo2"])
    endpoint = subscribe(stand, mis.url, client="other-mis")
    mis.secret = endpoint.secret
    stand.start_signing()
    stand.run_worker()
    assert mis.received == [] and deliveries(stand.container.engine) == []
