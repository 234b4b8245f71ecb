"""A transaction needs an operator when it failed or stalled."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from medsign.domain.alerts import (
    AlertFacts,
    AlertKind,
    alert_mail,
    alert_of,
    recipients,
    stalled_before,
)
from medsign.domain.signing import ACTIVE_STATES, SigningState

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PERIOD = timedelta(minutes=30)


def test_a_failed_request_alerts_whatever_its_age() -> None:
    assert alert_of(SigningState.failed, last_progress=NOW, scheduled=False, now=NOW,
                    stall_after=PERIOD) is AlertKind.failed


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_an_active_request_stalls_after_the_period_without_progress(state: SigningState) -> None:
    def alert(progress: datetime) -> AlertKind | None:
        return alert_of(state, last_progress=progress, scheduled=True, now=NOW,
                        stall_after=PERIOD)
    assert alert(NOW - PERIOD + timedelta(seconds=1)) is None
    assert alert(NOW - PERIOD) is None  # exactly the period: not yet
    assert alert(NOW - PERIOD - timedelta(seconds=1)) is AlertKind.stalled


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_an_active_request_nobody_will_run_has_stalled(state: SigningState) -> None:
    for progress in (None, NOW):
        assert alert_of(state, last_progress=progress, scheduled=False, now=NOW,
                        stall_after=PERIOD) is AlertKind.stalled


@pytest.mark.parametrize("state", sorted(set(SigningState) - ACTIVE_STATES - {SigningState.failed}))
def test_a_finished_or_stopped_request_raises_nothing(state: SigningState) -> None:
    assert alert_of(state, last_progress=None, scheduled=False, now=NOW,
                    stall_after=PERIOD) is None


def test_the_cutoff_is_the_period_before_now() -> None:
    assert stalled_before(NOW, PERIOD) == NOW - PERIOD


FACTS = AlertFacts(request_id="r-1", organization_name="Поликлиника № 1",
                   patient_name="Иванова Мария Петровна",
                   appointment_local=datetime(2026, 3, 10, 17, 30,
                                              tzinfo=timezone(timedelta(hours=3))),
                   state_title="ошибка", reason="платформа: 500")


def test_recipients_are_the_organisations_then_everyones_each_once() -> None:
    emails = {"*": ["ops@region.example", "duty@mo1.example "],
              "mo-1": ["Duty@MO1.example", "head@mo1.example"]}
    assert recipients(emails, "mo-1") == ["Duty@MO1.example", "head@mo1.example",
                                          "ops@region.example"]
    assert recipients(emails, "mo-2") == ["ops@region.example", "duty@mo1.example"]
    assert recipients({"mo-1": ["a@b.example"]}, "mo-2") == []


def test_the_failure_mail_names_everything_an_operator_needs() -> None:
    subject, body = alert_mail(AlertKind.failed, FACTS, console_url="https://ms.example/")
    assert subject == "medsign: транзакция подписания — ошибка"
    assert body.splitlines() == [
        "Транзакция подписания завершилась ошибкой.", "",
        "МО: Поликлиника № 1", "Пациент: Иванова Мария Петровна",
        "Приём: 10.03.2026 17:30 (время МО)", "Состояние: ошибка",
        "Последняя ошибка: платформа: 500", "",
        "Открыть в консоли: https://ms.example/console/requests/r-1"]


def test_the_stall_mail_has_no_error_line_when_there_is_none() -> None:
    subject, body = alert_mail(AlertKind.stalled, replace(FACTS, reason=None,
                                                          state_title="ожидает подписи пациента"),
                               console_url="https://ms.example")
    assert subject == "medsign: транзакция подписания — зависла"
    assert "зависла" in body.splitlines()[0] and "Последняя ошибка" not in body
    assert "Состояние: ожидает подписи пациента" in body
    assert body.endswith("https://ms.example/console/requests/r-1\n")
