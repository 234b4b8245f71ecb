"""The index-bound lists give exactly what a naive filter gives, page after page: the API's
signing requests under every filter combination (and a token of one, several or every
organisation), the console's audit log under each of its filters. Ties on the sort key (many
rows created at the same instant) are broken by id across page boundaries."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, delete, event, insert, select, update
from sqlalchemy.orm import Session

from medsign.db.models import (
    AppointmentRow,
    AuditRow,
    OrganizationRow,
    PatientRow,
    SigningRequestRow,
)
from medsign.domain.search import parse_search
from medsign.errors import NotFound
from medsign.records import patients as patient_records
from medsign.records.scope import Scope
from medsign.signing import repository
from medsign.signing import service as signing
from medsign.signing.repository import ListFilter
from medsign.web.console import queries as console

T = TypeVar("T")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORGS = ("mo1", "mo2", "mo3")
STATES = ("new", "sent", "completed", "failed")
PAGE = 7


@dataclass(frozen=True)
class Seeded:
    """What was written, for the naive filter: (id, created_at, org code, state, starts_at)."""

    requests: list[tuple[str, datetime, str, str, datetime]]


def _rows(engine: Engine, n: int = 180) -> Seeded:
    stamp = {"created_at": T0, "updated_at": T0}
    with engine.begin() as conn:
        conn.execute(insert(OrganizationRow), [
            {"id": k + 1, "code": code, "name": f"МО {code}", "address": "г. Москва",
             "ogrn": "1027700132195", "inn": "7707083893", "kpp": "770701001",
             "timezone": "Europe/Moscow", "template_ids": {}, **stamp}
            for k, code in enumerate(ORGS)])
        conn.execute(insert(PatientRow), [
            {"id": k + 1, "external_id": f"p{k}", "organization_id": k + 1, "last_name": "Иванов",
             "first_name": "Иван", "birth_date": date(1980, 1, 1), "max_reachable": True,
             **stamp} for k in range(len(ORGS))])
        requests, appointments = [], []
        for k in range(n):
            org = k % len(ORGS)
            # five instants only: most of a page shares its created_at with the next page's
            created = T0 + timedelta(minutes=(k * 7) % 5)
            starts = T0 + timedelta(hours=(k * 13) % 48)
            appointments.append({
                "id": k + 1, "external_id": f"a{k}", "organization_id": org + 1,
                "patient_id": org + 1, "starts_at": starts, "timezone": "Europe/Moscow",
                "doctor_name": "Петров П. П.", "service_name": "Приём", "status": "scheduled",
                "reschedule_count": 0, **stamp})
            state = STATES[(k * 3) % len(STATES)]
            rid = f"{(k * 7919) % 1000:04d}-{k:04d}"  # ids not in insertion order
            requests.append({
                "id": rid, "appointment_id": k + 1, "organization_id": org + 1,
                "patient_id": org + 1, "consent_kinds": ["medical_intervention"],
                "phone": "+79990000001", "initiated_by": "mis", "state": state,
                "uploaded_file_ids": [], "created_at": created, "updated_at": created})
        conn.execute(insert(AppointmentRow), appointments)
        conn.execute(insert(SigningRequestRow), requests)
    return Seeded([(r["id"], r["created_at"], ORGS[r["organization_id"] - 1], r["state"],
                    a["starts_at"]) for r, a in zip(requests, appointments, strict=True)])


def _all_pages(fetch: Callable[[Any], list[T]], key: Callable[[T], Any]) -> Iterator[T]:
    """Every row, page after page, each page asked after the previous page's last row."""
    after = None
    for _ in range(1000):
        got = fetch(after)
        assert len(got) <= PAGE + 1
        yield from got[:PAGE]
        if len(got) <= PAGE:
            return
        after = key(got[PAGE - 1])
    raise AssertionError("the pages never end")


WINDOW = (T0 + timedelta(minutes=1), T0 + timedelta(minutes=4))
VISITS = (T0 + timedelta(hours=5), T0 + timedelta(hours=30))
SCOPES: Sequence[frozenset[str] | None] = (None, frozenset({"mo1"}), frozenset({"mo1", "mo3"}))
COMBINATIONS = list(itertools.product(
    SCOPES, (None, "mo1", "mo3"), ((), ("sent",), ("new", "failed")),
    (None, WINDOW), (None, VISITS)))


