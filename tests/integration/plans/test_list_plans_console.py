"""The console's and the doctor's lists and searches are index-bound (issue 16): on PostgreSQL,
with tens of thousands of rows and fresh statistics, the exact SQL each query runs is
EXPLAINed, and its plan reads the driving table through an index, scans no big table whole
and sorts no more than a page's worth of candidates.

The statements are captured from the real functions (an engine event), not rewritten here:
a change to a query is a change to what is checked (``plan_kit``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from medsign.accounts import patient_accounts, support
from medsign.domain.alerts import AlertKind
from medsign.domain.search import parse_search
from medsign.domain.signing import FINAL_STATES
from medsign.records.scope import SYSTEM, Scope
from medsign.signing import alerts
from medsign.signing import service as signing
from medsign.web.console import queries as console
from medsign.web.doctor import queries as doctor
from medsign.webhooks import service as webhooks
from tests.integration.plans import plan_kit as plans

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=60)
PATIENTS = 50_000
ROWS = 60_000  # appointments, signing requests, notifications, runner items
# Below some 100 000 accounts a scan of the table beats seven trigram lookups, and the
# planner rightly takes it: the accounts' search is checked where the index has to win.
ACCOUNTS = 200_000
BIG = frozenset({"patients", "appointments", "signing_requests", "notifications", "work_items",
                 "portal_accounts", "support_requests", "audit_log", "signing_events",
                 "webhook_events", "webhook_deliveries", "webhook_attempts"})
# A sort may order the candidates an index found (a page, a search's matches, one day of one
# МО), never a table: far below the seeded row counts.
MOST_SORTED = 1_000

# A patient's surname: letters only (a search reads digits as a phone or an id), and rare.
_LETTERS = ("0123456789abcdef", "абвгдежзиклмнопр")
_SURNAME = f"translate(substr(md5(i::text), 1, 8), '{_LETTERS[0]}', '{_LETTERS[1]}')"

SEED = [
    """INSERT INTO organizations (id, code, name, address, ogrn, inn, kpp, timezone, template_ids,
                                  created_at, updated_at)
       SELECT i, 'mo' || i, 'Поликлиника ' || i, 'адрес', '1027700000000', '7700000000',
              '770001001', 'Europe/Moscow', '{}', :t0, :t0
       FROM generate_series(1, 5) i""",
    f"""INSERT INTO patients (id, external_id, organization_id, last_name, first_name,
                             middle_name, birth_date, phone, max_reachable, snils, search_name,
                             created_at, updated_at)
       SELECT i, 'p' || i, 1 + i % 5, {_SURNAME}, 'Мария', 'Петровна',
              date '1980-01-01' + i % 9000, '+7999' || lpad(i::text, 7, '0'), true,
              lpad(i::text, 11, '0'), {_SURNAME} || ' мария петровна', :t0, :t0
       FROM generate_series(1, :patients) i""",
    # Two appointments share each start time: the lists' ties.
    """INSERT INTO appointments (id, external_id, organization_id, patient_id, starts_at,
                                 timezone, doctor_name, doctor_external_id, service_name, status,
                                 reschedule_count, created_at, updated_at)
       SELECT i, 'a' || i, 1 + (1 + i % :patients) % 5, 1 + i % :patients,
              :t0 + (i / 2) * interval '3 minutes', 'Europe/Moscow', 'Петрова А. С.',
              'd' || i % 20, 'Приём', 'scheduled', 0, :t0, :t0
       FROM generate_series(1, :rows) i""",
    """INSERT INTO signing_requests (id, appointment_id, organization_id, patient_id,
                                     consent_kinds, phone, initiated_by, state, transaction_id,
                                     uploaded_file_ids, created_at, updated_at)
       SELECT 'r' || i, i, 1 + (1 + i % :patients) % 5, 1 + i % :patients,
              '["personal_data"]', '+79990000000', 'mis',
              CASE WHEN i % 400 = 0 THEN 'failed' WHEN i % 200 = 0 THEN 'sent'
                   ELSE 'completed' END,
              'tx' || i, '[]', :t0 + i * interval '1 minute', :t0 + i * interval '1 minute'
       FROM generate_series(1, :rows) i""",
    """INSERT INTO work_items (kind, ref, status, step, data, lease_version, attempts,
                               created_at, updated_at)
       SELECT 'signing', 'r' || i,
              CASE WHEN i % 400 = 0 THEN 'failed' WHEN i % 200 = 0 THEN 'scheduled'
                   ELSE 'done' END,
              'poll', '{}', 0, 0, :t0 + i * interval '1 minute', :t0 + i * interval '1 minute'
       FROM generate_series(1, :rows) i""",
    """INSERT INTO notifications (id, appointment_id, patient_id, state, token,
                                  token_expires_at, created_at, updated_at)
       SELECT i, i, 1 + i % :patients,
              (ARRAY['sent', 'scheduled', 'skipped', 'superseded'])[1 + i % 4], 't' || i,
              :t0, :t0, :t0
       FROM generate_series(1, :rows) i""",
    f"""INSERT INTO portal_accounts (login, email, full_name, created_at, updated_at)
       SELECT 'user' || i, 'user' || i || '@example.org', {_SURNAME} || ' Мария', :t0, :t0
       FROM generate_series(1, :accounts) i""",
    """INSERT INTO support_requests (reference, status, message, created_at)
       SELECT 'S' || i, CASE WHEN i % 10 = 0 THEN 'open' ELSE 'closed' END, 'не входит',
              :t0 + i * interval '1 minute'
       FROM generate_series(1, :patients) i""",
    # Two МИС endpoints; each request's events delivered to one, each delivery tried twice.
    """INSERT INTO api_clients (id, name, token_hash, token_prefix, created_at)
       SELECT i, 'mis' || i, md5(i::text), 'p' || i, :t0 FROM generate_series(1, 2) i""",
    """INSERT INTO webhook_endpoints (id, api_client_id, url, event_types, secret, state,
                                     created_at, updated_at)
       SELECT 'e0000000-0000-0000-0000-00000000000' || i, i, 'https://mis.example/hook', '[]',
              's', 'active', :t0, :t0
       FROM generate_series(1, 2) i""",
    """INSERT INTO webhook_events (id, type, organization_id, subject_id, body, created_at)
       SELECT 'ev' || i, 'signing_request.completed', 1 + i % 5, 'r' || i, '{}',
              :t0 + i * interval '1 minute'
       FROM generate_series(1, :rows) i""",
    """INSERT INTO webhook_deliveries (id, event_id, endpoint_id, state, attempts, created_at)
       SELECT 'd' || i, 'ev' || i, 'e0000000-0000-0000-0000-00000000000' || 1 + i % 2,
              'delivered', 2, :t0 + i * interval '1 minute'
       FROM generate_series(1, :rows) i""",
    """INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms)
       SELECT 'd' || (1 + i / 2), :t0, 200, 10 FROM generate_series(1, 2 * :rows - 2) i""",
]


@pytest.fixture(scope="module")
def seeded(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """One migrated PostgreSQL database of the module, bulk-seeded and vacuumed."""
    def seed(conn: Connection) -> None:
        for sql in SEED:
            conn.execute(text(sql), {"t0": T0, "rows": ROWS, "patients": PATIENTS,
                               "accounts": ACCOUNTS})
    with plans.seeded_database(request, seed) as engine:
        yield engine


def _surname(i: int) -> str:
    """The seeded surname of patient ``i`` (as ``_SURNAME`` makes it)."""
    digits = hashlib.md5(str(i).encode()).hexdigest()[:8]
    return digits.translate(str.maketrans(*_LETTERS))


def _check(engine: Engine, read: Callable[[Session], object], *, reads: str,
           driving: str) -> object:
    """Run ``read``, then check the plan of each statement it ran that reads ``reads``."""
    with plans.capture(engine) as seen, Session(engine) as db:
        result = read(db)
    picked = [s for s in seen.statements if f"FROM {reads}" in s.sql]
    assert picked, f"no statement read {reads}: {[s.sql for s in seen.statements]}"
    with engine.connect() as conn:
        for statement in picked:
            plans.assert_index_bound(plans.explain(conn, statement, analyze=False),
                                     tables=BIG, driving=driving, max_sorted=MOST_SORTED)
    return result


# -- the console's signing requests: the one search box ------------------------------------

OPERATOR = Scope(actor="staff:op")


def _search(typed: str) -> Callable[[Session], object]:
    where = signing.ListFilter(search=parse_search(typed))
    return lambda db: signing.list_requests(db, scope=OPERATOR, where=where, after=None,
                                            limit=26)


@pytest.mark.parametrize(("typed", "driving"), [
    (None, "patients"),  # a name: the trigram index on search_name
    ("+7 (999) 001-23-45", "patients"),  # a phone: ix_patients_phone
    ("a12345", "appointments"),  # the МИС's appointment id
    ("tx12345", "signing_requests"),  # the platform's transaction id
])
def test_the_search_box_reads_through_an_index(seeded: Engine, typed: str | None,
                                               driving: str) -> None:
    text_ = typed or _surname(12345).capitalize()
    # (a name or a phone is also tried as an id first, by key: that look-up reads no
    # patients, so the page's own statement is the one that reads them)
    reads = "patients" if driving == "patients" else "signing_requests"
    found = _check(seeded, _search(text_), reads=reads, driving=driving)
    assert found, f"«{text_}» found nothing"


def test_a_name_of_two_words_narrows_through_the_trigrams(seeded: Engine) -> None:
    typed = f"{_surname(777)} мария"
    found = _check(seeded, _search(typed), reads="signing_requests", driving="patients")
    assert found


# -- alerts ----------------------------------------------------------------------------------

def test_alert_counts_and_lists_read_what_they_find_not_the_history(seeded: Engine) -> None:
    """Each part of each alert (``signing.alerts.parts``) is read through its own index: the
    failed requests, the scheduled items nothing has moved since the cutoff, the requests the
    scan found unattended; the scan itself reads the active requests against the scheduled
    items. No scan looks at the history's rows."""
    def read(db: Session) -> object:
        alerts.watch(db, now=NOW)  # the scan's check of every active request (rolled back)
        counts = alerts.alert_counts(db, now=NOW, stall_after=timedelta(hours=1))
        listed = console.alerting(db, now=NOW, stall_after=timedelta(hours=1), limit=25)
        console.alerting(db, now=NOW, stall_after=timedelta(hours=1), limit=25,
                         after=listed.more)  # a page after the cursor starts inside each index
        console.stuck(db, now=NOW, stuck_after=timedelta(hours=1), limit=25)
        return counts, listed
    with plans.capture(seeded) as seen, Session(seeded) as db:
        counts, listed = read(db)  # type: ignore[misc]
    assert counts and all(v > 0 for v in counts.values())
    assert listed.rows and listed.more
    picked = [s for s in seen.selects()
              if "FROM signing_requests" in s.sql or "FROM work_items AS stale_items" in s.sql]
    # the scan, the counts (one statement), the alerts' parts (the stalled one: its walk of
    # the items, then their requests by key) and their chosen requests by primary key on two
    # pages, the same for the stuck ones
    assert len(picked) == 1 + 1 + 2 * (4 + 1) + (3 + 1), [s.sql for s in picked]
    with seeded.connect() as conn:
        for statement in picked:
            plans.assert_index_bound(plans.explain(conn, statement), tables=BIG,
                                     max_sorted=MOST_SORTED, max_read=MOST_SORTED)


