"""What the MAX emulator can be told when it is built (and, partly, at run time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import httpx

HOUR = 3600.0
# Knobs ``POST /_emulator/config`` may change while the emulator runs.
RUNTIME_KNOBS = frozenset({
    "rate_limit_rps", "rate_limit_chat_messages_per_s", "rate_limit_chat_answers_per_s",
    "rate_limit_poll_rps", "webhook_time_scale", "insecure_webhooks", "poll_timeout_cap_s",
    "upload_not_ready_s", "upload_max_bytes",
})


@dataclass(frozen=True)
class EmulatorConfig:
    """``token``: the bot token expected raw in ``Authorization``.

    Bot: ``bot_user_id``, ``bot_username`` (deep links ``https://max.ru/<username>?start=…``),
    ``bot_name``.
    ``state_dir``: keep users, messages, pending updates and subscriptions in
    ``max-emulator.json`` there, so a restarted emulator goes on where it stopped.
    Rate limits (``None`` lifts one): ``rate_limit_rps`` per token over all methods,
    ``rate_limit_chat_messages_per_s`` for ``POST /messages`` per chat,
    ``rate_limit_chat_answers_per_s`` for ``POST /answers`` per chat, ``rate_limit_poll_rps``
    for ``GET /updates`` (reported 2 rps on the real platform; off by default).
    Webhooks: ``insecure_webhooks`` accepts ``http://`` URLs and any port (the platform wants
    https on 443); the retry schedule (``webhook_first_retry_s`` × ``webhook_retry_factor``ⁿ,
    at most ``webhook_max_retries``, unsubscribe after ``webhook_give_up_s`` without success)
    is multiplied by ``webhook_time_scale``; ``webhook_timeout_s`` is not scaled.
    ``webhook_transport`` delivers webhooks in-process (tests).
    Long polling: ``max_batch`` updates at most per answer; ``poll_timeout_cap_s`` caps the
    hold (``None``: the requested ``timeout``); updates older than ``update_ttl_s`` are dropped.
    ``edit_age_limit_s``: a dialog message without a keyboard cannot be edited after this.
    ``deep_link_payload_limit``: longer ``start`` payloads reach the bot as ``null``.
    Files (``uploads``): an uploaded file can be attached ``upload_not_ready_s`` after its
    upload (before that ``400 attachment.not.ready``; ``None``: at once); files larger than
    ``upload_max_bytes`` are refused (the platform: 4 GB).
    ``clock``: seconds since the epoch (tests may move time).
    """

    token: str
    bot_user_id: int = 80_504_313
    bot_username: str = "medsign_demo_bot"
    bot_name: str = "МедПодпись (эмулятор)"
    state_dir: Path | None = None
    rate_limit_rps: float | None = 30.0
    rate_limit_chat_messages_per_s: float | None = 2.0
    rate_limit_chat_answers_per_s: float | None = 2.0
    rate_limit_poll_rps: float | None = None
    insecure_webhooks: bool = False
    webhook_time_scale: float = 1.0
    webhook_first_retry_s: float = 60.0
    webhook_retry_factor: float = 2.5
    webhook_max_retries: int = 10
    webhook_give_up_s: float = 8 * HOUR
    webhook_timeout_s: float = 30.0
    webhook_transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False)
    max_batch: int = 100
    poll_timeout_cap_s: float | None = None
    update_ttl_s: float = 24 * HOUR
    edit_age_limit_s: float = 7 * 24 * HOUR
    deep_link_payload_limit: int = 128
    upload_not_ready_s: float | None = 1.0
    upload_max_bytes: int = 4 * 1024 ** 3
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def retry_delays(self) -> list[float]:
        """Seconds to wait before each webhook retry (already scaled)."""
        scale = self.webhook_time_scale
        return [self.webhook_first_retry_s * self.webhook_retry_factor ** n * scale
                for n in range(self.webhook_max_retries)]

    def with_runtime_changes(self, changes: dict[str, Any]) -> EmulatorConfig:
        unknown = set(changes) - RUNTIME_KNOBS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} at run time")
        for name, value in changes.items():
            _check_knob(name, value)
        return replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        hidden = {"token", "clock", "webhook_transport", "state_dir"}
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        shown["state_dir"] = str(self.state_dir) if self.state_dir else None
        return shown


def _check_knob(name: str, value: Any) -> None:
    if name == "insecure_webhooks":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: must be true or false")
        return
    nullable = name not in ("webhook_time_scale", "upload_max_bytes")
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name}: must be a positive number" + (" or null" if nullable else ""))
