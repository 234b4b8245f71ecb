"""Tables that only grow: the housekeeping rules on a real database (both back ends), its
bounded batches, the per-chat rate buckets it may forget, and the runner's singleton that
applies them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.bootstrap import Container
from medsign.clock import FakeClock
from medsign.config import HousekeepingSettings, load_settings
from medsign.db.models import (
    ApiClientRow,
    AppDeviceChallengeRow,
    AppDeviceRow,
    IdempotencyRow,
    LoginDeviceRow,
    LoginThrottleRow,
    MaxLinkTokenRow,
    MaxRelinkRow,
    MaxUpdateRow,
    PasswordResetTokenRow,
    PatientRow,
    PortalAccountRow,
    RateBucketRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebhookEventRow,
    WebSessionRow,
    WorkItemRow,
)
from medsign.housekeeping import service as housekeeping
from medsign.housekeeping.flow import KIND
from medsign.runner import store
from medsign.runner.ratelimit import Limit, RateLimiter
from medsign.runner.worker import Worker
from tests import factories as f
from tests.integration.signing.stand import FAST_RUNNER_ENV

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
RETENTION = HousekeepingSettings(finished_work_items=30 * DAY, max_updates=30 * DAY,
                                 idempotency_keys=30 * DAY, link_tokens=30 * DAY,
                                 webhook_history=30 * DAY)
LIMITS = {"max": Limit(rate=29, burst=10), "max_chat": Limit(rate=2, burst=1)}


def work_item(db: Session, ref: str, status: str, finished: datetime | None) -> None:
    db.add(WorkItemRow(kind="test", ref=ref, status=status, step="s", data={},
                       next_run_at=None if finished else NOW, lease_version=0, attempts=0,
                       created_at=NOW - 60 * DAY, updated_at=finished or NOW,
                       finished_at=finished))


def seed(engine: Engine) -> None:
    """Per table one row that may go ("old…") and rows that must stay ("keep…")."""
    f.token(engine)
    with Session(engine) as db:
        client = db.scalars(select(ApiClientRow)).one()
        org = f.organization_row(db, NOW)
        patient = PatientRow(external_id="p1", organization_id=org.id, last_name="И",
                             first_name="И", birth_date=date(1980, 1, 1), max_reachable=True,
                             created_at=NOW, updated_at=NOW)
        db.add(patient)
        db.flush()
        work_item(db, "old-done", store.DONE, NOW - 31 * DAY)
        work_item(db, "old-cancelled", store.CANCELLED, NOW - 31 * DAY)
        work_item(db, "keep-failed", store.FAILED, NOW - 90 * DAY)  # operators may retry
        work_item(db, "keep-done-recently", store.DONE, NOW - 29 * DAY)
        work_item(db, "keep-scheduled", store.SCHEDULED, None)
        for mark, age, outcome in (("old", 31, {}), ("keep-recent", 29, {}),
                                   ("keep-unhandled", 90, None)):
            handled = {} if outcome is None else {"outcome": outcome}  # unset: SQL NULL
            db.add(MaxUpdateRow(dedupe_key=mark, update_type="x", payload={},
                                received_at=NOW - age * DAY, via="polling", **handled))
        for mark, age in (("old", 31), ("keep", 29)):
            db.add(IdempotencyRow(api_client_id=client.id, key=mark, request_hash="h",
                                  status_code=201, body={}, created_at=NOW - age * DAY))
            db.add(MaxLinkTokenRow(token_hash=mark, patient_id=patient.id,
                                   created_at=NOW - (age + 1) * DAY,
                                   expires_at=NOW - age * DAY))
            db.add(MaxRelinkRow(token_hash=mark, patient_id=patient.id, current_user_id=1,
                                new_user_id=2, new_chat_id=None, how="link",
                                created_at=NOW - (age + 1) * DAY, expires_at=NOW - age * DAY))
        for mark, expires in (("old", NOW - timedelta(seconds=1)), ("keep", NOW + DAY)):
            db.add(WebSessionRow(id_hash=mark, csrf_token="c", data={},
                                 created_at=NOW - 2 * DAY, last_seen_at=NOW - DAY,
                                 expires_at=expires))
        for mark, age in (("old", timedelta(days=1, seconds=1)), ("keep", timedelta(hours=23))):
            db.add(LoginThrottleRow(scope="login", key=mark, failures=1,
                                    window_started_at=NOW - age, updated_at=NOW - age))
        account = PortalAccountRow(login="pat1", full_name="И И", created_at=NOW,
                                   updated_at=NOW)
        db.add(account)
        db.flush()
        for mark, expires in (("old", NOW), ("keep", NOW + timedelta(seconds=1))):
            db.add(LoginDeviceRow(token_hash=mark, portal_account_id=account.id, failures=0,
                                  created_at=NOW - 90 * DAY, last_used_at=NOW - 90 * DAY,
                                  expires_at=expires))
        for mark, age in (("old", 31), ("keep", 29)):
            db.add(PasswordResetTokenRow(token_hash=mark, account_id=account.id,
                                         created_at=NOW - (age + 1) * DAY,
                                         expires_at=NOW - age * DAY, requested_by="test"))
        db.add(AppDeviceRow(id="dev1", portal_account_id=account.id, public_key="k",
                            pin_hash="h", method="pin", failures=0, sign_count=0,
                            created_at=NOW - DAY, last_used_at=NOW - DAY,
                            expires_at=NOW + 90 * DAY))
        db.flush()
        for mark, expires in (("old", NOW), ("keep", NOW + SECOND)):
            db.add(AppDeviceChallengeRow(challenge=mark, device_id="dev1", purpose="login",
                                         expires_at=expires))
        seed_webhooks(db, client_id=client.id, organization_id=org.id)
        db.commit()


# Webhook history: (delivery state, created, last attempt, attempts) per event; the period
# is 30 days. "old…" goes with its attempts and event, "keep…" stays whole.
WEBHOOKS: dict[str, tuple[str, timedelta, timedelta | None, int]] = {
    "old-delivered": ("delivered", 31 * DAY, 30 * DAY + SECOND, 2),
    "old-stopped-never-tried": ("stopped", 30 * DAY + SECOND, None, 0),
    "old-stopped": ("stopped", 40 * DAY, 35 * DAY, 3),
    "keep-delivered-just-inside": ("delivered", 30 * DAY - SECOND, 30 * DAY - SECOND, 1),
    "keep-replayed-lately": ("delivered", 60 * DAY, DAY, 4),  # the console replayed it
    "keep-pending": ("pending", 90 * DAY, 89 * DAY, 2),  # still retrying
}


def seed_webhooks(db: Session, *, client_id: int, organization_id: int) -> None:
    db.add(WebhookEndpointRow(id="ep1", api_client_id=client_id, url="https://mis.test/h",
                              event_types=["signing.completed"], secret="whsec_x",
                              state="active", created_at=NOW - 90 * DAY,
                              updated_at=NOW - 90 * DAY))
    events = {**{name: spec[1] for name, spec in WEBHOOKS.items()},
              # Events no endpoint listened to: no deliveries at all.
              "old-unheard": 30 * DAY + SECOND, "keep-unheard": 30 * DAY - SECOND}
    for name, age in events.items():
        db.add(WebhookEventRow(id=name, type="signing.completed",
                               organization_id=organization_id, subject_id="a1", body="{}",
                               created_at=NOW - age))
    db.flush()
    for name, (state, age, tried, attempts) in WEBHOOKS.items():
        last = None if tried is None else NOW - tried
        db.add(WebhookDeliveryRow(id=name, event_id=name, endpoint_id="ep1", state=state,
                                  attempts=attempts, last_attempt_at=last,
                                  delivered_at=last if state == "delivered" else None,
                                  created_at=NOW - age))
        db.flush()
        for n in range(attempts):
            at = NOW - age + (n + 1) * (last - (NOW - age)) / attempts if last else NOW
            db.add(WebhookAttemptRow(delivery_id=name, at=at, status_code=500,
                                     duration_ms=10, error="HTTP 500"))


def remaining(engine: Engine) -> dict[str, set[Any]]:
    with Session(engine) as db:
        return {
            "work_items": set(db.scalars(select(WorkItemRow.ref).where(
                WorkItemRow.kind == "test"))),
            "max_updates": set(db.scalars(select(MaxUpdateRow.dedupe_key))),
            "idempotency_keys": set(db.scalars(select(IdempotencyRow.key))),
            "max_link_tokens": set(db.scalars(select(MaxLinkTokenRow.token_hash))),
            "max_relink_requests": set(db.scalars(select(MaxRelinkRow.token_hash))),
            "web_sessions": set(db.scalars(select(WebSessionRow.id_hash))),
            "login_throttle": set(db.scalars(select(LoginThrottleRow.key))),
            "login_devices": set(db.scalars(select(LoginDeviceRow.token_hash))),
            "password_reset_tokens": set(db.scalars(select(PasswordResetTokenRow.token_hash))),
            "app_device_challenges": set(db.scalars(select(AppDeviceChallengeRow.challenge))),
            "webhook_events": set(db.scalars(select(WebhookEventRow.id))),
            "webhook_deliveries": set(db.scalars(select(WebhookDeliveryRow.id))),
            "webhook_attempts": set(db.scalars(select(WebhookAttemptRow.delivery_id))),
        }


KEPT = {
    "work_items": {"keep-failed", "keep-done-recently", "keep-scheduled"},
    "max_updates": {"keep-recent", "keep-unhandled"},
    "idempotency_keys": {"keep"},
    "max_link_tokens": {"keep"},
    "max_relink_requests": {"keep"},
    "web_sessions": {"keep"},
    "login_throttle": {"keep"},
    "login_devices": {"keep"},
    "password_reset_tokens": {"keep"},
    "app_device_challenges": {"keep"},
    "webhook_events": {"keep-delivered-just-inside", "keep-replayed-lately", "keep-pending",
                       "keep-unheard"},
    "webhook_deliveries": {"keep-delivered-just-inside", "keep-replayed-lately",
                           "keep-pending"},
    "webhook_attempts": {"keep-delivered-just-inside", "keep-replayed-lately",
                         "keep-pending"},
}


def prune(engine: Engine, batch: int = 100, now: datetime = NOW) -> dict[str, int]:
    with engine.begin() as conn:
        return housekeeping.prune(conn, retention=RETENTION, limits=LIMITS, now=now,
                                  batch=batch)


def backlog(engine: Engine, batch: int) -> bool:
    with engine.connect() as conn:
        return housekeeping.backlog(conn, retention=RETENTION, limits=LIMITS, now=NOW,
                                    batch=batch)


def test_pruning_deletes_exactly_what_carries_no_more_information(engine: Engine) -> None:
    seed(engine)
    deleted = prune(engine)
    assert remaining(engine) == KEPT
    assert deleted == {"work_items": 2, "max_updates": 1, "idempotency_keys": 1,
                       "max_link_tokens": 1, "max_relink_requests": 1, "web_sessions": 1,
                       "login_throttle": 1,
                       "login_devices": 1, "password_reset_tokens": 1, "rate_buckets": 0,
                       "app_device_challenges": 1, "webhook_attempts": 5,
                       "webhook_deliveries": 3, "webhook_events": 4}
    assert set(prune(engine).values()) == {0}  # a second pass finds nothing


def test_each_pass_deletes_at_most_one_batch_per_table(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as db:
        for n in range(5):
            work_item(db, f"old-{n}", store.DONE, NOW - 40 * DAY)
        db.commit()
    assert backlog(engine, batch=2)
    passes = []
    while True:
        deleted = prune(engine, batch=2)["work_items"]
        passes.append(deleted)
        if deleted == 0:
            break
    assert passes == [2, 2, 2, 1, 0]
    assert not backlog(engine, batch=2)
    assert remaining(engine)["work_items"] == KEPT["work_items"]


def test_webhook_history_goes_in_bounded_batches_in_foreign_key_order(engine: Engine) -> None:
    """Attempts before their delivery, deliveries before their event (the database refuses
    anything else); every pass takes at most one batch of each table."""
    seed(engine)
    totals = {"webhook_attempts": 0, "webhook_deliveries": 0, "webhook_events": 0}
    passes = 0
    while True:
        deleted = prune(engine, batch=2)
        assert all(n <= 2 for n in deleted.values()), deleted
        if not any(deleted.values()):
            break
        for table in totals:
            totals[table] += deleted[table]
        passes += 1
    assert totals == {"webhook_attempts": 5, "webhook_deliveries": 3, "webhook_events": 4}
    assert passes >= 3  # five attempts at two a pass
    assert not backlog(engine, batch=2)
    assert remaining(engine) == KEPT


def test_a_delivery_ages_out_only_once_its_last_attempt_is_past_the_period(
        engine: Engine) -> None:
    seed(engine)
    prune(engine)
    # A day later the delivery replayed a day ago is still inside; 29 days later it goes.
    assert remaining(engine)["webhook_deliveries"] == KEPT["webhook_deliveries"]
    prune(engine, now=NOW + 29 * DAY)
    left = remaining(engine)
    assert "keep-replayed-lately" in left["webhook_deliveries"]
    prune(engine, now=NOW + 29 * DAY + 2 * SECOND)
    left = remaining(engine)
    assert left["webhook_deliveries"] == {"keep-pending"}  # pending stays, however old
    assert left["webhook_attempts"] == {"keep-pending"}
    assert left["webhook_events"] == {"keep-pending"}


class Seconds:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


def buckets(engine: Engine) -> set[str]:
    with Session(engine) as db:
        return set(db.scalars(select(RateBucketRow.name)))


def test_a_chat_bucket_is_forgotten_once_it_has_refilled_and_only_then(engine: Engine) -> None:
    clock = Seconds()
    limiter = RateLimiter(engine, LIMITS, clock)
    assert limiter.reserve("max_chat", "700001") == 0.0
    assert limiter.reserve("max_chat", "700001") == pytest.approx(0.5)  # the chat's 2/s
    assert limiter.reserve("max") == 0.0
    moment = datetime.fromtimestamp(clock.now, UTC)
    # Two tokens spent at 2/s with a burst of 1: full again one second later.
    assert prune(engine, now=moment + timedelta(seconds=0.9))["rate_buckets"] == 0
    assert buckets(engine) == {"max", "max_chat:700001"}
    assert prune(engine, now=moment + timedelta(seconds=1))["rate_buckets"] == 1
    assert buckets(engine) == {"max"}  # the shared bucket of the API is never pruned

    # A forgotten bucket is recreated full: the chat's next message waits for nothing.
    clock.now += 1
    assert limiter.reserve("max_chat", "700001") == 0.0


def test_a_bucket_name_with_like_wildcards_is_matched_literally(engine: Engine) -> None:
    limiter = RateLimiter(engine, {"max_chat": Limit(rate=2, burst=1),
                                   "maxXchat": Limit(rate=0.001, burst=1)}, Seconds())
    limiter.reserve("maxXchat", "1")
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:
        deleted = housekeeping.prune(conn, retention=RETENTION,
                                     limits={"max_chat": Limit(rate=2, burst=1)}, now=later,
                                     batch=10)
    assert deleted["rate_buckets"] == 0 and buckets(engine) == {"maxXchat:1"}


@pytest.fixture
def container(engine: Engine) -> Iterator[Container]:
    env = {**FAST_RUNNER_ENV, "MEDSIGN_HOUSEKEEPING__BATCH_SIZE": "2"}
    built = Container(load_settings(None, env=env), engine, clock=FakeClock(NOW))
    yield built
    built.close()


def run_worker(container: Container) -> None:
    worker = Worker(container.engine, [container.housekeeping_flow()],
                    container.runner_config(), clock=container.clock,
                    limiter=container.rate_limiter())
    asyncio.run(worker.run(asyncio.Event(), until_idle=True))


def housekeeping_items(engine: Engine) -> list[WorkItemRow]:
    with Session(engine) as db:
        return list(db.scalars(select(WorkItemRow).where(WorkItemRow.kind == KIND)))


def test_the_runner_keeps_one_housekeeping_item_that_works_through_a_backlog(
        container: Container) -> None:
    engine = container.engine
    seed(engine)
    with Session(engine) as db:
        for n in range(7):
            work_item(db, f"old-{n}", store.DONE, NOW - 40 * DAY)
        db.commit()
    container.ensure_background_work()
    container.ensure_background_work()  # a second worker starting: still one item
    assert len(housekeeping_items(engine)) == 1

    run_worker(container)  # batches of 2, back at once while a backlog remains
    assert remaining(engine) == KEPT
    [item] = housekeeping_items(engine)
    assert (item.status, item.next_run_at) == (store.SCHEDULED, NOW + timedelta(hours=1))

    # Work that ends later is pruned on a later round.
    with Session(engine) as db:
        work_item(db, "old-later", store.DONE, NOW - 31 * DAY + timedelta(minutes=30))
        db.commit()
    assert isinstance(container.clock, FakeClock)
    container.clock.advance(timedelta(hours=1))
    run_worker(container)
    assert remaining(engine)["work_items"] == KEPT["work_items"]
