"""Signing's queries, in one place: the requests, their documents and the rows a step needs.

The service decides and the flow's steps call out; both come here for rows and nothing here
decides or commits (the request or the runner step that called does).

Functions that take a ``Connection`` are the flow's reads in the runner's short read
transaction (``StepContext.read``): their rows come back detached, so that a step may keep
them across its outbound calls. The flow's hot path is tuned — one joined select per step,
one ``executemany`` for the uploads' file ids — and these are those statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Subquery,
    Table,
    bindparam,
    false,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from medsign.db.integrity import get_existing
from medsign.db.models import (
    AppointmentRow,
    ConsentRow,
    DocumentRow,
    IdempotencyRow,
    OrganizationRow,
    PatientRow,
    SigningEventRow,
    SigningRequestRow,
    WorkItemRow,
)
from medsign.db.types import on_sqlite
from medsign.domain.consents import ConsentState
from medsign.domain.search import SearchQuery
from medsign.domain.signing import FINAL_STATES, SigningState
from medsign.records import patients as patient_records

# Kinds of stored documents: the platform's archive as received, one MO counter-signature.
ARCHIVE = "platform_archive"
MO_SIGNATURE = "mo_signature"

Parties = tuple[SigningRequestRow, AppointmentRow, OrganizationRow, PatientRow]


# -- the flow's step ------------------------------------------------------------------------

def load_for_step(conn: Connection, *, request_id: str) -> Parties | None:
    """The request with its appointment, organisation and patient, in one query, detached."""
    with Session(bind=conn) as db:
        found = db.execute(
            select(SigningRequestRow, AppointmentRow, OrganizationRow, PatientRow)
            .join(AppointmentRow, AppointmentRow.id == SigningRequestRow.appointment_id)
            .join(OrganizationRow, OrganizationRow.id == SigningRequestRow.organization_id)
            .join(PatientRow, PatientRow.id == SigningRequestRow.patient_id)
            .where(SigningRequestRow.id == request_id)).first()
        db.expunge_all()
    if found is None:
        return None
    row, appointment, organization, patient = found
    return row, appointment, organization, patient


def locked(db: Session, *, request_id: str) -> SigningRequestRow:
    """The request to move, locked (``FOR UPDATE`` on PostgreSQL) until the commit."""
    return get_existing(db, SigningRequestRow, request_id, with_for_update=True)


def appointment_and_organization(db: Session,
                                 row: SigningRequestRow) -> tuple[AppointmentRow, OrganizationRow]:
    return (get_existing(db, AppointmentRow, row.appointment_id),
            get_existing(db, OrganizationRow, row.organization_id))


def consents_in_signing(db: Session, row: SigningRequestRow) -> list[ConsentRow]:
    """The consents this request is signing (``in_signing``), which its ending moves on."""
    return list(db.scalars(select(ConsentRow).where(
        ConsentRow.appointment_id == row.appointment_id,
        ConsentRow.kind.in_(list(row.consent_kinds)),
        ConsentRow.state == ConsentState.in_signing.value)))


def archive_bytes(db: Session | Connection, *, request_id: str) -> bytes | None:
    """The platform's archive as received (the newest, should there ever be two)."""
    content = db.execute(select(DocumentRow.content).where(
        DocumentRow.signing_request_id == request_id, DocumentRow.kind == ARCHIVE)
        .order_by(DocumentRow.id.desc())).scalars().first()
    return None if content is None else bytes(content)


def mo_signatures(conn: Connection, *, request_id: str) -> list[DocumentRow]:
    """The MO's counter-signatures in the order they were made, detached."""
    with Session(bind=conn) as db:
        rows = list(db.scalars(select(DocumentRow).where(
            DocumentRow.signing_request_id == request_id, DocumentRow.kind == MO_SIGNATURE)
            .order_by(DocumentRow.id)))
        db.expunge_all()
    return rows


_DOCUMENTS = cast(Table, DocumentRow.__table__)
_REMEMBER_UPLOAD = (update(_DOCUMENTS).where(_DOCUMENTS.c.id == bindparam("doc_id"))
                    .values(platform_file_id=bindparam("file_id")))


def remember_uploads(db: Session, uploaded: dict[int, str]) -> None:
    """Note each signature's file id on the platform: a plain UPDATE on the session's
    connection (through the ORM it would first evaluate the statement against every object
    in the session; loading the rows would read every signature's content too)."""
    db.connection().execute(_REMEMBER_UPLOAD, [{"doc_id": doc_id, "file_id": file_id}
                                               for doc_id, file_id in uploaded.items()])


# -- starting -------------------------------------------------------------------------------

def patient(db: Session, patient_id: int) -> PatientRow:
    """The patient a foreign key guarantees."""
    return get_existing(db, PatientRow, patient_id)


