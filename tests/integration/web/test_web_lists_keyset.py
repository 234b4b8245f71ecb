"""The console's notifications in keyset pages (issue 16): newest appointment first, ties on
one start time and an appointment's several notifications each shown once, the page links
carrying the cursor both ways; the doctor's board searching names in the database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, select, update
from sqlalchemy.orm import Session

from medsign.clinic import patients
from medsign.clinic.patients import PatientInput
from medsign.clock import FakeClock
from medsign.db.models import (
    AppointmentRow,
    NotificationRow,
    OrganizationRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.records.scope import SYSTEM
from medsign.signing import alerts
from medsign.signing.repository import ListFilter
from medsign.web.console import queries as console
from medsign.web.console import routes
from medsign.web.doctor import queries as doctor
from tests.integration.web import stand

Key = tuple[str, str]  # (appointment, notification state): what a row shows


def _notifications(engine: Engine, now: datetime) -> list[Key]:
    """Appointments of which many start at one time, each with a notification, some with a
    superseded one beside it; every row as the list must show them, in its order."""
    start = now + timedelta(days=3)
    with Session(engine) as db:
        for n in range(2 * routes.PAGE + 3):
            at = start if n % 3 else start + timedelta(hours=n)  # two in three tie
            stand.appointment(db, f"n{n:02}", "mo1", "p2", at, now)
        db.flush()
        for a in db.scalars(select(AppointmentRow).where(AppointmentRow.external_id.like("n%"))):
            n = int(a.external_id[1:])
            states = ["superseded", "sent"] if n % 4 == 0 else ["scheduled"]
            for state in states:
                db.add(NotificationRow(appointment_id=a.id, patient_id=a.patient_id,
                                       state=state, token=f"tok-{a.external_id}-{state}",
                                       token_expires_at=at_most(now), created_at=now,
                                       updated_at=now))
        db.commit()
        rows = db.execute(select(AppointmentRow.external_id, NotificationRow.state)
                          .join(AppointmentRow, AppointmentRow.id == NotificationRow.appointment_id)
                          .order_by(AppointmentRow.starts_at.desc(), AppointmentRow.id.desc(),
                                    NotificationRow.id.desc())).all()
    return [(aid, state) for aid, state in rows]


def at_most(now: datetime) -> datetime:
    return now + timedelta(days=10)


def test_notifications_page_by_cursor_with_ties_both_ways(engine: Engine, seeded: stand.Seeded,
                                                          clock: FakeClock) -> None:
    expected = _notifications(engine, clock.now())

    def page(cursor: console.NotificationCursor | None) -> console.NotificationPage:
        with Session(engine) as db:
            return console.notifications(db, where=console.NotificationFilter(),
                                         cursor=cursor, limit=4)

    forward, current = [], page(None)
    assert current.previous is None
    while True:
        forward.append([(v.appointment_id, v.state) for v in current.rows])
        if current.next is None:
            break
        current = page(current.next)
    assert [row for rows in forward for row in rows] == expected  # nothing skipped or repeated
    assert all(len(rows) == 4 for rows in forward[:-1])
    backward = [[(v.appointment_id, v.state) for v in current.rows]]
    while current.previous is not None:
        current = page(current.previous)
        backward.append([(v.appointment_id, v.state) for v in current.rows])
    assert backward[::-1] == forward  # the same pages, back to the first
    assert current.previous is None and current.next is not None


def _shown(html: str) -> list[Key]:
    rows = re.findall(r'data-label="Запись / пациент">([^ <]+) / [^<]*</td>\s*'
                      r'<td data-label="Состояние">.*?data-state="([a-z_]+)"', html, re.S)
    return [(aid, state) for aid, state in rows]


def test_the_notification_pages_links_carry_the_cursor(client: TestClient, engine: Engine,
                                                       seeded: stand.Seeded,
                                                       clock: FakeClock) -> None:
    expected = [k for k in _notifications(engine, clock.now()) if k[0].startswith("n")]
    stand.logged_in(client, "op")
    first = client.get("/console/notifications", params={"organization": "mo1"}).text
    assert 'data-testid="prev-page"' not in first
    pages, html = [first], first
    while 'data-testid="next-page"' in html:
        link = stand.link(html, "next-page")
        assert "organization=mo1" in link and "cursor=" in link and "page=" not in link
        html = client.get(link).text
        pages.append(html)
    shown = [row for p in pages for row in _shown(p)]
    ours = [row for row in shown if row[0].startswith("n")]
    assert ours == expected and len(shown) == len(set(shown))
    back = client.get(stand.link(pages[-1], "prev-page")).text
    assert _shown(back) == _shown(pages[-2])
    assert client.get("/console/notifications",
                      params={"cursor": "not-a-cursor"}).text.count("notification-row") \
        == first.count("notification-row")  # a foreign cursor reads as the first page


# -- the doctor's board: the name search is SQL ----------------------------------------------

def _patient(db: Session, pid: str, last: str, first: str, middle: str | None,
             now: datetime) -> None:
    patients.upsert(db, scope=SYSTEM, organization="mo1", external_id=pid, now=now,
                    data=PatientInput(organization="mo1", last_name=last, first_name=first,
                                      middle_name=middle,
                                      birth_date=datetime(1980, 1, 1).date(),
                                      phone="+79990000099", max_user_id=None))


def test_the_boards_name_search_folds_case_and_yo_in_the_database(
        engine: Engine, seeded: stand.Seeded, clock: FakeClock) -> None:
    now = clock.now()
    with Session(engine) as db:
        _patient(db, "q1", "Ёлкина", "Анна", "Сергеевна", now)
        _patient(db, "q2", "Елкин", "Пётр", None, now)
        for n in range(12):  # many of the day's rows match nothing
            stand.appointment(db, f"z{n:02}", "mo1", "p2", now + timedelta(hours=1), now)
        for aid, pid in (("y1", "q1"), ("y2", "q2")):
            stand.appointment(db, aid, "mo1", pid, now + timedelta(hours=3), now)
        db.commit()

    def search(query: str, page_size: int = 50) -> tuple[list[str], int]:
        """The appointments found, and how many SELECTs of appointments it took."""
        selects: list[str] = []

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            if statement.startswith("SELECT appointments."):
                selects.append(statement)
        event.listen(engine, "before_cursor_execute", count)
        try:
            with Session(engine) as db:
                board = doctor.board(db, scope=SYSTEM, organization="mo1", now=now,
                                     where=doctor.BoardFilter(query=query),
                                     page_size=page_size)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return [c.appointment_id for c in board.cards], len(selects)

    assert search("елкин")[0] == ["y1", "y2"]  # «ё» as «е», either way, any case
    assert search("ЁЛКИНА")[0] == ["y1"]
    assert search("пётр елкин")[0] == ["y2"]  # words in any order
    assert search("анна серг")[0] == ["y1"]  # parts of words
    assert search("%")[0] == [] and search("_")[0] == []  # wildcards are only characters
    # Found in one query, however many of the day's rows come before the first match.
    assert search("елкин", page_size=1) == (["y1"], 1)


# -- the alert lists: keyset pages, the longest waiting first --------------------------------

def _alerting(engine: Engine, now: datetime) -> list[str]:
    """Requests of every alert part, many changed at one moment: failed ones, stalled ones
    (their scheduled item has not moved since) and unattended ones (no scheduled item, as
    the scan found). Their ids in the lists' order: since when each has needed an operator
    (a failed or unattended request: its last change; a stalled one: its item's), then id."""
    with Session(engine) as db:
        for n in range(2 * routes.PAGE + 5):
            stand.appointment(db, f"al{n:02}", "mo1", "p2", now + timedelta(days=2), now)
        db.commit()
    since: dict[str, datetime] = {}
    for n in range(2 * routes.PAGE + 5):
        moment = now - timedelta(hours=2 + n % 4)  # four moments: ties across the parts
        rid = stand.start_signing(engine, f"al{n:02}", now)
        with Session(engine) as db:
            if n % 3 == 0:
                stand.fail(engine, rid, now)
            elif n % 3 == 2:
                db.execute(delete(WorkItemRow).where(WorkItemRow.ref == rid))
            db.execute(update(SigningRequestRow).where(SigningRequestRow.id == rid)
                       .values(updated_at=moment if n % 3 != 1 else now))
            db.execute(update(WorkItemRow).where(WorkItemRow.ref == rid)
                       .values(updated_at=moment))
            db.commit()
        since[rid] = moment
    with Session(engine) as db:
        alerts.watch(db, now=now)
        db.commit()
    return sorted(since, key=lambda rid: (since[rid], rid))


def test_the_alert_list_pages_by_cursor_the_longest_waiting_first(
        engine: Engine, seeded: stand.Seeded, clock: FakeClock) -> None:
    expected = _alerting(engine, clock.now())
    pages, after = [], None
    while True:
        with Session(engine) as db:
            found = console.alerting(db, now=clock.now(), stall_after=timedelta(minutes=30),
                                     limit=4, after=after)
        pages.append([r.view.row.id for r in found.rows])
        if found.more is None:
            break
        after = found.more
    assert [rid for page in pages for rid in page] == expected  # none skipped or repeated
    assert all(len(page) == 4 for page in pages[:-1])
    with Session(engine) as db:  # «зависшие»: the stalled parts alone, in the same order
        stuck = console.stuck(db, now=clock.now(), stuck_after=timedelta(minutes=30), limit=100)
        failed = set(db.scalars(select(SigningRequestRow.id)
                                .where(SigningRequestRow.state == "failed")))
    assert [r.view.row.id for r in stuck.rows] == [r for r in expected if r not in failed]
    assert stuck.more is None


def test_the_alert_pages_links_carry_the_cursor(client: TestClient, engine: Engine,
                                                seeded: stand.Seeded, clock: FakeClock) -> None:
    expected = _alerting(engine, clock.now())
    stand.logged_in(client, "op")
    html = client.get("/console/requests", params={"view": "alerts"}).text
    shown: list[str] = []
    while True:
        rows = re.findall(r'data-request="([^"]+)"', html)
        assert len(rows) <= routes.PAGE
        shown += rows
        if 'data-testid="next-page"' not in html:
            break
        link = stand.link(html, "next-page")
        assert "view=alerts" in link and "cursor=" in link
        html = client.get(link).text
    assert shown == expected
    foreign = client.get("/console/requests", params={"view": "alerts", "cursor": "нет"}).text
    assert re.findall(r'data-request="([^"]+)"', foreign) == expected[:routes.PAGE]


def test_the_stuck_list_walks_the_stale_items_past_those_a_filter_drops(
        engine: Engine, seeded: stand.Seeded, clock: FakeClock) -> None:
    """The stalled part is read from the scheduled items in batches: a filter that keeps one
    request in nine, and an ended request whose item was left behind, cost it more batches,
    never a request skipped or shown twice."""
    now = clock.now()
    with Session(engine) as db:
        for n in range(45):
            org, pid = ("mo2", "p3") if n % 9 == 4 else ("mo1", "p2")
            stand.appointment(db, f"st{n:02}", org, pid, now + timedelta(days=2), now)
        db.commit()
    since: dict[str, datetime] = {}
    for n in range(45):
        rid = stand.start_signing(engine, f"st{n:02}", now)
        moment = now - timedelta(hours=2 + n % 5)  # five moments: ties within each batch
        with Session(engine) as db:
            db.execute(update(WorkItemRow).where(WorkItemRow.ref == rid)
                       .values(updated_at=moment))
            if n == 12:  # it ended, its item did not: an anomaly, not an alert
                db.execute(update(SigningRequestRow).where(SigningRequestRow.id == rid)
                           .values(state="completed"))
            db.commit()
        since[rid] = moment
    with Session(engine) as db:
        org_of = dict(db.execute(select(SigningRequestRow.id, OrganizationRow.code)
                                 .join(OrganizationRow)).all())
        ended = db.scalar(select(SigningRequestRow.id).where(
            SigningRequestRow.state == "completed"))
    expected = {code: sorted((r for r in since if org_of[r] == code and r != ended),
                             key=lambda r: (since[r], r)) for code in ("mo1", "mo2")}
    assert len(expected["mo2"]) == 5 and ended in since
    for code, limit in (("mo2", 2), ("mo1", 7)):
        pages, after = [], None
        while True:
            with Session(engine) as db:
                found = console.stuck(db, now=now, stuck_after=timedelta(minutes=30),
                                      limit=limit, after=after,
                                      where=ListFilter(organization=code))
            pages.append([r.view.row.id for r in found.rows])
            if found.more is None:
                break
            after = found.more
        assert [rid for page in pages for rid in page] == expected[code]
        assert all(len(page) == limit for page in pages[:-1])
