"""What the web pages need from the composition root (``bootstrap.Container.web_settings``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from medsign.accounts.patient_accounts import Mailing
from medsign.accounts.sessions import SessionPolicy
from medsign.domain.app_devices import QuickLoginRule, RelyingParty
from medsign.domain.app_regions import Region, default_region
from medsign.domain.login_limits import IpNetwork
from medsign.health import HealthRecorder
from medsign.signing.archive import Limits

if TYPE_CHECKING:
    from medsign.integrations.crl import CrlSources
    from medsign.integrations.esia import EsiaClient

# A signing request whose runner item nobody touched for this long is "stuck" in the console.
STUCK_AFTER = timedelta(minutes=30)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class AppShell:
    """The patient's app «К врачу»: its names, this installation's address, and the regions
    a patient chooses from (``[app]``; never empty: by default this installation alone)."""

    name: str = "К врачу"
    short_name: str = "К врачу"
    public_url: str = DEFAULT_PUBLIC_URL
    regions: tuple[Region, ...] = (
        default_region("127.0.0.1", DEFAULT_PUBLIC_URL, max_enabled=False, esia_enabled=False),)


@dataclass(frozen=True)
class WebSettings:
    """``cookie_secure`` off is meant only for ``http://localhost`` (see
    :func:`cookie_secure_for`); ``esia`` makes a fresh client per sign-in (None: ESIA is not
    configured and its button says so)."""

    cookie_secure: bool = True
    allow_demo_passwords: bool = False
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    stuck_after: timedelta = STUCK_AFTER
    console_timezone: str = "Europe/Moscow"
    refresh_seconds: int = 5
    archive_limits: Limits | None = None
    esia: Callable[[], EsiaClient] | None = None
    health: HealthRecorder | None = None
    trusted_proxies: tuple[IpNetwork, ...] = ()  # whose X-Forwarded-For is believed
    crls: CrlSources | None = None  # signing.crls, for the console's health (None: none)
    app: AppShell = field(default_factory=AppShell)
    # Where the patient's pages send them to sign (``max.goskey_bot_url``; "": no link shown).
    goskey_bot_url: str = ""
    # quick login in the app «К врачу» (None: off, password only); biometrics needs the
    # relying party (None: not offered — e.g. the site is reached by IP address)
    quick_login: QuickLoginRule | None = field(default_factory=QuickLoginRule)
    relying_party: RelyingParty | None = None
    # password reset links by e-mail ([email]); disabled: the pages say to ask the clinic
    mailing: Mailing = field(default_factory=lambda: Mailing(False, timedelta(hours=1), ""))


def cookie_secure_for(public_url: str, profile: str) -> bool:
    """``Secure`` cookies, except for plain http on this machine in demo or development."""
    parts = urlsplit(public_url)
    local = parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS
    return not (local and profile in ("demo", "development"))
