"""Outbound events to the МИС (Standard Webhooks): the event types, what an endpoint's URL
may be, when a failing endpoint is disabled, and the shape of ids and secrets.

Plain rules, no I/O: the outbox, the delivery step and the pages call these."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from medsign.domain.signing_actions import SigningAction

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # 256 bits, as the Standard Webhooks spec recommends (24–64)
EXCERPT_BYTES = 1024  # how much of a receiver's answer an attempt keeps
MAX_URL_LENGTH = 2000


class EventType(StrEnum):
    state_changed = "signing_request.state_changed"
    completed = "signing_request.completed"
    refused = "signing_request.refused"
    expired = "signing_request.expired"
    failed = "signing_request.failed"
    invitation_sent = "invitation.sent"
    invitation_answered = "invitation.answered"
    max_account_linked = "max_account.linked"

    @property
    def title(self) -> str:  # type: ignore[override]  # Russian name, shadows str.title on purpose
        return EVENT_TITLES[self]


EVENT_TITLES: dict[EventType, str] = {
    EventType.state_changed: "Состояние транзакции подписания изменилось",
    EventType.completed: "Документы подписаны (ссылки на подписанные документы)",
    EventType.refused: "Пациент отказался подписывать",
    EventType.expired: "Срок подписания истёк",
    EventType.failed: "Транзакция подписания завершилась ошибкой",
    EventType.invitation_sent: "Приглашение пациенту отправлено",
    EventType.invitation_answered: "Пациент ответил на приглашение",
    EventType.max_account_linked: "Пациент привязал аккаунт MAX",
}

# A signing request's state that has an event of its own besides ``state_changed``.
STATE_EVENTS: dict[str, EventType] = {
    "completed": EventType.completed,
    "expired": EventType.expired,
    "failed": EventType.failed,
}


def signing_events(from_state: str | None, to_state: str, action: str) -> list[EventType]:
    """The events one move of a signing request raises: always ``state_changed`` when the
    state changes, and the ending's own event (the patient's refusal is named by its
    action: the request is cancelled by the patient)."""
    if from_state == to_state:
        return []
    found = [EventType.state_changed]
    if action == SigningAction.refused:
        found.append(EventType.refused)
    elif to_state in STATE_EVENTS:
        found.append(STATE_EVENTS[to_state])
    return found


class UrlRejected(ValueError):
    """The URL is not acceptable; the message is for people (Russian)."""


def check_url(url: str, *, production: bool, networks: Sequence[IpNetwork] = ()) -> str:
    """The endpoint's URL as stored: https in production (http allowed outside it), a host,
    no user or password in it, no fragment; in production not an internal address written
    in the URL (``host_refusal``; names are judged again at each delivery)."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"Адрес: от 1 до {MAX_URL_LENGTH} символов.")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRejected("Адрес не разобран: укажите полный адрес вида https://…") from None
    schemes = ("https",) if production else ("https", "http")
    if parts.scheme not in schemes:
        raise UrlRejected("Адрес должен начинаться с https://." if production
                          else "Адрес должен начинаться с https:// или http://.")
    if not parts.hostname:
        raise UrlRejected("В адресе нет имени сервера.")
    if parts.username is not None or parts.password is not None:
        raise UrlRejected("В адресе не должно быть имени пользователя или пароля.")
    if parts.fragment:
        raise UrlRejected("В адресе не должно быть части после «#».")
    if port == 0 or any(c.isspace() for c in url):
        raise UrlRejected("Адрес содержит недопустимые символы или порт.")
    refusal = host_refusal(parts.hostname, allowed=networks) if production else None
    if refusal is not None:
        raise UrlRejected(refusal)
    return url


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
INTERNAL_TARGET = ("Адрес ведёт во внутреннюю сеть сервера ({address}): события туда не "
                   "отправляются. Если МИС работает во внутренней сети региона, администратор "
                   "medsign добавляет её сеть в webhooks.allowed_networks.")


def target_refusal(addresses: Iterable[IpAddress], *,
                   allowed: Sequence[IpNetwork]) -> str | None:
    """Why a delivery must not go to a host with these addresses, or None when it may.

    In production an endpoint given by a МИС must not turn medsign into a probe of its own
    network: loopback, private, link-local (the cloud metadata address among them), shared,
    multicast and reserved addresses are refused unless a configured network allows them
    (a regional МИС inside a closed network). Every address the name resolves to counts: one
    internal address among public ones is enough to refuse."""
    for address in addresses:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_global and not address.is_multicast:
            continue
        if any(address in network for network in allowed):
            continue
        return INTERNAL_TARGET.format(address=address)
    return None


def literal_address(host: str) -> IpAddress | None:
    """The host part of a URL when it is an IP address itself (``[::1]`` without brackets)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def host_refusal(host: str, *, allowed: Sequence[IpNetwork]) -> str | None:
    """What can be judged without resolving a name: an IP address written in the URL, and
    ``localhost`` (which resolves to loopback on every system)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return INTERNAL_TARGET.format(address=name)
    address = literal_address(name)
    return None if address is None else target_refusal([address], allowed=allowed)


@dataclass(frozen=True)
class Targets:
    """Where this installation lets endpoints point: outside production anywhere over http
    or https (the demo's and the tests' receivers are local); in production https only, and
    no internal address unless one of ``allowed`` networks holds it."""

    production: bool = False
    allowed: tuple[IpNetwork, ...] = ()

    def check_url(self, url: str) -> str:
        return check_url(url, production=self.production, networks=self.allowed)

    def refusal(self, addresses: Iterable[IpAddress]) -> str | None:
        """At delivery, for the addresses the endpoint's name resolves to now."""
        return target_refusal(addresses, allowed=self.allowed) if self.production else None


def check_event_types(names: list[str]) -> list[str]:
    """Known, at least one, each once, in a stable order."""
    known = {e.value for e in EventType}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError("Неизвестные типы событий: " + ", ".join(unknown) + ".")
    if not names:
        raise ValueError("Укажите хотя бы один тип событий.")
    return [e.value for e in EventType if e.value in set(names)]


def new_secret() -> str:
    """``whsec_`` and 32 random bytes in base64, as the Standard Webhooks libraries read it."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id(event_id: str) -> str:
    """``webhook-id``: the event's id, so every endpoint and every retry of an event sees
    the same id (a receiver deduplicates by it)."""
    return f"msg_{event_id}"


@dataclass(frozen=True)
class DisableDecision:
    disable: bool
    failing_since: datetime | None


def after_attempt(*, delivered: bool, failing_since: datetime | None, now: datetime,
                  period: timedelta) -> DisableDecision:
    """An endpoint that keeps failing for longer than ``period`` (since its first failure
    after the last success) is disabled; any success clears the clock."""
    if delivered:
        return DisableDecision(False, None)
    since = failing_since or now
    return DisableDecision(now - since > period, since)


def excerpt(body: bytes) -> str:
    """At most :data:`EXCERPT_BYTES` of the answer, as text (undecodable bytes replaced)."""
    return body[:EXCERPT_BYTES].decode("utf-8", errors="replace")


def disabled_reason(period: timedelta) -> str:
    """Why the rule disabled an endpoint, for the console (staff)."""
    seconds = int(period.total_seconds())
    if seconds % 86400 == 0:
        amount = f"{seconds // 86400} дн."
    elif seconds % 3600 == 0:
        amount = f"{seconds // 3600} ч"
    elif seconds % 60 == 0:
        amount = f"{seconds // 60} мин"
    else:
        amount = f"{seconds} с"
    return f"Адрес не принимал события дольше {amount} подряд: отключён автоматически."
