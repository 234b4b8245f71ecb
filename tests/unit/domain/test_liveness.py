"""A process is live while its heartbeat is fresh; what restore tells about the live ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medsign.domain.liveness import (
    HEARTBEAT_INTERVAL,
    LIVE_WITHIN,
    ProcessRecord,
    ago,
    is_live,
    live,
    refusal,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def record(kind: str, seconds_ago: float, pid: int = 100) -> ProcessRecord:
    return ProcessRecord(kind, "db1", pid, NOW - timedelta(seconds=seconds_ago))


def test_three_missed_heartbeats_make_a_row_stale() -> None:
    assert LIVE_WITHIN == 3 * HEARTBEAT_INTERVAL
    assert is_live(NOW - HEARTBEAT_INTERVAL, NOW)
    assert is_live(NOW - LIVE_WITHIN + timedelta(seconds=1), NOW)
    assert not is_live(NOW - LIVE_WITHIN, NOW)
    assert is_live(NOW + timedelta(seconds=5), NOW)  # another host's clock a little ahead


def test_only_live_rows_are_told_each_with_kind_host_pid_and_age() -> None:
    rows = [record("worker", 12, pid=7), record("serve", 3600, pid=8), record("serve", 0, 9)]
    assert [r.pid for r in live(rows, NOW)] == [9, 7]
    said = refusal(rows, NOW)
    assert "веб-сервис (serve) на db1, pid 9, последний сигнал только что" in said
    assert "обработчик (worker) на db1, pid 7, последний сигнал 12 с назад" in said
    assert "pid 8" not in said and "--force" in said


def test_nothing_to_refuse_without_live_rows() -> None:
    assert refusal([record("worker", 31)], NOW) == ""
    assert refusal([], NOW) == ""


def test_ages_in_words() -> None:
    assert ago(timedelta(seconds=0.4)) == "только что"
    assert ago(timedelta(seconds=59)) == "59 с назад"
    assert ago(timedelta(minutes=3, seconds=5)) == "3 мин назад"
    assert ago(timedelta(hours=2)) == "2 ч назад"
