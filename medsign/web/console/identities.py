"""What the console says about the МО signing identities: a banner on every console page
while an МО in the operator's scope cannot sign or soon will not, and the overview's section
«Подпись МО» with every МО.

Both read the process's signer provider (``serving.AppState.identities``), which caches what
it read, so a page asks nothing of the key store but what it already knows.
"""

from __future__ import annotations

from fastapi import Request

from medsign.accounts.staff import Role, StaffUser
from medsign.domain.alerts import AlertKind
from medsign.records.scope import Scope
from medsign.serving import state
from medsign.signing import alerts as signing_alerts
from medsign.signing import availability
from medsign.signing.availability import OrganizationIdentity
from medsign.web import deps

CONSOLE_ROLES = (Role.operator, Role.admin)


def listing(request: Request, scope: Scope | None = None) -> list[OrganizationIdentity]:
    """Every МО (within ``scope``) with its identity; empty in a process that has no signer
    provider. Read once per request: the banner and the overview share it."""
    check = state(request).identities
    if check is None:
        return []
    every: list[OrganizationIdentity] | None = getattr(request.state, "mo_identities", None)
    if every is None:
        with deps.read_db(request) as db:
            every = availability.overview(db, identities=check, now=deps.now(request))
        request.state.mo_identities = every
    return [o for o in every if scope is None or scope.allows(o.code)]


def alert_counts(request: Request) -> dict[AlertKind, int]:
    """How many requests raise each alert, up to ``COUNTED_MOST + 1`` each: once per
    request, for the badge and the overview."""
    counts: dict[AlertKind, int] | None = getattr(request.state, "alert_counts", None)
    if counts is None:
        with deps.read_db(request) as db:
            counts = signing_alerts.alert_counts(
                db, now=deps.now(request), stall_after=deps.web_settings(request).stuck_after,
                cap=COUNTED_MOST + 1)
        request.state.alert_counts = counts
    return counts


# The badge says up to this many alerts and then "99+"; the console counts each kind of alert,
# each state and each kind of queued work up to ``COUNTED_MOST`` («более 1000»): a count of
# every failed request of the history at every page would cost what the history holds (the
# lists and the metrics give the whole numbers).
BADGE_MOST = 99
COUNTED_MOST = 1000


def banner(request: Request) -> None:
    """A dependency of the console's routers: what the banner of a full page warns of, and
    how many transactions failed or stalled (the badge in the top navigation; live fragments
    and forms do not show them, so they do not ask)."""
    visitor = getattr(request.state, "visitor", None)
    staff = visitor.staff if visitor is not None else None
    if staff is None or staff.role not in CONSOLE_ROLES or request.method != "GET" or \
            request.headers.get("X-Requested-With") == "medsign-refresh":
        return
    request.state.mo_warnings = availability.needing_attention(listing(request, _scope(staff)))
    # the top navigation's badge: failed and stalled
    request.state.console_alerts = badge_text(sum(alert_counts(request).values()))


def badge_text(total: int) -> str:
    """What the badge says after «Внимание:»; empty: no badge."""
    return "" if not total else str(total) if total <= BADGE_MOST else f"{BADGE_MOST}+"


def _scope(staff: StaffUser) -> Scope:
    """Operators and administrators see every organisation, unless the account is tied to
    one."""
    if staff.organization_code is None:
        return Scope(actor=staff.actor)
    return Scope(actor=staff.actor, organizations=frozenset({staff.organization_code}))
