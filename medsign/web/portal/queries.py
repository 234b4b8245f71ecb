"""What the patient's pages show (app «К врачу» and portal): each patient of the account with
their appointments, drawn from the doctor's cards, and what the patient may do about each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsign.accounts import portal
from medsign.db.models import AppointmentRow
from medsign.domain.consents import ConsentState, SigningMethod
from medsign.domain.patient_choice import may_choose
from medsign.domain.signing import ACTIVE_STATES, SigningState
from medsign.records.patients import full_name
from medsign.web.doctor import queries as doctor


@dataclass(frozen=True)
class Visit:
    """One appointment as the patient sees it."""

    card: doctor.Card

    @property
    def can_choose(self) -> bool:
        """«Подписать онлайн» and «Подпишу в клинике» are offered."""
        c = self.card
        return may_choose(
            scheduled=c.status == "scheduled",
            pending_electronic=any(x.method == SigningMethod.electronic
                                   and x.state == ConsentState.pending for x in c.consents),
            signing_open=c.request is not None and c.request.active)

    @property
    def moving(self) -> bool:
        """Online signing is under way: the page refreshes itself."""
        return self.card.request is not None and \
            SigningState(self.card.request.state) in ACTIVE_STATES

    @property
    def in_goskey(self) -> bool:
        """The documents wait for the patient's signature in Госключ."""
        return self.card.request is not None and self.card.request.state == SigningState.sent


@dataclass(frozen=True)
class PatientDocuments:
    organization_code: str
    organization_name: str
    patient_name: str
    patient_id: str
    max_link: str
    max_link_title: str
    visits: list[Visit]

    @property
    def cards(self) -> list[doctor.Card]:
        return [v.card for v in self.visits]


def documents(db: Session, *, account_id: int, now: datetime,
              history: timedelta = timedelta(days=180),
              upcoming: bool = False) -> list[PatientDocuments]:
    """Each of the account's patients with appointments from ``history`` ago onwards, newest
    first; ``upcoming``: from the start of today (in the МО's time zone) on, soonest first."""
    found = []
    for patient, org in portal.patients_of(db, account_id):
        tz = ZoneInfo(org.timezone)
        query = select(AppointmentRow).where(AppointmentRow.patient_id == patient.id)
        if upcoming:
            today = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tz)
            query = query.where(AppointmentRow.starts_at >= today).order_by(
                AppointmentRow.starts_at, AppointmentRow.id)
        else:
            query = query.where(AppointmentRow.starts_at >= now - history).order_by(
                AppointmentRow.starts_at.desc(), AppointmentRow.id.desc())
        appts = db.scalars(query.limit(50))
        link, link_title = doctor.max_link(patient)
        cards = doctor.cards(db, [(a, patient) for a in appts], tz, org.code)
        found.append(PatientDocuments(org.code, org.name, full_name(patient),
                                      patient.external_id, link, link_title,
                                      [Visit(c) for c in cards]))
    return found


def moving(people: list[PatientDocuments]) -> bool:
    """Whether any online signing shown is under way (the page keeps refreshing)."""
    return any(v.moving for p in people for v in p.visits)
