"""When the day-before invitation goes out, in the medical organisation's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsign.domain.errors import DomainError
from medsign.domain.notifications import notification_time
from medsign.domain.organizations import NO_QUIET_HOURS, QuietHours

NIGHT = QuietHours(time(21, 0), time(9, 0))
DAY = timedelta(days=1)
RUSSIAN_ZONES = [
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Asia/Yekaterinburg",
    "Asia/Vladivostok",
    "Asia/Kamchatka",
]


def local(tz: str, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 6, day, hour, minute, tzinfo=ZoneInfo(tz))


def when(
    start: datetime,
    now: datetime,
    offset: timedelta = DAY,
    quiet: QuietHours = NIGHT,
    min_lead: timedelta = timedelta(hours=1),
) -> datetime | None:
    tz = str(start.tzinfo)
    return notification_time(start, offset, tz, quiet, now, min_lead)


@pytest.mark.parametrize(
    ("tz", "utc_hour", "utc_day"),
    [
        ("Europe/Kaliningrad", 8, 9),
        ("Europe/Moscow", 7, 9),
        ("Asia/Yekaterinburg", 5, 9),
        ("Asia/Vladivostok", 0, 9),
        ("Asia/Kamchatka", 22, 8),
    ],
)
def test_the_invitation_goes_out_a_day_before_in_local_time_and_is_returned_in_utc(
    tz: str, utc_hour: int, utc_day: int
) -> None:
    sent = when(local(tz, 10, 10), now=local(tz, 1, 12))
    assert sent == datetime(2025, 6, utc_day, utc_hour, tzinfo=UTC)
    assert sent is not None and sent.tzinfo is UTC


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_quiet_hours_wrapping_midnight_push_the_message_to_the_morning(tz: str) -> None:
    # 08:00 tomorrow minus a day is 08:00 today, still night: wait until 09:00.
    assert when(local(tz, 10, 8), now=local(tz, 1, 12)) == local(tz, 9, 9)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_late_evening_appointments_are_announced_in_the_evening_before(tz: str) -> None:
    # 21:30 minus a day is inside quiet hours; 21:00 the evening before is half an hour
    # from it, 09:00 the next morning eleven and a half: the evening wins.
    assert when(local(tz, 10, 21, 30), now=local(tz, 1, 12)) == local(tz, 9, 21)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_when_the_morning_is_too_late_the_message_goes_out_the_evening_before(tz: str) -> None:
    # Visit at 09:30 with a 2-hour offset: 07:30 is night, 09:00 leaves less
    # than the one-hour lead, so the last allowed moment is 21:00 the day before.
    sent = when(local(tz, 10, 9, 30), now=local(tz, 9, 12), offset=timedelta(hours=2))
    assert sent == local(tz, 9, 21)


def test_when_no_allowed_moment_is_left_there_is_no_invitation() -> None:
    tz = "Europe/Moscow"
    now = local(tz, 9, 22)  # already night, visit first thing in the morning
    assert when(local(tz, 10, 9, 30), now=now, offset=timedelta(hours=2)) is None


def test_a_late_booking_is_announced_at_once_when_allowed() -> None:
    tz = "Asia/Yekaterinburg"
    now = local(tz, 9, 15, 17)
    assert when(local(tz, 10, 10), now=now) == now


def test_a_late_booking_made_at_night_is_announced_in_the_morning_if_still_in_time() -> None:
    tz = "Asia/Vladivostok"
    # 09:00 leaves exactly the minimal lead before a 10:00 visit: still in time.
    assert when(local(tz, 10, 10), now=local(tz, 9, 23)) == local(tz, 10, 9)


def test_no_invitation_once_the_visit_is_closer_than_the_minimal_lead() -> None:
    tz = "Europe/Kaliningrad"
    assert when(local(tz, 10, 15), now=local(tz, 10, 14, 1)) is None


def test_without_quiet_hours_the_offset_is_applied_exactly() -> None:
    tz = "Asia/Kamchatka"
    assert when(local(tz, 10, 3), now=local(tz, 1, 0), quiet=NO_QUIET_HOURS) == local(tz, 9, 3)


def test_an_offset_shorter_than_the_lead_moves_the_message_back_to_the_deadline() -> None:
    tz = "Europe/Moscow"
    sent = when(local(tz, 10, 15), now=local(tz, 1, 0), offset=timedelta(minutes=30))
    assert sent == local(tz, 10, 14)


@pytest.mark.parametrize("day", [(3, 30), (3, 31), (10, 26), (10, 27)])
def test_moscow_time_keeps_utc_plus_three_all_year_round(day: tuple[int, int]) -> None:
    # The dates around the last Sundays of March and October, when Moscow used
    # to change clocks: a wall-clock day before is always exactly 24 hours.
    month, d = day
    start = datetime(2025, month, d, 10, tzinfo=ZoneInfo("Europe/Moscow"))
    sent = notification_time(start, DAY, "Europe/Moscow", NIGHT, start - 10 * DAY)
    assert sent == datetime(2025, month, d, 7, tzinfo=UTC) - DAY


def test_the_time_zone_of_the_arguments_does_not_matter_only_the_organisations() -> None:
    start = local("Asia/Vladivostok", 10, 10)
    now = local("Asia/Vladivostok", 1, 12)
    in_utc = notification_time(start.astimezone(UTC), DAY, "Asia/Vladivostok", NIGHT, now)
    assert in_utc == local("Asia/Vladivostok", 9, 10)


@pytest.mark.parametrize(
    ("start", "now", "field"),
    [
        (datetime(2025, 6, 10, 10), datetime(2025, 6, 1, tzinfo=UTC), "appointment_start"),
        (datetime(2025, 6, 10, 10, tzinfo=UTC), datetime(2025, 6, 1), "now"),
    ],
)
def test_naive_times_are_refused(start: datetime, now: datetime, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        notification_time(start, DAY, "Europe/Moscow", NIGHT, now)
    assert (caught.value.code, caught.value.field) == ("naive_datetime", field)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        notification_time(
            datetime(2025, 6, 10, tzinfo=UTC),
            DAY,
            "Moscow",
            NIGHT,
            datetime(2025, 6, 1, tzinfo=UTC),
        )
    assert caught.value.code == "invalid_timezone"


def test_a_negative_offset_is_refused() -> None:
    start = datetime(2025, 6, 10, tzinfo=UTC)
    with pytest.raises(DomainError) as caught:
        notification_time(start, -DAY, "Europe/Moscow", NIGHT, start - 5 * DAY)
    assert caught.value.code == "invalid_offset"


@settings(database=None)
@given(
    tz=st.sampled_from(RUSSIAN_ZONES),
    start=st.datetimes(datetime(2024, 1, 1), datetime(2027, 1, 1)),
    ahead=st.timedeltas(timedelta(0), timedelta(days=3)),
    offset=st.timedeltas(timedelta(0), timedelta(days=2)),
    quiet_start=st.times(),
    quiet_end=st.times(),
)
def test_the_chosen_moment_is_never_in_the_past_too_late_or_in_quiet_hours_and_exists_if_any(
    tz: str,
    start: datetime,
    ahead: timedelta,
    offset: timedelta,
    quiet_start: time,
    quiet_end: time,
) -> None:
    appointment_start = start.replace(tzinfo=ZoneInfo(tz))
    now = appointment_start - ahead
    quiet = QuietHours(quiet_start, quiet_end)
    deadline = appointment_start - timedelta(hours=12)
    sent = notification_time(appointment_start, offset, tz, quiet, now)
    if sent is not None:
        assert now <= sent <= deadline
        assert not quiet.contains(sent.astimezone(ZoneInfo(tz)).time())
    else:  # every moment from now to the deadline is quiet (or there are none)
        assert deadline < now or quiet.previous_allowed(deadline.astimezone(ZoneInfo(tz))) < now


# -- the nearest allowed moment, never less than the lead (default 12 h) ---------------------

LEAD = timedelta(hours=12)


def with_lead(start: datetime, now: datetime, offset: timedelta = DAY,
              quiet: QuietHours = NIGHT) -> datetime | None:
    return notification_time(start, offset, str(start.tzinfo), quiet, now)


def test_the_default_lead_is_twelve_hours() -> None:
    tz = "Europe/Moscow"
    # Booked at 09:00 for 21:00 the same day: exactly twelve hours ahead is still in time,
    # a minute later it is not.
    assert with_lead(local(tz, 10, 21), now=local(tz, 10, 9)) == local(tz, 10, 9)
    assert with_lead(local(tz, 10, 21), now=local(tz, 10, 9, 1)) is None


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_late_evening_visit_is_announced_the_evening_before_just_ahead_of_the_quiet_hours(
        tz: str) -> None:
    # 22:30 minus a day is quiet; 21:00 the evening before is 1.5 h from it, 09:00 the same
    # day 10.5 h (and only 13.5 h ahead of the visit): the evening before it is.
    assert with_lead(local(tz, 10, 22, 30), now=local(tz, 1, 12)) == local(tz, 9, 21)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_an_early_morning_visit_is_announced_the_morning_before(tz: str) -> None:
    # 06:00 minus a day is quiet; 09:00 that morning is 3 h away, 21:00 two evenings
    # before 9 h: the morning is nearer.
    assert with_lead(local(tz, 10, 6), now=local(tz, 1, 12)) == local(tz, 9, 9)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_visit_inside_the_quiet_hours_is_announced_at_the_nearer_end_of_them(tz: str) -> None:
    # 23:30 minus a day: the quiet hours began 2.5 h before and end 9.5 h after.
    assert with_lead(local(tz, 10, 23, 30), now=local(tz, 1, 12)) == local(tz, 9, 21)
    # 07:30 minus a day: they end 1.5 h after.
    assert with_lead(local(tz, 10, 7, 30), now=local(tz, 1, 12)) == local(tz, 9, 9)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_at_equal_distance_the_earlier_moment_is_chosen(tz: str) -> None:
    # 03:00 minus a day is six hours from both 21:00 before and 09:00 after.
    assert with_lead(local(tz, 10, 3), now=local(tz, 1, 12)) == local(tz, 8, 21)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_the_earlier_end_is_not_taken_once_it_has_passed(tz: str) -> None:
    # The tie of the test above, planned at 22:00: 21:00 is gone, so 09:00 it is.
    assert with_lead(local(tz, 10, 3), now=local(tz, 8, 22)) == local(tz, 9, 9)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_booking_after_the_due_time_is_announced_at_once_outside_quiet_hours(tz: str) -> None:
    now = local(tz, 9, 15, 17)  # a day before a 10:00 visit has passed already
    assert with_lead(local(tz, 10, 10), now=now) == now


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_booking_made_in_quiet_hours_waits_for_their_end_if_that_leaves_the_lead(
        tz: str) -> None:
    # Booked at 22:00 for 22:00 tomorrow: 09:00 leaves thirteen hours.
    assert with_lead(local(tz, 10, 22), now=local(tz, 9, 22)) == local(tz, 10, 9)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_booking_made_in_quiet_hours_gets_none_when_their_end_leaves_too_little(
        tz: str) -> None:
    # Booked at 23:00 for 19:00 tomorrow: 09:00 leaves ten hours, less than the lead.
    assert with_lead(local(tz, 10, 19), now=local(tz, 9, 23)) is None


def test_a_booking_made_after_midnight_in_quiet_hours_waits_for_the_same_morning() -> None:
    tz = "Asia/Kamchatka"
    assert with_lead(local(tz, 10, 23), now=local(tz, 10, 2)) == local(tz, 10, 9)


def test_an_offset_shorter_than_the_lead_is_held_back_to_the_lead() -> None:
    tz = "Asia/Yekaterinburg"
    # Visit 22:00 with a 2-hour offset: 20:00 would leave too little; 10:00 leaves the lead.
    sent = with_lead(local(tz, 10, 22), now=local(tz, 1, 12), offset=timedelta(hours=2))
    assert sent == local(tz, 10, 10)


def test_an_offset_shorter_than_the_lead_with_the_lead_in_quiet_hours_goes_earlier() -> None:
    tz = "Europe/Kaliningrad"
    # Visit 15:00, lead 12 h: the latest moment allowed is 03:00, quiet; the last allowed
    # moment before it is 21:00 the evening before.
    sent = with_lead(local(tz, 10, 15), now=local(tz, 1, 12), offset=timedelta(hours=2))
    assert sent == local(tz, 9, 21)


def test_quiet_hours_within_one_day_work_the_same_way() -> None:
    tz = "Asia/Vladivostok"
    lunch = QuietHours(time(13, 0), time(15, 0))
    assert with_lead(local(tz, 10, 13, 30), now=local(tz, 1, 12), quiet=lunch) == \
        local(tz, 9, 13)
    assert with_lead(local(tz, 10, 14, 30), now=local(tz, 1, 12), quiet=lunch) == \
        local(tz, 9, 15)


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_visit_moved_later_is_announced_at_its_new_due_time(tz: str) -> None:
    first = with_lead(local(tz, 10, 14), now=local(tz, 1, 12))
    moved = with_lead(local(tz, 12, 22, 30), now=local(tz, 9, 16))
    assert (first, moved) == (local(tz, 9, 14), local(tz, 11, 21))


@pytest.mark.parametrize("tz", RUSSIAN_ZONES)
def test_a_visit_moved_sooner_is_announced_at_once_or_not_at_all(tz: str) -> None:
    # Told on the 9th at 14:00 about the 10th at 14:00; moved at 16:00 to the 10th at 08:00:
    # the new due time has passed and sixteen hours are left, so at once.
    assert with_lead(local(tz, 10, 8), now=local(tz, 9, 16)) == local(tz, 9, 16)
    # Moved at 20:30 to 07:00 the next morning: 10.5 h is less than the lead.
    assert with_lead(local(tz, 10, 7), now=local(tz, 9, 20, 30)) is None


@pytest.mark.parametrize(
    ("tz", "utc"),
    [
        ("Europe/Kaliningrad", datetime(2025, 6, 9, 19, tzinfo=UTC)),
        ("Europe/Moscow", datetime(2025, 6, 9, 18, tzinfo=UTC)),
        ("Asia/Yekaterinburg", datetime(2025, 6, 9, 16, tzinfo=UTC)),
        ("Asia/Vladivostok", datetime(2025, 6, 9, 11, tzinfo=UTC)),
        ("Asia/Kamchatka", datetime(2025, 6, 9, 9, tzinfo=UTC)),
    ],
)
def test_the_evening_before_is_the_organisations_evening(tz: str, utc: datetime) -> None:
    # The same 22:30 visit given in UTC: 21:00 local the day before, whatever the zone.
    start = local(tz, 10, 22, 30).astimezone(UTC)
    assert notification_time(start, DAY, tz, NIGHT, datetime(2025, 6, 1, tzinfo=UTC)) == utc


def brute_force(start: datetime, offset: timedelta, tz: str, quiet: QuietHours,
                now: datetime, lead: timedelta) -> datetime | None:
    """Every whole minute from now to the deadline, the allowed one nearest the due time."""
    due, moment, best = start - offset, now, None
    while moment <= start - lead:
        if not quiet.contains(moment.astimezone(ZoneInfo(tz)).time()) and (
                best is None or abs(moment - due) < abs(best - due)):
            best = moment
        moment += timedelta(minutes=1)
    return best


def minutes(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda m: timedelta(minutes=m))


@settings(database=None, max_examples=60, deadline=None)
@given(
    tz=st.sampled_from(RUSSIAN_ZONES),
    start=st.datetimes(datetime(2024, 1, 1), datetime(2027, 1, 1)).map(
        lambda d: d.replace(second=0, microsecond=0)),
    ahead=minutes(0, 2 * 24 * 60),
    offset=minutes(0, 36 * 60),
    lead=minutes(0, 14 * 60),
    quiet_start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    quiet_end=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_the_chosen_moment_is_the_allowed_minute_nearest_to_the_due_time(
    tz: str, start: datetime, ahead: timedelta, offset: timedelta, lead: timedelta,
    quiet_start: time, quiet_end: time,
) -> None:
    appointment_start = start.replace(tzinfo=ZoneInfo(tz))
    now = appointment_start - ahead
    quiet = QuietHours(quiet_start, quiet_end)
    sent = notification_time(appointment_start, offset, tz, quiet, now, lead)
    assert sent == brute_force(appointment_start, offset, tz, quiet, now, lead)
