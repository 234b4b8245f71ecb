"""Login limits as a growing delay, never a lock, and whose address a request comes from.

A hard lock after N failures hands an attacker who knows a login a way to keep its owner out.
Here failures only make the *next* attempt wait: the first ``free`` failures cost nothing, then
each further one doubles the wait (``base``, 2×``base``, …) up to ``cap``. An attempt made
during the wait is answered at once ("try again in N minutes") without checking the password
and without counting, so the owner can always log in once the wait is over, while an attacker
gets at most about one guess per ``cap`` (see :func:`attempts_per_day`). A count with no
failure for ``forget`` starts over; a success clears the account's count.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class DelayRule:
    free: int  # failures that cost no wait
    base: timedelta  # the wait after the first costly failure; doubles with each next one
    cap: timedelta  # the longest wait
    forget: timedelta  # a count untouched this long starts over

    def delay(self, failures: int) -> timedelta:
        """How long the next attempt waits after ``failures`` failures in a row."""
        if failures < self.free:
            return timedelta(0)
        doublings = min(failures - self.free, 40)  # 2**40 × base is far beyond any cap
        grown: timedelta = self.base * (1 << doublings)
        return min(grown, self.cap)


# One account (a login name or its e-mail): a person mistyping gets five tries for free.
PER_ACCOUNT = DelayRule(free=5, base=timedelta(seconds=2), cap=timedelta(minutes=15),
                        forget=timedelta(days=1))
# One address per realm: a whole clinic may sit behind one NAT, hence more room and a shorter
# memory; it bounds one address spraying passwords over many accounts.
PER_ADDRESS = DelayRule(free=30, base=timedelta(seconds=2), cap=timedelta(minutes=15),
                        forget=timedelta(hours=1))

# Support requests from one address: a person reporting a few problems never waits; a script
# filling the table does, ever longer.
SUPPORT_PER_ADDRESS = DelayRule(free=5, base=timedelta(minutes=1), cap=timedelta(hours=1),
                                forget=timedelta(hours=6))


@dataclass(frozen=True)
class Failures:
    count: int = 0
    last_at: datetime | None = None

    def not_before(self, rule: DelayRule) -> datetime | None:
        """When the next attempt may be made (None: at once)."""
        wait = rule.delay(self.count)
        if self.last_at is None or not wait:
            return None
        return self.last_at + wait

    def wait(self, rule: DelayRule, now: datetime) -> timedelta:
        """What is left of the wait at ``now`` (zero when an attempt may be made)."""
        until = self.not_before(rule)
        return max(until - now, timedelta(0)) if until is not None else timedelta(0)


def after_failure(failures: Failures, rule: DelayRule, now: datetime) -> Failures:
    """The count after one more failure at ``now``."""
    fresh = failures.last_at is None or now - failures.last_at >= rule.forget
    return Failures(1 if fresh else failures.count + 1, now)


def attempts_per_day(rule: DelayRule) -> int:
    """The most guesses one key allows in 24 hours to an attacker who waits out every delay
    (the arithmetic behind "guessing stays infeasible", in docs/configuration.md)."""
    day, spent, count = timedelta(days=1), timedelta(0), 0
    while True:
        spent += rule.delay(count)
        if spent > day:
            return count
        count += 1
        if rule.delay(count) >= rule.cap:
            left = day - spent
            return count + math.floor(left / rule.cap)


def wait_text(wait: timedelta) -> str:
    """«2 мин», «40 с»: the wait rounded up, for the message that asks to try later."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        return f"{seconds} с"
    return f"{math.ceil(seconds / 60)} мин"


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Addresses or CIDR networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``); ValueError names a
    bad one."""
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"«{value}» — не IP-адрес и не сеть CIDR") from None
    return tuple(found)


def client_address(peer: str | None, forwarded_for: Sequence[str],
                   trusted: Sequence[IpNetwork]) -> str | None:
    """The address a request counts as coming from.

    ``X-Forwarded-For`` is believed only when the peer is a trusted proxy; then the hops are
    read right to left (each proxy appends the address it saw) and the first one that is not a
    trusted proxy is the client. Everything left of it was written by the client and is never
    believed. A hop that is not an address stops the walk at the last trusted one.
    """
    if peer is None or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    current = peer
    for hop in reversed(hops):
        if not _is_address(hop):
            return current
        current = hop
        if not _trusted(hop, trusted):
            return hop
    return current


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _trusted(address: str, trusted: Sequence[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)
