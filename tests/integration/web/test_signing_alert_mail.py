"""The operators' e-mail about failed and stalled transactions (``[console] alert_emails``):
the standing flow queues one mail per recipient, the runner sends it through a real SMTP
server (aiosmtpd on a local port), and a marker keeps each alert from being mailed twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from medsign.clock import FakeClock
from medsign.config import ConsoleSettings
from medsign.db.models import SigningAlertMailRow, SigningUnattendedRow, WorkItemRow
from medsign.integrations.smtp import SmtpSender, SmtpServer
from medsign.mail import outbox
from medsign.mail.flow import MailFlow
from medsign.runner import store
from medsign.runner.worker import RunnerConfig, Worker
from medsign.signing.alert_mail.flow import KIND, STEP, AlertMailFlow
from tests.integration.web import stand
from tests.smtp import Inbox, smtp_server

EMAILS = {"*": ["ops@region.example"], "mo2": ["duty@mo2.example", "OPS@region.example"]}


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as box:
        yield box


def run_pass(engine: Engine, clock: FakeClock, inbox: Inbox,
             alert_emails: dict[str, list[str]], *, mail_enabled: bool = True) -> None:
    """The worker runs the alert flow and sends what it queued, until nothing is due."""
    with engine.begin() as conn:
        store.ensure_singleton(conn, name=KIND, kind=KIND, step=STEP, now=clock.now())
    alerts = AlertMailFlow(ConsoleSettings(alert_emails=alert_emails),  # type: ignore[arg-type]
                           mail_enabled=mail_enabled, console_url="https://medsign.example/",
                           clock=clock)
    server = SmtpServer(host="127.0.0.1", port=inbox.port, starttls=False, ssl=False,
                        username="", password="", timeout=5)
    mail = MailFlow(SmtpSender(server), from_address="medsign <noreply@example.ru>",
                    clock=clock)
    worker = Worker(engine, [alerts, mail], RunnerConfig(max_attempts=2), clock=clock)
    asyncio.run(worker.run(asyncio.Event(), until_idle=True))


def queued_mails(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(WorkItemRow)
                             .where(WorkItemRow.kind == outbox.KIND)) or 0)


def test_a_failed_request_is_mailed_once_to_each_recipient(
        seeded: stand.Seeded, engine: Engine, clock: FakeClock, inbox: Inbox) -> None:
    request_id = stand.start_signing(engine, seeded.today_mo2, clock.now())
    stand.fail(engine, request_id, clock.now())
    run_pass(engine, clock, inbox, EMAILS)
    # the МО's own list first, then "*": one mail per address, whatever its case
    assert sorted(m["To"] for m in inbox.messages) == ["OPS@region.example",
                                                       "duty@mo2.example"]
    message = inbox.to("duty@mo2.example")[0]
    assert message["Subject"] == "medsign: транзакция подписания — ошибка"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "МО: Поликлиника mo2" in body
    assert "Пациент: Кузнецова Ольга" in body
    # 3 hours after the seed's clock, in Yekaterinburg (UTC+5)
    starts = (clock.now() + timedelta(hours=3 + 5)).strftime("%d.%m.%Y %H:%M")
    assert f"Приём: {starts} (время МО)" in body
    assert "Состояние: ошибка" in body
    assert "Последняя ошибка: платформа: 500" in body
    assert f"https://medsign.example/console/requests/{request_id}" in body
    # the pass again, later and after a restart: the marker holds, nothing more is sent
    clock.advance(timedelta(hours=2))
    run_pass(engine, clock, inbox, EMAILS)
    assert len(inbox.messages) == 2
    assert queued_mails(engine) == 2
    with Session(engine) as db:
        marks = db.execute(select(SigningAlertMailRow.request_id, SigningAlertMailRow.kind)).all()
    assert [tuple(m) for m in marks] == [(request_id, "failed")]


def test_a_stalled_request_is_mailed_after_stall_after(
        seeded: stand.Seeded, engine: Engine, clock: FakeClock, inbox: Inbox) -> None:
    stand.start_signing(engine, seeded.today_mo1, clock.now())
    run_pass(engine, clock, inbox, EMAILS)
    assert inbox.messages == []  # still on its way
    clock.advance(timedelta(minutes=31))  # [console] stall_after: 30 minutes
    run_pass(engine, clock, inbox, EMAILS)
    # mo1 has no list of its own: only "*"
    assert [m["To"] for m in inbox.messages] == ["ops@region.example"]
    assert inbox.messages[0]["Subject"] == "medsign: транзакция подписания — зависла"
    body = inbox.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Пациент: Иванова Мария Петровна" in body and "Последняя ошибка" not in body
    assert "Состояние: готовится к отправке" in body


def test_only_the_listed_organisations_are_mailed_without_a_star(
        seeded: stand.Seeded, engine: Engine, clock: FakeClock, inbox: Inbox) -> None:
    for aid in (seeded.today_mo1, seeded.today_mo2):
        stand.fail(engine, stand.start_signing(engine, aid, clock.now()), clock.now())
    run_pass(engine, clock, inbox, {"mo1": ["duty@mo1.example"]})
    assert [m["To"] for m in inbox.messages] == ["duty@mo1.example"]
    assert "Поликлиника mo1" in inbox.messages[0].get_body(  # type: ignore[union-attr]
        ("plain",)).get_content()


@pytest.mark.parametrize(("emails", "enabled"), [({}, True), (EMAILS, False)])
def test_nothing_is_queued_without_alert_emails_or_email(
        seeded: stand.Seeded, engine: Engine, clock: FakeClock, inbox: Inbox,
        emails: dict[str, list[str]], enabled: bool) -> None:
    stand.fail(engine, stand.start_signing(engine, seeded.today_mo1, clock.now()), clock.now())
    run_pass(engine, clock, inbox, emails, mail_enabled=enabled)
    assert queued_mails(engine) == 0 and inbox.messages == []
    with Session(engine) as db:  # nothing marked: mail turned on later still reports it
        assert db.scalar(select(func.count()).select_from(SigningAlertMailRow)) == 0


def _leave_unattended(engine: Engine, request_id: str) -> None:
    """The request stays active, but its runner item ended: nothing will move it."""
    with engine.begin() as conn:
        conn.execute(update(WorkItemRow).where(WorkItemRow.ref == request_id)
                     .values(status=store.DONE, next_run_at=None))


def _unattended(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return list(db.scalars(select(SigningUnattendedRow.request_id)))


@pytest.mark.parametrize(("emails", "enabled"), [({}, True), (EMAILS, False), (EMAILS, True)])
def test_the_scan_finds_a_request_nothing_will_move_with_or_without_mail(
        seeded: stand.Seeded, engine: Engine, clock: FakeClock, inbox: Inbox,
        emails: dict[str, list[str]], enabled: bool) -> None:
    moving = stand.start_signing(engine, seeded.today_mo2, clock.now())
    left = stand.start_signing(engine, seeded.today_mo1, clock.now())
    _leave_unattended(engine, left)
    run_pass(engine, clock, inbox, emails, mail_enabled=enabled)
    assert _unattended(engine) == [left] and moving != left
    # stalled at once, without waiting for stall_after: nothing will ever move it
    assert [m["Subject"] for m in inbox.messages] == (
        ["medsign: транзакция подписания — зависла"] if enabled and emails else [])
    # moved again (an operator's hand, a reconciliation): the next scan lets it go
    with engine.begin() as conn:
        conn.execute(update(WorkItemRow).where(WorkItemRow.ref == left)
                     .values(status=store.SCHEDULED, next_run_at=clock.now() + timedelta(days=1),
                             updated_at=clock.now()))
    clock.advance(timedelta(minutes=1))
    run_pass(engine, clock, inbox, emails, mail_enabled=enabled)
    assert _unattended(engine) == []
