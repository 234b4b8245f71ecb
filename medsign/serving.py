"""What the two HTTP faces (the REST API and the pages) share at run time: the state the
composition root puts on the application, and the shape of a middleware's next call.

``medsign.app`` builds the application and sets ``app.state.medsign``; endpoints of both
faces read it through :func:`state`. Neither face imports the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request, Response
from sqlalchemy import Engine

from medsign.clock import Clock
from medsign.domain.webhooks import Targets
from medsign.errors import ServiceUnavailable
from medsign.notifications.service import NotificationPolicy
from medsign.signing.availability import IdentityCheck
from medsign.signing.evidence import EvidenceConfig

Call = Callable[[Request], Awaitable[Response]]


@dataclass
class AppState:
    engine: Engine
    clock: Clock
    evidence: EvidenceConfig | None = None
    bot: BotSettings | None = None
    # Whether each МО can sign (the process's one signer provider: its caches are shared).
    identities: IdentityCheck | None = None
    # Where the МИС's webhook endpoints may point (production: https, no internal address).
    webhook_targets: Targets = field(default_factory=Targets)


@dataclass(frozen=True)
class BotSettings:
    """What the web side of the MAX bot needs: notification policy, deep links, webhook."""

    policy: NotificationPolicy
    deep_link_base: str
    link_ttl: timedelta
    webhook_secret: str | None


def state(request: Request) -> AppState:
    value: AppState = request.app.state.medsign
    return value


def now(request: Request) -> datetime:
    """The application's clock (a fake one in tests), read for this request."""
    return state(request).clock.now()


def identities(request: Request) -> IdentityCheck:
    """The process's check of МО signing identities; a process built without one starts no
    signing (503) rather than start it unchecked."""
    found = state(request).identities
    if found is None:
        raise ServiceUnavailable("signing_unavailable",
                                 "Подпись медицинских организаций не настроена в этом процессе.")
    return found