def _open_of(appointment_id: int) -> Select[SigningRequestRow]:
    return select(SigningRequestRow).where(
        SigningRequestRow.appointment_id == appointment_id,
        SigningRequestRow.state.not_in([s.value for s in FINAL_STATES]))


def open_request(db: Session, appointment_id: int) -> SigningRequestRow | None:
    """The appointment's open request (``domain.signing.OPEN_STATES``): at most one exists."""
    return db.scalars(_open_of(appointment_id)).first()


def open_requests(db: Session, appointment_id: int) -> list[SigningRequestRow]:
    """Every unfinished request of the appointment (one, unless from before the index)."""
    return list(db.scalars(_open_of(appointment_id)))


def idempotency_record(db: Session, *, api_client_id: int, key: str) -> IdempotencyRow | None:
    """The answer stored for the client's ``Idempotency-Key``, read afresh (a concurrent twin
    may have stored it since this session last looked)."""
    return db.get(IdempotencyRow, (api_client_id, key), populate_existing=True)


def work_item_id(db: Session, *, kind: str, request_id: str) -> int | None:
    """The request's newest runner item."""
    item: int | None = db.scalars(select(WorkItemRow.id).where(
        WorkItemRow.kind == kind, WorkItemRow.ref == request_id)
        .order_by(WorkItemRow.id.desc())).first()
    return item


# -- reading --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListFilter:
    states: Sequence[str] = ()
    organization: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    appointment_from: datetime | None = None
    appointment_to: datetime | None = None
    search: SearchQuery | None = None  # the console's one search box, read by domain.search


@dataclass(frozen=True)
class RequestView:
    row: SigningRequestRow
    appointment_external_id: str
    organization_code: str
    patient_external_id: str
    appointment_starts_at: datetime


_VIEW = (select(SigningRequestRow, AppointmentRow.external_id, OrganizationRow.code,
                PatientRow.external_id, AppointmentRow.starts_at)
         .join(AppointmentRow, AppointmentRow.id == SigningRequestRow.appointment_id)
         .join(OrganizationRow, OrganizationRow.id == SigningRequestRow.organization_id)
         .join(PatientRow, PatientRow.id == SigningRequestRow.patient_id))


def view_query() -> Select[SigningRequestRow, str, str, str, datetime]:
    """The columns of a ``RequestView``: the request with its appointment's, organisation's
    and patient's ids (for pages that add their own conditions)."""
    return _VIEW


def view(db: Session, *, request_id: str) -> RequestView | None:
    found = db.execute(_VIEW.where(SigningRequestRow.id == request_id)).first()
    return None if found is None else RequestView(*found)


def page(db: Session, *, where: ListFilter, organization_ids: list[int] | None,
         after: tuple[datetime, str] | None, limit: int) -> list[RequestView]:
    """Newest first, keyset-paginated on (created_at, id): the page after ``after``.
    ``organization_ids`` None: every organisation.

    Index-bound at any depth and for any filter, so a page costs the same at ten million
    requests as at ten thousand. The page's ids are chosen first, from ``signing_requests``
    alone, then joined to their appointment, organisation and patient (a primary-key lookup
    per page row, never a join of every row):

    - each (organisation, state) pair the filter names is one branch, read from the index
      that matches it — ``(created_at, id)``, ``(organization_id, created_at, id)``,
      ``(state, created_at, id)`` or ``(organization_id, state, created_at, id)`` — in the
      index's order, with the cursor and ``created_from``/``created_to`` as the index's
      bounds (the row comparison ``(created_at, id) < (c, i)`` after the equalities) and
      ``LIMIT limit``;
      several branches (a token of several organisations, several states) are merged and
      cut again to ``limit``: at most branches × ``limit`` rows, whatever the history (past
      ``MAX_BRANCHES`` pairs, a branch takes its states, then its organisations, as a list);
    - ``appointment_from`` (with or without ``appointment_to``): the window's requests are
      one range of ``ix_signing_requests_appointment_start`` (the appointment's start kept
      on the request, migration 0020), their organisation and state read from the index
      itself on PostgreSQL, sorted: the cost is the window's, not the history's.
      ``appointment_to`` alone walks the branch's index and checks each request's start:
      the cost is the requests created since that moment (recent moments are the use; a
      client that wants an old span names both ends).
    """
    organizations: list[int] | None = organization_ids
    where = _without_idle_identifier(db, where)
    if where.organization is not None:
        found = db.scalar(select(OrganizationRow.id)
                          .where(OrganizationRow.code == where.organization))
        if found is None or (organization_ids is not None and found not in organization_ids):
            return []
        organizations = [found]
    if organizations is not None and not organizations:
        return []
    newest_first = _walk_newest_first(db, where)
    branches = [_page_branch(where, orgs, states, after, limit, newest_first)
                for orgs, states in _branches(organizations, list(where.states))]
    ids = branches[0].subquery("page_ids") if len(branches) == 1 else _merged(branches, limit)
    query = (_VIEW.join(ids, ids.c.id == SigningRequestRow.id)
             .order_by(SigningRequestRow.created_at.desc(), SigningRequestRow.id.desc()))
    return [RequestView(*r) for r in db.execute(query).all()]


