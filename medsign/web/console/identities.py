"""What the console says about the МО signing identities: a banner on every console page
while an МО in the operator's scope cannot sign or soon will not, and the overview's section
«Подпись МО» with every МО.

Both read the process's signer provider (``serving.AppState.identities``), which caches what
it read, so a page asks nothing of the key store but what it already knows.
"""

from __future__ import annotations

from fastapi import Request

from medsign.accounts.staff import Role, StaffUser
from medsign.records.scope import Scope
from medsign.serving import state
from medsign.signing import alerts as signing_alerts
from medsign.signing import availability
from medsign.signing.availability import OrganizationIdentity
from medsign.web import deps

CONSOLE_ROLES = (Role.operator, Role.admin)


def listing(request: Request, scope: Scope | None = None) -> list[OrganizationIdentity]:
    """Every МО (within ``scope``) with its identity; empty in a process that has no signer
    provider."""
    check = state(request).identities
    if check is None:
        return []
    with deps.read_db(request) as db:
        return availability.overview(db, identities=check, now=deps.now(request), scope=scope)


# The badge counts up to this many alerts and then says "99+": a count of every failed
# request of the history at every page would cost what the history holds (the list and the
# ``medsign_signing_alerts`` metric give the whole number).
BADGE_MOST = 99


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
    with deps.read_db(request) as db:  # the top navigation's badge: failed and stalled
        counts = signing_alerts.alert_counts(
            db, now=deps.now(request), stall_after=deps.web_settings(request).stuck_after,
            cap=BADGE_MOST + 1)
    request.state.console_alerts = badge_text(sum(counts.values()))


def badge_text(total: int) -> str:
    """What the badge says after «Внимание:»; empty: no badge."""
    return "" if not total else str(total) if total <= BADGE_MOST else f"{BADGE_MOST}+"


def _scope(staff: StaffUser) -> Scope:
    """Operators and administrators see every organisation, unless the account is tied to
    one."""
    if staff.organization_code is None:
        return Scope(actor=staff.actor)
    return Scope(actor=staff.actor, organizations=frozenset({staff.organization_code}))