def test_the_badge_counts_each_part_up_to_its_cap(seeded: Engine) -> None:
    with Session(seeded) as db:
        whole = alerts.alert_counts(db, now=NOW, stall_after=timedelta(hours=1))
        capped = alerts.alert_counts(db, now=NOW, stall_after=timedelta(hours=1), cap=100)
    assert whole[AlertKind.failed] == ROWS // 400 and whole[AlertKind.stalled] > 100
    assert capped[AlertKind.failed] == 100
    assert 100 <= capped[AlertKind.stalled] <= 200  # two parts of up to 100 each


def test_the_badges_failed_count_reads_the_failed_requests_alone(seeded: Engine) -> None:
    """Every console page counts them: through their own small index, not the open ones'. The
    counts are one statement, a subquery per part: the failed part is the first."""
    with plans.capture(seeded) as seen, Session(seeded) as db:
        alerts.alert_counts(db, now=NOW, stall_after=timedelta(hours=1), cap=100)
    [counts] = [s for s in seen.selects() if "count" in s.sql]
    with seeded.connect() as conn:
        whole = plans.explain(conn, counts)
    plan = whole["Plans"][0]
    assert "failed" in counts.sql.split("count(*)")[1], counts.sql  # the first subquery
    used = {n.get("Index Name") for n in plans.scans(plan)}
    assert len(used) == 1 and used <= {"ix_signing_requests_failed",
                                        "ix_signing_requests_failed_changed"}, \
        plans.describe(plan)


