"""PostgreSQL plans of the API's list of signing requests, the console's audit log and the
patient's pages, with enough history for the planner to care: every statement these
functions execute reads its driving table through an index, no Seq Scan of a big table, no
Sort of more than a page's worth of estimated rows — for the first page and a page deep in
the cursor, for every filter the API offers, for a token of one, several or every
organisation."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from hashlib import md5
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from medsign.db.models import SigningRequestRow
from medsign.records.scope import Scope
from medsign.signing import service as signing
from medsign.signing.repository import ListFilter
from medsign.web.console import queries as console
from medsign.web.portal import queries as portal
from tests.integration.plans import plan_kit

REQUESTS = 60_000
ORGANIZATIONS = 5
BIG = frozenset({"signing_requests", "appointments", "patients", "audit_log",
                 "portal_account_patients"})
T0 = datetime(2024, 1, 1, tzinfo=UTC)
# What one page of 51 rows may look at in any one scan: a page, a day's audit entries or an
# appointment window's requests, never a share of the history (under 2 % of it here).
MAX_READ = 1000

SEED = f"""
INSERT INTO organizations (id, code, name, address, ogrn, inn, kpp, timezone, template_ids,
                           created_at, updated_at)
SELECT o, 'mo' || o, 'МО ' || o, 'г. Москва', '1027700132195', '7707083893', '770701001',
       'Europe/Moscow', '{{}}', '2024-01-01', '2024-01-01'
FROM generate_series(1, {ORGANIZATIONS}) o;

INSERT INTO patients (id, external_id, organization_id, last_name, first_name, birth_date,
                      max_reachable, created_at, updated_at)
SELECT p, 'p' || p, p % {ORGANIZATIONS} + 1, 'Иванов', 'Иван', '1980-01-01', true,
       '2024-01-01', '2024-01-01'
