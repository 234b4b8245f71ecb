"""Device cookies: the account's owner keeps access while an attacker keeps it behind its delay.

The growing delay per account (:mod:`medsign.domain.login_limits`) is not a lock, but an
attacker who retries the moment each delay ends keeps the account permanently behind it. So a
browser that once logged in to an account gets a *device token* for it (the OWASP "device
cookie" pattern): a random secret the attacker, who never logged in from that browser, does
not have. A login that presents a live device token of the very account it names is judged
without that account's delay (the per-address limits still apply); it has a failure limit of
its own instead: after ``failures`` wrong passwords with it the token is revoked, so a stolen
cookie buys a handful of guesses and no more. The token proves only "this browser logged in
here before": the password is still checked every time.

One browser may keep tokens of a few accounts (a shared computer in a clinic's office); the
cookie holds them separated by dots, the most recently used first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# secrets.token_urlsafe(32): 43 characters of the URL-safe Base64 alphabet (no dots).
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
TOKEN_BYTES = 32
SEPARATOR = "."
MAX_COOKIE = 1000  # a longer value is not one of ours: ignored, never split


@dataclass(frozen=True)
class DeviceRule:
    lifetime: timedelta  # a token lives this long after its last successful login
    failures: int  # wrong passwords with one token before it is revoked
    per_cookie: int  # tokens (accounts) one browser keeps


DEVICE = DeviceRule(lifetime=timedelta(days=90), failures=5, per_cookie=5)


@dataclass(frozen=True)
class Device:
    """A stored device token, as the rule sees it."""

    realm: str  # "staff" or "portal": ids of the two realms are different numbers
    account_id: int
    failures: int
    expires_at: datetime

    def vouches_for(self, realm: str, account_id: int, now: datetime,
                    rule: DeviceRule = DEVICE) -> bool:
        """Whether an attempt on ``realm``/``account_id`` may skip that account's delay."""
        return (self.realm == realm and self.account_id == account_id
                and now < self.expires_at and self.failures < rule.failures)

    def live(self, now: datetime, rule: DeviceRule = DEVICE) -> bool:
        return now < self.expires_at and self.failures < rule.failures


def tokens_in(cookie: str | None, rule: DeviceRule = DEVICE) -> tuple[str, ...]:
    """The well-formed tokens of a cookie, in order, without repeats; anything else (a forged
    or damaged value) is ignored rather than looked up."""
    if not cookie or len(cookie) > MAX_COOKIE:
        return ()
    found: list[str] = []
    for part in cookie.split(SEPARATOR):
        if TOKEN.fullmatch(part) and part not in found:
            found.append(part)
    return tuple(found[:rule.per_cookie])


def cookie_value(first: str, others: Iterable[str], rule: DeviceRule = DEVICE) -> str:
    """The cookie after a login: its account's token first, then the other live ones; the
    least recently used falls off when the browser holds more than ``per_cookie``."""
    kept = [first, *(t for t in others if t != first)]
    return SEPARATOR.join(kept[:rule.per_cookie])