# -- notifications: keyset pages --------------------------------------------------------------

def _notifications(where: console.NotificationFilter,
                   cursor: console.NotificationCursor | None) -> Callable[[Session], object]:
    return lambda db: console.notifications(db, where=where, cursor=cursor, limit=25)


def _cursor_at(starts_at: datetime) -> console.NotificationCursor:
    """The cursor of the seeded appointment starting at ``starts_at`` (two start together)."""
    appointment = 2 * int((starts_at - T0) / timedelta(minutes=3))
    return console.NotificationCursor(starts_at, appointment, appointment)


@pytest.mark.parametrize("where", [
    console.NotificationFilter(),
    console.NotificationFilter(organization="mo3"),
    console.NotificationFilter(state="sent"),
    console.NotificationFilter(appointment_from=T0 + timedelta(days=10),
                               appointment_to=T0 + timedelta(days=11)),
])
def test_a_deep_notifications_page_is_an_index_bound(seeded: Engine,
                                                     where: console.NotificationFilter) -> None:
    first = _check(seeded, _notifications(where, None), reads="notifications",
                   driving="appointments")
    assert isinstance(first, console.NotificationPage) and first.next is not None
    deep = _cursor_at((where.appointment_from or T0 + timedelta(days=20)) + timedelta(hours=12))
    for cursor in (deep, console.NotificationCursor(deep.starts_at, deep.appointment,
                                                    deep.notification, backward=True)):
        page = _check(seeded, _notifications(where, cursor), reads="notifications",
                      driving="appointments")
        assert isinstance(page, console.NotificationPage) and page.rows