def _without_idle_identifier(db: Session, where: ListFilter) -> ListFilter:
    """``where`` without the search's identifier reading when it names nothing: a typed
    surname is also read as a possible appointment, transaction or request id, and while
    that reading stands the search must take the slower shape of ``_matches`` (a union of
    every reading). Three key lookups decide it, before the page is read."""
    search = where.search
    if search is None or search.identifier is None or not (search.name_words or search.phone
                                                            or search.snils):
        return where
    R, A = SigningRequestRow, AppointmentRow  # noqa: N806
    value = search.identifier
    named = db.scalar(select(literal(1)).where(or_(
        select(A.id).where(A.external_id == value).exists(),
        select(R.id).where(R.transaction_id == value).exists(),
        select(R.id).where(R.id == value).exists())))
    if named:
        return where
    return replace(where, search=replace(search, identifier=None))


# At most this many branches: past it, a branch takes several states, then several
# organisations, as an IN list (a token of dozens of МО covers much of the history, so the
# common index finds its rows densely).
MAX_BRANCHES = 32

Group = Sequence[Any] | None  # one branch's organisation ids or states; None: any


def _branches(organizations: list[int] | None, states: list[str]) -> list[tuple[Group, Group]]:
    """The page's (organisations, states) branches: one value of each where it may."""
    orgs: list[Group] = [None] if organizations is None else (
        [[o] for o in organizations] if len(organizations) <= MAX_BRANCHES else [organizations])
    kinds: list[Group] = [None] if not states else (
        [[s] for s in states] if len(orgs) * len(states) <= MAX_BRANCHES else [states])
    return [(o, s) for o in orgs for s in kinds]


