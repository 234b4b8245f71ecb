"""The МИС manages its webhook endpoints through the REST API: the secret is shown once,
another client sees nothing of them, bad input changes nothing; deliveries, attempts and
replay; the OpenAPI document describes every event with an example."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.db.models import WebhookEndpointRow
from medsign.domain.webhooks import Targets
from tests import factories as f
from tests.integration.signing.stand import SigningStand
from tests.integration.webhooks.receiver import Receiver

BASE = "/api/v1/webhook-endpoints"


def create(stand: SigningStand, url: str, types: list[str] | None = None) -> dict[str, object]:
    r = stand.api.post(BASE, json={"url": url, "event_types": types or [
        "signing_request.state_changed"], "description": "МИС поликлиники"})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, object] = r.json()
    return body


def test_create_list_rotate_disable_enable(stand: SigningStand, mis: Receiver) -> None:
    made = create(stand, mis.url)
    secret = str(made["secret"])
    assert secret.startswith("whsec_") and made["state"] == "active"
    listed = stand.api.get(BASE).json()
    assert [e["id"] for e in listed] == [made["id"]] and "secret" not in listed[0]
    assert "secret" not in stand.api.get(f"{BASE}/{made['id']}").json()
    rotated = stand.api.post(f"{BASE}/{made['id']}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    off = stand.api.post(f"{BASE}/{made['id']}/disable", json={"reason": "обновляем МИС"})
    assert off.json()["state"] == "disabled" and off.json()["disabled_reason"] == "обновляем МИС"
    on = stand.api.post(f"{BASE}/{made['id']}/enable").json()
    assert on["state"] == "active" and on["disabled_reason"] is None
    changed = stand.api.patch(f"{BASE}/{made['id']}", json={
        "event_types": ["signing_request.completed", "signing_request.failed"]})
    assert changed.json()["event_types"] == ["signing_request.completed",
                                             "signing_request.failed"]


def test_bad_input_is_refused_and_changes_nothing(stand: SigningStand) -> None:
    for body, code in (
            ({"url": "https://u:p@mis.example.ru/h", "event_types": ["invitation.sent"]},
             "invalid_webhook_url"),
            ({"url": "ftp://mis.example.ru/h", "event_types": ["invitation.sent"]},
             "invalid_webhook_url")):
        r = stand.api.post(BASE, json=body)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert stand.api.post(BASE, json={"url": "https://mis.example.ru/h",
                                      "event_types": ["nope"]}).status_code == 422
    assert stand.api.post(BASE, json={"url": "https://mis.example.ru/h",
                                      "event_types": []}).status_code == 422
    made = create(stand, "https://mis.example.ru/h")
    blank = stand.api.post(f"{BASE}/{made['id']}/disable", json={"reason": "   "})
    assert blank.status_code == 422
    assert stand.api.get(f"{BASE}/{made['id']}").json()["state"] == "active"
    with Session(stand.container.engine) as db:
        assert len(list(db.scalars(select(WebhookEndpointRow)))) == 1


def test_production_refuses_addresses_inside_the_servers_network(stand: SigningStand) -> None:
    app = create_app(stand.container.engine, clock=stand.clock,
                     webhook_targets=Targets(production=True))
    with TestClient(app) as api:
        api.headers["Authorization"] = stand.api.headers["Authorization"]
        for url in ("https://169.254.169.254/latest/meta-data", "https://localhost:5432/",
                    "https://[::1]/h", "https://10.0.0.7/h"):
            r = api.post(BASE, json={"url": url, "event_types": ["invitation.sent"]})
            assert r.status_code == 422 and r.json()["code"] == "invalid_webhook_url", r.text
            assert "внутреннюю сеть" in r.json()["detail"]
        made = api.post(BASE, json={"url": "https://mis.example.ru/h",
                                    "event_types": ["invitation.sent"]})
        assert made.status_code == 201, made.text
        moved = api.patch(f"{BASE}/{made.json()['id']}", json={"url": "https://127.0.0.1/h"})
        assert moved.status_code == 422
        assert api.get(f"{BASE}/{made.json()['id']}").json()["url"] == "https://mis.example.ru/h"


def test_another_client_sees_nothing_of_the_endpoints(stand: SigningStand) -> None:
    made = create(stand, "https://mis.example.ru/h")
    other = {"Authorization": f"Bearer {f.token(stand.container.engine, name='other')}"}
    assert stand.api.get(BASE, headers=other).json() == []
    for method, path in (("GET", ""), ("POST", "/rotate-secret"), ("POST", "/enable"),
                         ("GET", "/deliveries")):
        r = stand.api.request(method, f"{BASE}/{made['id']}{path}", headers=other)
        assert r.status_code == 404, (path, r.text)


def test_deliveries_show_their_attempts_and_replay_sends_the_same_event(
        stand: SigningStand, mis: Receiver) -> None:
    made = create(stand, mis.url)
    mis.secret = str(made["secret"])
    mis.answers = [503]
    stand.start_signing()
    stand.run_worker()
    stand.advance(timedelta(seconds=3))
    stand.run_worker()
    page = stand.api.get(f"{BASE}/{made['id']}/deliveries").json()
    new = next(d for d in page["items"] if d["webhook_id"] == mis.received[0].webhook_id)
    assert new["state"] == "delivered" and new["attempts"] == 2
    assert new["last_attempt"]["status_code"] == 200
    one = stand.api.get(f"{BASE}/{made['id']}/deliveries/{new['id']}").json()
    assert [a["status_code"] for a in one["attempt_log"]] == [503, 200]
    r = stand.api.post(f"{BASE}/{made['id']}/deliveries/{new['id']}/replay")
    assert r.status_code == 202 and r.json()["state"] == "pending"
    stand.run_worker()
    same = [x for x in mis.received if x.webhook_id == new["webhook_id"]]
    assert len(same) == 3 and same[2].body == same[0].body and same[2].verified
    stand.api.post(f"{BASE}/{made['id']}/disable", json={"reason": "пауза"})
    refused = stand.api.post(f"{BASE}/{made['id']}/deliveries/{new['id']}/replay")
    assert refused.status_code == 409 and refused.json()["code"] == "webhook_endpoint_disabled"


def test_deliveries_page_with_a_keyset_cursor(stand: SigningStand, mis: Receiver) -> None:
    made = create(stand, mis.url)
    mis.secret = str(made["secret"])
    stand.start_signing()
    stand.run_worker()
    everything = stand.api.get(f"{BASE}/{made['id']}/deliveries").json()["items"]
    assert len(everything) >= 2
    first = stand.api.get(f"{BASE}/{made['id']}/deliveries", params={"limit": 1}).json()
    second = stand.api.get(f"{BASE}/{made['id']}/deliveries",
                           params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [
        d["id"] for d in everything[:2]]
    bad = stand.api.get(f"{BASE}/{made['id']}/deliveries", params={"cursor": "%%%"})
    assert bad.status_code == 422


def test_the_openapi_document_describes_every_event_with_an_example(
        stand: SigningStand) -> None:
    spec = stand.api.get("/api/openapi.json").json()
    hooks = spec["webhooks"]
    for name in ("signing_request.state_changed", "signing_request.completed",
                 "signing_request.refused", "signing_request.expired",
                 "signing_request.failed", "invitation.sent", "invitation.answered",
                 "max_account.linked"):
        content = hooks[name]["post"]["requestBody"]["content"]["application/json"]
        assert content["example"]["type"] == name
        assert "webhook-signature" in hooks[name]["post"]["description"]
    completed = hooks["signing_request.completed"]["post"]["requestBody"]["content"]
    assert completed["application/json"]["example"]["data"]["documents"][0]["pdf"].endswith(
        "/documents/1/pdf")
    assert {"SigningEvent", "PatientEvent"} <= set(spec["components"]["schemas"])