@pytest.mark.parametrize("branches", [repository.MAX_BRANCHES, 2, 1])
def test_every_filter_combination_pages_to_what_a_naive_filter_gives(
        engine: Engine, branches: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also with fewer branches than pairs (states, then organisations, as IN lists)."""
    monkeypatch.setattr(repository, "MAX_BRANCHES", branches)
    seeded = _rows(engine)
    checked = 0
    with Session(engine) as db:
        for orgs, organization, states, created, visits in COMBINATIONS:
            scope = Scope("api:1", organizations=orgs)
            where = ListFilter(states=states, organization=organization,
                               created_from=created and created[0],
                               created_to=created and created[1],
                               appointment_from=visits and visits[0],
                               appointment_to=visits and visits[1])
            expected = sorted(
                ((rid, at) for rid, at, org, state, starts in seeded.requests
                 if scope.allows(org) and organization in (None, org)
                 and (not states or state in states)
                 and (created is None or created[0] <= at < created[1])
                 and (visits is None or visits[0] <= starts < visits[1])),
                key=lambda r: (r[1], r[0]), reverse=True)
            if organization is not None and not scope.allows(organization):
                with pytest.raises(NotFound):
                    signing.list_requests(db, scope=scope, where=where, after=None, limit=1)
                continue

            def fetch(after: signing.Cursor | None, scope: Scope = scope,
                      where: ListFilter = where) -> list[signing.RequestView]:
                return signing.list_requests(db, scope=scope, where=where, after=after,
                                             limit=PAGE + 1)

            got = [(v.row.id, v.row.created_at) for v in _all_pages(
                fetch, lambda v: signing.Cursor(v.row.created_at, v.row.id))]
            assert got == expected, (orgs, organization, states, created, visits)
            checked += len(got)
    assert checked > 1000  # the combinations are not all empty


def test_ties_on_created_at_are_broken_by_id_across_pages(engine: Engine) -> None:
    seeded = _rows(engine, n=60)
    with Session(engine) as db:
        pages = [signing.list_requests(db, scope=Scope("api:1"), where=ListFilter(), after=None,
                                       limit=PAGE)]
        while len(pages[-1]) == PAGE:
            last = pages[-1][-1].row
            pages.append(signing.list_requests(
                db, scope=Scope("api:1"), where=ListFilter(),
                after=signing.Cursor(last.created_at, last.id), limit=PAGE))
    ids = [v.row.id for p in pages for v in p]
    assert len(ids) == len(set(ids)) == 60
    assert ids == [r[0] for r in sorted(seeded.requests, key=lambda r: (r[1], r[0]),
                                        reverse=True)]
    # a page boundary falls inside one instant's rows
    assert any(a[-1].row.created_at == b[0].row.created_at for a, b in itertools.pairwise(pages))


def test_an_unknown_organisation_code_lists_nothing(engine: Engine) -> None:
    _rows(engine, n=10)
    with Session(engine) as db:
        assert signing.list_requests(db, scope=Scope("api:1"),
                                     where=ListFilter(organization="nope"),
                                     after=None, limit=PAGE) == []
        assert signing.list_requests(db, scope=Scope("api:1", organizations=frozenset({"gone"})),
                                     where=ListFilter(), after=None, limit=PAGE) == []


ACTORS = ("operator:1", "operator:12", "api:3", "system")
ACTIONS = ("signing.sent", "signing.completed", "appointment.cancelled")


def test_the_audit_page_under_each_filter_pages_to_what_a_naive_filter_gives(
        engine: Engine) -> None:
    entries = [{"at": T0 + timedelta(hours=(k * 5) % 72), "actor": ACTORS[k % 4],
                "action": ACTIONS[(k * 5) % 3],
                "subject_type": ("signing_request", "patient")[k % 2],
                "subject_id": f"s{k % 9}", "organization_code": "mo1", "details": {}}
               for k in range(150)]
    with engine.begin() as conn:
        conn.execute(insert(AuditRow), entries)
    day = (T0 + timedelta(days=1), T0 + timedelta(days=2))
    filters = [console.AuditFilter(), console.AuditFilter(actor="operator:1"),
               console.AuditFilter(actor="operator:12"), console.AuditFilter(action="signing."),
               console.AuditFilter(subject="s4"), console.AuditFilter(subject="patient:s3"),
               console.AuditFilter(since=day[0], until=day[1]),
               console.AuditFilter(actor="op", action="signing.c", since=day[0], until=day[1])]
    with Session(engine) as db:
        written = db.scalars(select(AuditRow).order_by(AuditRow.id.desc())).all()
        for where in filters:
            expected = [r.id for r in written if _audit_matches(where, r)]
            got = [r.id for r in _all_pages(
                lambda before, where=where: console.audit_page(db, where=where, limit=PAGE + 1,
                                                               before_id=before),
                lambda r: r.id)]
            assert got == expected and got, where


def _audit_matches(where: console.AuditFilter, row: AuditRow) -> bool:
    subject = where.subject
    return (row.actor.startswith(where.actor or "") and row.action.startswith(where.action or "")
            and (subject is None or subject in (row.subject_id,
                                                f"{row.subject_type}:{row.subject_id}"))
            and (where.since is None or where.since <= row.at)
            and (where.until is None or row.at < where.until))


@pytest.mark.parametrize("common_name", [repository.COMMON_NAME, 1])
def test_a_word_is_a_name_and_an_id_only_when_the_id_names_something(
        engine: Engine, common_name: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-word search is read as a surname and as an id. When the id names nothing the
    page is one semi-join on the patients (the planner weighs a common surname); when it
    names an appointment, its request is found beside the namesakes' requests. On SQLite a
    name of ``COMMON_NAME`` patients or more is searched newest request first: the same
    requests."""
    monkeypatch.setattr(repository, "COMMON_NAME", common_name)
    seeded = _rows(engine, n=30)
    with engine.begin() as conn:
        conn.execute(update(PatientRow).values(search_name="иванов иван"))
        conn.execute(update(PatientRow).where(PatientRow.id == 3)
                     .values(last_name="Петров", search_name="петров иван"))
        conn.execute(update(AppointmentRow).where(AppointmentRow.external_id == "a0")
                     .values(external_id="Петров"))
    by_org = {rid: org for rid, _, org, _, _ in seeded.requests}
    a0 = next(rid for rid, *_ in seeded.requests if rid.endswith("-0000"))

    def found(text: str) -> set[str]:
        where = ListFilter(search=parse_search(text))
        with Session(engine) as db:
            return {v.row.id for v in _all_pages(
                lambda after: repository.page(db, where=where, organization_ids=None,
                                              after=after, limit=PAGE + 1),
                lambda v: (v.row.created_at, v.row.id))}

    assert found("Иванов") == {rid for rid, org in by_org.items() if org in ("mo1", "mo2")}
    assert found("Петров") == {rid for rid, org in by_org.items() if org == "mo3"} | {a0}
    assert found("Сидоров") == set()


def test_a_name_is_found_by_any_part_as_it_is_now_written(engine: Engine) -> None:
    """The name search reads an index of the names (SQLite's is kept by triggers): a new
    patient is found, a renamed one by the new name only, a deleted one no more; a ``%`` or
    ``_`` in a word is a letter, not a wildcard."""
    _rows(engine, n=3)

    def found(*words: str) -> set[int]:
        with Session(engine) as db:
            return set(db.scalars(select(PatientRow.id)
                                  .where(patient_records.name_matches(words))))

    with engine.begin() as conn:
        conn.execute(update(PatientRow).where(PatientRow.id == 1)
                     .values(search_name="сидорова анна"))
        conn.execute(insert(PatientRow).values(
            id=9, external_id="p9", organization_id=1, last_name="Ким", first_name="Ли",
            search_name="ким ли 100%_", birth_date=date(1990, 1, 1), max_reachable=True,
            created_at=T0, updated_at=T0))
    assert found("идоров") == {1} and found("анна", "сидор") == {1}
    assert found("ким") == {9} and found("ли") == {9} and found("0%_") == {9}
    assert found("0_") == set() and found("1%0") == set()  # no wildcards
    with engine.begin() as conn:
        conn.execute(update(PatientRow).where(PatientRow.id == 1)
                     .values(search_name="петрова анна"))
        conn.execute(delete(PatientRow).where(PatientRow.id == 9))
    assert found("сидор") == set() and found("петрова") == {1} and found("ким") == set()


def test_the_appointment_window_follows_the_appointments_start_whoever_writes(
        engine: Engine) -> None:
    """The start is kept on the request by the database (migration 0020): set when the
    request is written, followed when the appointment moves, by any writer."""
    seeded = _rows(engine, n=12)
    moved_rid, moved_at = seeded.requests[3][0], T0 + timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(update(AppointmentRow).where(AppointmentRow.external_id == "a3")
                     .values(starts_at=moved_at))
        conn.execute(update(AppointmentRow).where(AppointmentRow.external_id == "a4")
                     .values(doctor_name="Сидоров С. С."))  # not a move: the start stays
        stored = dict(conn.execute(select(SigningRequestRow.id,
                                          SigningRequestRow.appointment_starts_at)).all())
    starts = {rid: at for rid, _, _, _, at in seeded.requests}
    assert stored == {**starts, moved_rid: moved_at}

    def window(start: datetime, end: datetime) -> list[str]:
        with Session(engine) as db:
            return [v.row.id for v in signing.list_requests(
                db, scope=Scope("api:1"), after=None, limit=50,
                where=ListFilter(appointment_from=start, appointment_to=end))]
    assert window(moved_at, moved_at + timedelta(hours=1)) == [moved_rid]
    assert moved_rid not in window(T0, T0 + timedelta(days=3))


# ``sqlite_stat1`` of ``signing_requests`` as the history bench's million requests leave it.
_MILLION = {
    "ix_signing_requests_appointment_start": "1000000 1 1 1",
    "ix_signing_requests_failed_changed": "19900 1 1",
    "ix_signing_requests_failed": "19900 1 1",
    "ix_signing_requests_org_state_created": "1000000 50000 6250 1 1",
    "ix_signing_requests_state_created": "1000000 125000 1 1",
    "ix_signing_requests_org_created": "1000000 50000 1 1",
    "ix_signing_requests_created": "1000000 1 1",
    "uq_signing_requests_open_appointment": "24900 1",
    "ix_signing_requests_transaction_id": "1000000 1",
    "ix_signing_requests_patient_id": "1000000 4",
    "ix_signing_requests_appointment_id": "1000000 1",
    "sqlite_autoindex_signing_requests_2": "1000000 1000000 1000000",
    "sqlite_autoindex_signing_requests_1": "1000000 1",
}


def test_sqlite_reads_an_appointment_window_through_its_index(engine: Engine,
                                                               backend: str) -> None:
    """SQLite cannot weigh the window's range: given an organisation or a state too, it
    would walk that one's index newest first, testing each request's start down to the
    window's day (at a million requests, 75 ms for one МО's day). The page writes those
    equalities where no index serves them, so the window's range is the bound."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL's plans are checked in tests/integration/plans")
    _rows(engine)
    with engine.begin() as conn:  # the statistics of a million requests in twenty МО
        conn.exec_driver_sql("ANALYZE")
        for index, stat in _MILLION.items():
            conn.exec_driver_sql("UPDATE sqlite_stat1 SET stat = ? WHERE idx = ?", (stat, index))
        conn.exec_driver_sql("ANALYZE sqlite_schema")  # the planner reads them again
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM signing_requests" in statement:
            statements.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as db:
            for states in ((), ("sent",)):
                signing.list_requests(db, scope=Scope("api:1", frozenset({"mo1"})), after=None,
                                      limit=8, where=ListFilter(
                                          states=states, appointment_from=VISITS[0],
                                          appointment_to=VISITS[1]))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with engine.connect() as conn:
        plans = [" ".join(str(row[3]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", params)) for sql, params in statements]
    windowed = [p for (sql, _), p in zip(statements, plans, strict=True)
                if "appointment_starts_at >=" in sql]
    assert len(windowed) == 2, statements
    assert all("ix_signing_requests_appointment_start" in p for p in windowed), plans
    assert not any("ix_signing_requests_org" in p or "state_created" in p for p in windowed)