def _page_branch(where: ListFilter, organizations: Group, states: Group,
                 after: tuple[datetime, str] | None, limit: int,
                 newest_first: bool = False) -> Select[Any]:
    """One index range of the page: ``limit`` ids of the branch's organisations and states
    (one of each, as a rule; None: any), newest first, in the index's own order (or, in an
    appointment window, the window's requests)."""
    R = SigningRequestRow  # noqa: N806
    query: Select[Any] = select(R.id, R.created_at)  # type: ignore[assignment]
    # In an appointment window its range is the bound. SQLite cannot weigh a range, and
    # would walk the organisation's or state's index newest first instead (to spare a sort
    # of the window), testing each request's start down to the window's day: so there those
    # equalities are written where no index serves them.
    indexed = where.appointment_from is None
    if organizations is not None:
        query = query.where(_one_of(R.organization_id, organizations, indexed=indexed))
    if states is not None:
        query = query.where(_one_of(R.state, states, indexed=indexed))
    if where.created_from is not None:
        query = query.where(R.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(R.created_at < where.created_to)
    if after is not None:
        query = query.where(tuple_(R.created_at, R.id) < tuple_(
            literal(after[0], R.created_at.type), literal(after[1], R.id.type)))
    query = _in_window(query, where)
    if where.search is not None:  # an id list of its own (``_matches``): no join needed
        query = query.where(_matches(where.search, newest_first=newest_first))
    return query.order_by(R.created_at.desc(), R.id.desc()).limit(limit)


def _one_of(column: InstrumentedAttribute[Any], values: Sequence[Any], *,
            indexed: bool = True) -> ColumnElement[bool]:
    """``=`` for one value (an index's equality, its order kept), ``IN`` for several.
    ``indexed`` False: on SQLite the same test of an expression of the column (``+ 0``,
    ``|| ''``), which no index serves."""
    def test(tested: Any) -> ColumnElement[bool]:
        return cast(ColumnElement[bool], tested == values[0] if len(values) == 1
                    else tested.in_(list(values)))
    if indexed:
        return test(column)
    unindexed = column.concat("") if isinstance(column.type, String) else column + 0
    return on_sqlite(test(column), sqlite=test(unindexed))


def _merged(branches: list[Select[Any]], limit: int) -> Subquery:
    """The newest ``limit`` of the branches' rows (each branch already cut to ``limit``)."""
    parts = [b.subquery(f"branch_{n}") for n, b in enumerate(branches)]
    every = union_all(*(select(p.c.id, p.c.created_at) for p in parts)).subquery("branches")
    return (select(every.c.id, every.c.created_at)
            .order_by(every.c.created_at.desc(), every.c.id.desc()).limit(limit)
            .subquery("page_ids"))


def apply_filters(query: Select[Any], where: ListFilter) -> Select[Any]:
    """``where`` on a query of ``view_query()``'s shape (also for the console's own lists)."""
    R = SigningRequestRow  # noqa: N806
    if where.organization is not None:
        query = query.where(OrganizationRow.code == where.organization)
    if where.states:
        query = query.where(R.state.in_(list(where.states)))
    if where.created_from is not None:
        query = query.where(R.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(R.created_at < where.created_to)
    query = _in_window(query, where)
    if where.search is not None:
        query = query.where(_matches(where.search))
    return query


def _in_window(query: Select[Any], where: ListFilter) -> Select[Any]:
    """The requests whose appointment starts within ``where``'s window (each end optional)."""
    start = SigningRequestRow.appointment_starts_at
    if where.appointment_from is not None:
        query = query.where(start >= where.appointment_from)
    if where.appointment_to is not None:
        query = query.where(start < where.appointment_to)
    return query


# SQLite: a name that this many patients or more bear is searched newest request first
# (``_walk_newest_first``).
COMMON_NAME = 1000


def _walk_newest_first(db: Session, where: ListFilter) -> bool:
    """Whether a search by the patient alone should walk the requests newest first and test
    each one's patient, rather than start from the patients and sort all their requests.

    PostgreSQL weighs that itself from its statistics. SQLite cannot weigh a name: it always
    starts from the patients, and a common surname (one patient in thirty) then sorts tens of
    thousands of requests for a page. So on SQLite the matching patients are counted first,
    up to ``COMMON_NAME``: that many, and a page is found within about
    ``limit × patients / COMMON_NAME`` requests of the newest; fewer, and their requests are
    few enough to sort."""
    search = where.search
    if search is None or not search.name_words or search.identifier is not None or \
            db.get_bind().dialect.name != "sqlite":
        return False
    return patient_records.bearing_many(db, search.name_words, COMMON_NAME)


def _matches(search: SearchQuery, *, newest_first: bool = False) -> ColumnElement[bool]:
    """A request matching any reading of the search text.

    One ``id IN (… UNION ALL …)`` rather than an OR across the joined tables: each reading
    finds its requests through its own index (patients by the trigram index on the name or
    ``ix_patients_phone``, then requests by ``patient_id``; appointments by their external
    id, then requests by ``appointment_id``; requests by transaction id or id), so the
    database reads the matches only, never every request to test the OR."""
    R, A, P = SigningRequestRow, AppointmentRow, PatientRow  # noqa: N806
    patients: list[ColumnElement[bool]] = []
    if search.name_words:
        patients.append(patient_records.name_matches(search.name_words,
                                                     indexed=not newest_first))
    if search.phone is not None:
        patients.append(P.phone == search.phone)
    if search.snils is not None:
        patients.append(P.snils == search.snils)
    if patients and search.identifier is None:
        # Readings of the patient only (a name, a phone, a СНИЛС): one semi-join, so that
        # the planner weighs how many patients match. A common surname (thousands of
        # patients) walks the page's index newest first and probes each request's patient
        # by key; a rare one starts from the patients' index and sorts their few requests.
        # Hidden in an ``id IN (UNION …)`` a common surname had every one of its requests
        # sorted for a page. ``newest_first`` (SQLite, ``_walk_newest_first``) writes the
        # first of these as such: each request's patient by key.
        if newest_first:
            return select(P.id).where(P.id == R.patient_id, or_(*patients)).exists()
        return R.patient_id.in_(select(P.id).where(or_(*patients)).correlate(None))
    found: list[Select[Any]] = [
        select(R.id).where(R.patient_id.in_(select(P.id).where(c))) for c in patients]
    if search.identifier is not None:
        found.extend((
            select(R.id).where(R.appointment_id.in_(
                select(A.id).where(A.external_id == search.identifier))),
            select(R.id).where(R.transaction_id == search.identifier),
            select(R.id).where(R.id == search.identifier)))
    if not found:
        return false()
    # Each reading stands alone: never correlated to the list's own signing_requests.
    alone = [q.correlate(None) for q in found]
    return R.id.in_(union_all(*alone) if len(alone) > 1 else alone[0])


def mismatch_events(db: Session, request_ids: Sequence[str]) -> list[SigningEventRow]:
    """The events that stopped these requests on ``signer_mismatch``, oldest first."""
    return list(db.scalars(select(SigningEventRow).where(
        SigningEventRow.signing_request_id.in_(list(request_ids)),
        SigningEventRow.to_state == SigningState.signer_mismatch.value)
        .order_by(SigningEventRow.id)))


def history(db: Session, request_id: str) -> list[SigningEventRow]:
    return list(db.scalars(select(SigningEventRow)
                           .where(SigningEventRow.signing_request_id == request_id)
                           .order_by(SigningEventRow.id)))