FROM generate_series(1, {REQUESTS // 3}) p;

INSERT INTO appointments (id, external_id, organization_id, patient_id, starts_at, timezone,
                          doctor_name, service_name, status, reschedule_count, created_at,
                          updated_at)
SELECT i, 'a' || i, (i % {REQUESTS // 3} + 1) % {ORGANIZATIONS} + 1, i % {REQUESTS // 3} + 1,
       timestamp '2024-01-01' + i * interval '17 minutes' + interval '2 days', 'Europe/Moscow',
       'Петров П. П.', 'Приём', 'scheduled', 0, '2024-01-01', '2024-01-01'
FROM generate_series(1, {REQUESTS}) i;

INSERT INTO signing_requests (id, appointment_id, appointment_starts_at, organization_id,
                              patient_id, consent_kinds, phone, initiated_by, state,
                              uploaded_file_ids, created_at, updated_at)
-- (the start as migration 0020's trigger sets it: triggers are off under the replica role)
SELECT md5(i::text)::uuid::text, a.id, a.starts_at, a.organization_id, a.patient_id,
       '["medical_intervention"]', '+79990000001', 'mis',
       (ARRAY['completed','completed','completed','completed','completed','completed',
              'cancelled','expired','failed','sent','new','signer_mismatch'])[i % 12 + 1],
       '[]',
       -- a tenth of the rows share their instant with the row before (ties across pages)
       timestamp '2024-01-01' + (i - (i % 10 = 0)::int) * interval '17 minutes',
       '2024-01-01'
FROM generate_series(1, {REQUESTS}) i JOIN appointments a ON a.id = i;

INSERT INTO audit_log (at, actor, action, subject_type, subject_id, organization_code, details)
SELECT timestamp '2024-01-01' + i * interval '7 minutes',
       -- one actor and one action are rare (one entry in a thousand): the index finds them
       CASE WHEN i % 1000 = 0 THEN 'operator:7'
            ELSE (ARRAY['operator:1','operator:12','api:3','system'])[i % 4 + 1] END,
       CASE WHEN i % 1000 = 1 THEN 'signing.revoked'
            ELSE (ARRAY['signing.sent','signing.completed','signing.retried',
                        'appointment.cancelled'])[i % 4 + 1] END,
       'signing_request', md5((i / 3)::text)::uuid::text, 'mo' || (i % {ORGANIZATIONS} + 1),
       '{{}}'
FROM generate_series(1, {REQUESTS * 2}) i;

INSERT INTO portal_accounts (id, full_name, created_at, updated_at)
SELECT a, 'Иванов Иван', '2024-01-01', '2024-01-01' FROM generate_series(1, {REQUESTS // 6}) a;
INSERT INTO portal_account_patients (account_id, patient_id)
SELECT a, 2 * a - k FROM generate_series(1, {REQUESTS // 6}) a, generate_series(0, 1) k;
"""


@pytest.fixture(scope="module")
def history(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """One PostgreSQL database with a few years of history, shared by this module's tests."""
    def seed(conn: Connection) -> None:
        conn.execute(text("SET session_replication_role = replica"))  # no audit triggers
        conn.connection.driver_connection.execute(SEED)  # type: ignore[union-attr]
    with plan_kit.seeded_database(request, seed) as engine:
        yield engine


def _plans(engine: Engine, run: Callable[[Session], Any]) -> list[plan_kit.Plan]:
    """The plans of every SELECT ``run`` executes."""
    with Session(engine) as db, plan_kit.capture(engine) as captured:
        run(db)
    with engine.connect() as conn:
        plans = [plan_kit.explain(conn, s) for s in captured.selects()]
    assert plans
    return plans


def _deep_cursor(engine: Engine, where: str = "true") -> signing.Cursor:
    """The cursor of a page five sixths down the whole history."""
    with engine.connect() as conn:
        created, rid = conn.execute(text(
            f"SELECT created_at, id FROM signing_requests WHERE {where} "
            "ORDER BY created_at DESC, id DESC OFFSET :n LIMIT 1"),
            {"n": REQUESTS * 5 // 6 // (1 if where == "true" else ORGANIZATIONS)}).one()
    return signing.Cursor(created.replace(tzinfo=UTC), rid)


ONE = frozenset({"mo2"})
SEVERAL = frozenset({"mo1", "mo3", "mo4"})
MIDDLE = T0 + timedelta(days=300)
FILTERS = {
    "none": ListFilter(),
    "organization": ListFilter(organization="mo3"),
    "state": ListFilter(states=("failed",)),
    "states": ListFilter(states=("failed", "sent", "new")),
    "organization+states": ListFilter(organization="mo3", states=("failed", "completed")),
    "created": ListFilter(created_from=MIDDLE, created_to=MIDDLE + timedelta(days=30)),
    "appointment": ListFilter(appointment_from=MIDDLE, appointment_to=MIDDLE + timedelta(days=2)),
    "everything": ListFilter(organization="mo3", states=("failed", "completed"),
                             created_from=MIDDLE - timedelta(days=60), created_to=MIDDLE,
                             appointment_from=MIDDLE - timedelta(days=10),
                             appointment_to=MIDDLE),
}
SCOPES = {"every organisation": None, "one organisation": ONE | {"mo3"},
          "several organisations": SEVERAL}


@pytest.mark.parametrize("depth", ["first", "deep"])
@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("name", list(FILTERS))
def test_every_api_list_page_is_index_bound(history: Engine, name: str, scope: str,
                                            depth: str) -> None:
    organizations = SCOPES[scope]
    where = FILTERS[name]
    after = _deep_cursor(history) if depth == "deep" else None

    def run(db: Session) -> None:
        signing.list_requests(db, scope=Scope("api:1", organizations), where=where,
                              after=after, limit=51)

    for plan in _plans(history, run):
        plan_kit.assert_index_bound(plan, tables=BIG, max_sorted=2000, max_read=MAX_READ)
        if "signing_requests" in {plan_kit.relation(n) for n in plan_kit.scans(plan)}:
            plan_kit.assert_index_bound(plan, tables=BIG, driving="signing_requests")


def test_a_page_still_has_its_rows(history: Engine) -> None:
    """The plans above are of real pages: deep and filtered, they are full."""
    with Session(history) as db:
        got = signing.list_requests(db, scope=Scope("api:1", SEVERAL),
                                    where=ListFilter(states=("completed", "failed")),
                                    after=_deep_cursor(history), limit=51)
        assert len(got) == 51
        assert {v.organization_code for v in got} <= SEVERAL
        assert db.scalar(select(SigningRequestRow.id).order_by(
            SigningRequestRow.created_at.desc()).limit(1)) is not None


AUDIT = {
    "none": console.AuditFilter(),
    "actor": console.AuditFilter(actor="operator:12"),
    "rare actor": console.AuditFilter(actor="operator:7"),
    "action": console.AuditFilter(action="signing.retr"),
    "rare action": console.AuditFilter(action="signing.rev"),
    "subject": console.AuditFilter(subject=f"signing_request:{uuid.UUID(md5(b'900').hexdigest())}"),
    "day": console.AuditFilter(since=MIDDLE, until=MIDDLE + timedelta(days=1)),
    "everything": console.AuditFilter(actor="api", action="signing.", since=MIDDLE,
                                      until=MIDDLE + timedelta(days=1)),
}


@pytest.mark.parametrize("deep", [False, True])
@pytest.mark.parametrize("name", list(AUDIT))
def test_every_audit_page_is_index_bound(history: Engine, name: str, deep: bool) -> None:
    before = REQUESTS // 3 if deep else None
    for plan in _plans(history, lambda db: console.audit_page(db, where=AUDIT[name],
                                                              before_id=before, limit=51)):
        plan_kit.assert_index_bound(plan, tables=BIG, driving="audit_log", max_sorted=2000,
                                    max_read=MAX_READ)


@pytest.mark.parametrize("upcoming", [True, False])
def test_the_patients_pages_are_index_bound(history: Engine, upcoming: bool) -> None:
    now = T0 + timedelta(days=400)
    for plan in _plans(history, lambda db: portal.documents(db, account_id=1, now=now,
                                                            upcoming=upcoming)):
        plan_kit.assert_index_bound(plan, tables=BIG, max_sorted=2000, max_read=MAX_READ)
