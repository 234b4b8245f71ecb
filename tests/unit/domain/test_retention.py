"""Which backup sets retention keeps: the newest of each recent day, week and month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medsign.domain.retention import kept

START = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # a Thursday


def daily_sets(days: int) -> list[datetime]:
    return [START + timedelta(days=n) for n in range(days)]


def test_the_last_days_weeks_and_months_each_keep_their_newest_set() -> None:
    stamps = daily_sets(400)
    keep = {stamps[i].date() for i in kept(stamps, daily=7, weekly=4, monthly=12)}
    newest = stamps[-1].date()
    days = {newest - timedelta(days=n) for n in range(7)}
    assert days <= keep
    # the newest set of each of the 4 latest ISO weeks, and of each of the 12 latest months
    weeks = {max(d.date() for d in stamps if d.isocalendar()[:2] == w)
             for w in sorted({d.isocalendar()[:2] for d in stamps})[-4:]}
    months = {max(d.date() for d in stamps if (d.year, d.month) == m)
              for m in sorted({(d.year, d.month) for d in stamps})[-12:]}
    assert weeks <= keep and months <= keep
    assert keep == days | weeks | months


def test_several_sets_a_day_keep_only_the_newest_of_the_day() -> None:
    stamps = [START, START + timedelta(hours=6), START + timedelta(hours=12)]
    assert kept(stamps, daily=1, weekly=0, monthly=0) == {2}


def test_the_newest_set_is_kept_whatever_the_counts() -> None:
    stamps = daily_sets(3)
    assert kept(stamps, daily=0, weekly=0, monthly=0) == {2}
    assert kept([], daily=7, weekly=4, monthly=12) == set()


def test_periods_without_sets_do_not_use_up_slots() -> None:
    # a set in each of January, March and June: three monthly slots cover all three
    stamps = [datetime(2026, m, 10, tzinfo=UTC) for m in (1, 3, 6)]
    assert kept(stamps, daily=0, weekly=0, monthly=3) == {0, 1, 2}
    assert kept(stamps, daily=0, weekly=0, monthly=2) == {1, 2}


def test_the_order_given_does_not_matter() -> None:
    stamps = daily_sets(30)
    shuffled = stamps[::-1]
    a = {stamps[i] for i in kept(stamps, daily=3, weekly=2, monthly=1)}
    b = {shuffled[i] for i in kept(shuffled, daily=3, weekly=2, monthly=1)}
    assert a == b