def test_the_overviews_counts_read_open_work_and_one_day(seeded: Engine) -> None:
    counts = _check(seeded, lambda db: console.count_by_state(db, now=NOW),
                    reads="signing_requests", driving="signing_requests")
    final = [s.value for s in FINAL_STATES]
    with seeded.connect() as conn:
        expected = dict(conn.execute(text(
            "SELECT state, count(*) FROM signing_requests "
            "WHERE NOT (state = ANY(:final)) OR created_at >= :since GROUP BY state"),
            {"final": final, "since": NOW - console.ENDED_WINDOW}).all())
    assert counts == expected


# -- the doctor's board and an appointment's history -----------------------------------------

def _board(query: str = "", doctor_id: str | None = None) -> Callable[[Session], object]:
    where = doctor.BoardFilter(day=date(2024, 1, 20), query=query, doctor_id=doctor_id)
    return lambda db: doctor.board(db, scope=SYSTEM, organization="mo2", now=NOW, where=where)


def test_the_board_and_its_name_search_read_one_day_by_index(seeded: Engine) -> None:
    board = _check(seeded, _board(), reads="appointments", driving="appointments")
    assert isinstance(board, doctor.Board) and board.cards
    someone = board.cards[3].patient_name
    found = _check(seeded, _board(someone.split()[0].upper()), reads="appointments",
                   driving="appointments")
    assert isinstance(found, doctor.Board)
    assert {c.patient_name for c in found.cards} == {someone}
    mine = _check(seeded, _board(doctor_id="d5"), reads="appointments", driving="appointments")
    assert isinstance(mine, doctor.Board) and mine.cards


def test_an_appointments_history_reads_its_own_rows(seeded: Engine) -> None:
    _check(seeded, lambda db: doctor.requests_of(db, organization="mo1", appointment_id="a9",
                                                 scope=SYSTEM),
           reads="signing_requests", driving="signing_requests")
    _check(seeded, lambda db: doctor.timeline(db, scope=SYSTEM, organization="mo1",
                                              appointment_id="a9"),
           reads="notifications", driving="notifications")


# -- the administrators' lists -----------------------------------------------------------------

def test_patient_accounts_are_listed_and_found_by_index(seeded: Engine) -> None:
    _check(seeded, lambda db: patient_accounts.list_accounts(db), reads="portal_accounts",
           driving="portal_accounts")
    found = _check(seeded, lambda db: patient_accounts.list_accounts(db, search=_surname(4242)),
                   reads="portal_accounts", driving="portal_accounts")
    assert found


def test_support_requests_of_a_status_are_paged_by_index(seeded: Engine) -> None:
    first = _check(seeded, lambda db: support.list_requests(db, status="closed", before=None,
                                                            limit=25),
                   reads="support_requests", driving="support_requests")
    rows, total = first  # type: ignore[misc]
    assert len(rows) == 25 and total == support.COUNT_MOST + 1
    middle = (T0 + timedelta(minutes=PATIENTS // 2), PATIENTS // 2)  # deep in the history
    deep, _ = _check(seeded, lambda db: support.list_requests(  # type: ignore[misc]
        db, status="closed", before=middle, limit=25),
        reads="support_requests", driving="support_requests")
    assert [r.id for r in deep] == sorted((r.id for r in deep), reverse=True)
    assert deep[0].id < PATIENTS // 2
    with plans.capture(seeded) as seen, Session(seeded) as db:
        support.list_requests(db, status="closed", before=middle, limit=25)
    with seeded.connect() as conn:  # the keyset is the index's bound: a page's reads
        for statement in seen.selects():
            plans.assert_index_bound(plans.explain(conn, statement), tables=BIG,
                                     max_read=support.COUNT_MOST + 1)


def test_webhook_deliveries_are_paged_by_index(seeded: Engine) -> None:
    summaries = _check(seeded, lambda db: webhooks.summaries(db, recent=10),
                       reads="webhook_deliveries", driving="webhook_deliveries")
    assert isinstance(summaries, list) and all(len(s.recent) == 10 for s in summaries)
    _check(seeded, lambda db: webhooks.summaries(db, recent=10), reads="webhook_attempts",
           driving="webhook_attempts")
    deep = (T0 + timedelta(minutes=ROWS // 3), f"d{ROWS // 3}")
    page = _check(seeded, lambda db: webhooks.deliveries(
        db, endpoint_id="e0000000-0000-0000-0000-000000000001", limit=25, before=deep),
        reads="webhook_deliveries", driving="webhook_deliveries")
    assert page
