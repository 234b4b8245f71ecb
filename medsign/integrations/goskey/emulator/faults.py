"""Misbehaviour on demand: injected faults, a rate limit and the autopilot patient.

Random choices come from seeded generators, so a test that gives a ``seed`` sees the same
sequence of faults and decisions on every run (for the same order of calls).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from medsign.integrations.goskey.emulator.validation import ValidationFailed

METHODS = ("send", "status", "download", "upload", "complete")
DROP, TOO_MANY, SERVER_ERROR = "drop", "429", "5xx"
# The platform acts on the call, then the connection drops before the answer: the lost answer
# that idempotency keys exist for (a plain ``drop`` happens before the platform sees the call).
DROP_AFTER = "drop_after"
# The call waits ``timeout_s`` before the platform acts on it, then is answered: a client with a
# shorter timeout has given up, and its retry may overtake the original, which still acts.
TIMEOUT = "timeout"
_RATES = ("drop_rate", "rate_429", "error_5xx_rate", "drop_after_rate", "timeout_rate")


@dataclass
class Fault:
    latency_ms: float = 0.0
    error_5xx_rate: float = 0.0
    rate_429: float = 0.0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 10.0
    corrupt_archive: bool = False
    bad_operator_signature: bool = False
    retry_after_s: float = 1.0
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def roll(self) -> str | None:
        """One draw decides the call's fate: dropped, 429, 5xx, answer lost, held past the
        client's timeout, or served."""
        if not any(getattr(self, name) for name in _RATES):
            return None
        draw = self.rng.random()
        for outcome, rate in ((DROP, self.drop_rate), (TOO_MANY, self.rate_429),
                              (SERVER_ERROR, self.error_5xx_rate),
                              (DROP_AFTER, self.drop_after_rate),
                              (TIMEOUT, self.timeout_rate)):
            if draw < rate:
                return outcome
            draw -= rate
        return None

    def describe(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if name != "rng"}


def parse_fault(body: Any) -> tuple[str, Fault]:
    if not isinstance(body, dict):
        raise ValidationFailed("body: expected an object")
    method = body.get("method", "*")
    if method not in (*METHODS, "*"):
        raise ValidationFailed(f"method: one of {', '.join(METHODS)} or *")
    fault = Fault(latency_ms=_number(body, "latency_ms", upper=600_000),
                  corrupt_archive=bool(body.get("corrupt_archive", False)),
                  bad_operator_signature=bool(body.get("bad_operator_signature", False)),
                  retry_after_s=_number(body, "retry_after_s", upper=3600, default=1.0),
                  timeout_s=_number(body, "timeout_s", upper=600, default=10.0),
                  seed=_seed(body))
    for name in _RATES:
        setattr(fault, name, _number(body, name, upper=1.0))
    if sum(getattr(fault, name) for name in _RATES) > 1:
        raise ValidationFailed("drop_rate + rate_429 + error_5xx_rate + drop_after_rate + "
                               "timeout_rate must not exceed 1")
    fault.rng = random.Random(fault.seed)
    return method, fault


class Faults:
    def __init__(self) -> None:
        self._by_method: dict[str, Fault] = {}

    def set(self, method: str, fault: Fault) -> None:
        self._by_method[method] = fault

    def clear(self) -> None:
        self._by_method.clear()

    def get(self, method: str) -> Fault | None:
        return self._by_method.get(method) or self._by_method.get("*")

    def describe(self) -> dict[str, Any]:
        return {method: fault.describe() for method, fault in self._by_method.items()}


class RateLimiter:
    """A token bucket holding at most one second's worth of calls."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._tokens = max(1.0, per_second)
        self._at = time.monotonic()

    def take(self) -> float | None:
        """``None`` when the call may pass, else the seconds to wait."""
        now = time.monotonic()
        capacity = max(1.0, self.per_second)
        self._tokens = min(capacity, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self.per_second


@dataclass
class Autopilot:
    """Plays the patient for load tests: after ``after_polls`` status calls on a transaction
    it decides once — ``sign``, ``refuse`` or ``ignore`` — by the given weights."""

    sign: float
    refuse: float
    ignore: float
    after_polls: int
    seed: int
    rng: random.Random = field(repr=False, default_factory=random.Random)

    def decide(self) -> str:
        draw = self.rng.random() * (self.sign + self.refuse + self.ignore)
        if draw < self.sign:
            return "sign"
        return "refuse" if draw < self.sign + self.refuse else "ignore"

    def describe(self) -> dict[str, Any]:
        return {"sign": self.sign, "refuse": self.refuse, "ignore": self.ignore,
                "after_polls": self.after_polls, "seed": self.seed}


def parse_autopilot(body: Any) -> Autopilot:
    if not isinstance(body, dict):
        raise ValidationFailed("body: expected an object")
    weights = [_number(body, name, upper=math.inf) for name in ("sign", "refuse", "ignore")]
    if sum(weights) <= 0:
        raise ValidationFailed("sign + refuse + ignore must be positive")
    after = body.get("after_polls", 1)
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise ValidationFailed("after_polls: expected a whole number >= 0")
    seed = _seed(body) or 0
    sign, refuse, ignore = weights
    return Autopilot(sign, refuse, ignore, after_polls=after, seed=seed,
                     rng=random.Random(seed))


def retry_after_header(seconds: float) -> str:
    return str(math.ceil(seconds))


def _number(body: dict[str, Any], name: str, *, upper: float, default: float = 0.0) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise ValidationFailed(f"{name}: expected a number from 0 to {upper}")
    return float(value)


def _seed(body: dict[str, Any]) -> int | None:
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValidationFailed("seed: expected a whole number")
    return seed
