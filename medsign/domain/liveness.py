"""Which ``serve`` and ``worker`` processes of an installation are alive, and how to say so.

Every such process keeps a row in ``service_processes`` and refreshes its ``heartbeat_at``
every :data:`HEARTBEAT_INTERVAL`. A row whose heartbeat is newer than :data:`LIVE_WITHIN` is
live: three missed heartbeats in a row (a process killed without a clean stop, a machine that
lost its power) and the row is stale. ``restore`` refuses to overwrite a database with live
rows; a stale one is left over and ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

HEARTBEAT_INTERVAL = timedelta(seconds=10)
LIVE_WITHIN = timedelta(seconds=30)

KIND_NAMES = {"serve": "веб-сервис (serve)", "worker": "обработчик (worker)"}


@dataclass(frozen=True)
class ProcessRecord:
    kind: str
    host: str
    pid: int
    heartbeat_at: datetime


def is_live(heartbeat_at: datetime, now: datetime) -> bool:
    """A heartbeat newer than LIVE_WITHIN (a clock a little ahead on another host counts)."""
    return now - heartbeat_at < LIVE_WITHIN


def live(records: Iterable[ProcessRecord], now: datetime) -> list[ProcessRecord]:
    return sorted((r for r in records if is_live(r.heartbeat_at, now)),
                  key=lambda r: (r.kind, r.host, r.pid))


def ago(delta: timedelta) -> str:
    """How long ago, in Russian words: «только что», «12 с назад», «3 мин назад»."""
    seconds = int(delta.total_seconds())
    if seconds < 1:
        return "только что"
    if seconds < 60:
        return f"{seconds} с назад"
    if seconds < 3600:
        return f"{seconds // 60} мин назад"
    return f"{seconds // 3600} ч назад"


def describe(record: ProcessRecord, now: datetime) -> str:
    kind = KIND_NAMES.get(record.kind, record.kind)
    return (f"{kind} на {record.host}, pid {record.pid}, последний сигнал "
            f"{ago(now - record.heartbeat_at)}")


def refusal(records: Iterable[ProcessRecord], now: datetime) -> str:
    """What ``restore`` tells when live processes use the database ("" when none do)."""
    found = live(records, now)
    if not found:
        return ""
    lines = "\n".join(f"  • {describe(r, now)}" for r in found)
    return ("Базой данных пользуются работающие процессы medsign:\n" + lines + "\n"
            "Остановите их (systemctl stop medsign.target) и повторите. Если процесс точно "
            "остановлен (например, машина выключена), а отметка ещё свежа, подождите "
            f"{int(LIVE_WITHIN.total_seconds())} с или запустите restore с --force.")
