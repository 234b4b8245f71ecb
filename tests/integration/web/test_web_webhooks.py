"""The console's page of webhook endpoints: state, a disabled endpoint's reason, the latest
deliveries with their last attempt, and the replay form (administrators only)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign.clock import FakeClock
from medsign.config import WebhookSettings
from medsign.domain.webhooks import Targets
from medsign.runner.worker import RunnerConfig, Worker
from medsign.webhooks import service as webhooks
from medsign.webhooks.flow import WebhookFlow
from tests import factories as f
from tests.integration.web import stand
from tests.integration.webhooks.receiver import receiver

ALL = ["signing_request.state_changed"]


def deliver(engine: Engine, clock: FakeClock, targets: Targets | None = None) -> None:
    worker = Worker(engine, [WebhookFlow(WebhookSettings(), clock, targets=targets)],
                    RunnerConfig(poll_interval=timedelta(seconds=0.01)), clock=clock)
    asyncio.run(worker.run(asyncio.Event(), until_idle=True))


def test_the_page_shows_endpoints_and_replays_a_delivery(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    f.token(engine, name="МИС поликлиники")
    with receiver() as mis, Session(engine, expire_on_commit=False) as db:
        owner = webhooks.client_by_name(db, "МИС поликлиники")
        made = webhooks.create(db, api_client_id=owner.id, url=mis.url, event_types=ALL,
                               description="Приёмник событий", targets=Targets(),
                               actor="test", now=clock.now())
        off = webhooks.create(db, api_client_id=owner.id, url="https://old.example.ru/h",
                              event_types=ALL, description=None, targets=Targets(),
                              actor="test", now=clock.now())
        webhooks.disable(db, api_client_id=None, endpoint_id=off.endpoint.id,
                         reason="старая МИС выведена", actor="test", now=clock.now())
        db.commit()
        mis.secret = made.secret
        stand.start_signing(engine, seeded.today_mo1, clock.now())
        deliver(engine, clock)
        assert len(mis.received) == 1
        stand.logged_in(client, "adm")
        page = client.get("/console/webhooks")
        assert page.status_code == 200
        html = page.text
        assert "МИС поликлиники: Приёмник событий" in html and mis.url in html
        assert "старая МИС выведена" in html and 'data-state="disabled"' in html
        assert "Состояние транзакции подписания изменилось" in html
        assert "ответ 200" in html and made.secret not in html
        delivery = mis.received[0].webhook_id.removeprefix("msg_")
        r = client.post(f"/console/webhooks/{made.endpoint.id}/deliveries/{delivery}/replay",
                        data={"csrf_token": stand.csrf(page)}, follow_redirects=False)
        assert r.status_code == 303 and "webhook_replayed" in r.headers["location"]
        deliver(engine, clock)
        assert [x.webhook_id for x in mis.received] == [mis.received[0].webhook_id] * 2
        # (this stand's clock is in March: the receiver's 5-minute window refuses the
        # timestamps; signatures are checked in tests/integration/webhooks)
        assert mis.received[1].body == mis.received[0].body


def test_production_never_connects_into_its_own_network(
        client: TestClient, seeded: stand.Seeded, engine: Engine, clock: FakeClock) -> None:
    """An endpoint stored as ``localhost`` (or a name that now resolves into the server's
    network) is not connected to in production: the attempt says why, and the console shows
    it; a network the administrator allows is delivered to."""
    f.token(engine, name="МИС поликлиники")
    with receiver() as mis, Session(engine, expire_on_commit=False) as db:
        owner = webhooks.client_by_name(db, "МИС поликлиники")
        port = mis.url.rsplit(":", 1)[1].split("/", 1)[0]
        made = webhooks.create(db, api_client_id=owner.id, url=f"http://localhost:{port}/",
                               event_types=ALL, description=None, targets=Targets(),
                               actor="test", now=clock.now())
        db.commit()
        mis.secret = made.secret
        stand.start_signing(engine, seeded.today_mo1, clock.now())
        deliver(engine, clock, Targets(production=True))
        assert mis.received == []
        stand.logged_in(client, "adm")
        html = client.get("/console/webhooks").text
        assert "внутреннюю сеть сервера (localhost)" in html
        webhooks.update(db, api_client_id=None, endpoint_id=made.endpoint.id, url=mis.url,
                        event_types=None, targets=Targets(), actor="test", now=clock.now())
        db.commit()
        clock.advance(timedelta(hours=2))  # past the retry's backoff
        deliver(engine, clock, Targets(production=True))
        assert mis.received == []  # 127.0.0.1 written in the URL: refused the same
        loopback = (ipaddress.ip_network("127.0.0.0/8"),)
        clock.advance(timedelta(hours=2))
        deliver(engine, clock, Targets(production=True, allowed=loopback))
        assert len(mis.received) == 1


def test_operators_and_doctors_do_not_see_the_page(
        new_client: Callable[[], TestClient], seeded: stand.Seeded) -> None:
    for login in ("op", "doc1"):
        c = stand.logged_in(new_client(), login)
        assert c.get("/console/webhooks").status_code == 403
