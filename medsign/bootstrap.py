"""The composition root: settings in, wired engine, runner and web application out.

Real or emulated external systems, the clock and the flows are chosen here and nowhere else.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from medsign.accounts.patient_accounts import Mailing
from medsign.app import create_app
from medsign.bot.copies import CopiesFlow
from medsign.bot.flow import MaxDeps, MessageFlow, NotifyFlow, PollFlow, SubscribeFlow, UpdateFlow
from medsign.bot.updates import POLL_KIND, SUBSCRIBE_KIND, Handler
from medsign.clock import Clock, SystemClock, clock_from_environment
from medsign.config import Problem, Settings
from medsign.crypto import TrustStore
from medsign.db.engine import make_engine
from medsign.domain.app_devices import (
    QuickLoginRule,
    RelyingParty,
    relying_party,
    relying_party_problem,
)
from medsign.domain.app_regions import default_region
from medsign.domain.mo_identity import Requisites
from medsign.health import HealthRecorder
from medsign.housekeeping.flow import KIND as HOUSEKEEPING_KIND
from medsign.housekeeping.flow import STEP as HOUSEKEEPING_STEP
from medsign.housekeeping.flow import HousekeepingFlow
from medsign.integrations.crl import CrlSources
from medsign.integrations.esia import EsiaClient
from medsign.integrations.goskey.client import GoskeyClient
from medsign.integrations.http import ApiClient
from medsign.integrations.max.client import MaxClient
from medsign.integrations.smtp import SmtpSender, SmtpServer
from medsign.mail.flow import MailFlow
from medsign.notifications.service import NotificationPolicy
from medsign.operations.presence import ProcessPresence
from medsign.runner import store
from medsign.runner.metrics import RunnerMetrics
from medsign.runner.ratelimit import Limit, RateLimiter
from medsign.runner.worker import Flow, RunnerConfig, Worker
from medsign.serving import BotSettings
from medsign.signing.alert_mail.flow import KIND as ALERT_MAIL_KIND
from medsign.signing.alert_mail.flow import STEP as ALERT_MAIL_STEP
from medsign.signing.alert_mail.flow import AlertMailFlow
from medsign.signing.evidence import EvidenceConfig
from medsign.signing.flow import SigningFlow
from medsign.signing.signers import ConfiguredSigners, machine_problems
from medsign.web.config import AppShell, WebSettings, cookie_secure_for
from medsign.webhooks.flow import WebhookFlow
from medsign.webhooks.service import webhook_targets

log = logging.getLogger("medsign.bootstrap")
# Where development keys and the local signing emulator's files live (relative to the
# working directory, like the default SQLite database under ./var/).
DEV_KEYS_DIR = Path("var/keys")
EMULATOR_OPERATOR_CA = Path("var/goskey-emulator/operator-ca.pem")
CRL_CACHE_DIR = Path("var/crl")  # downloaded revocation lists (signing.crls)
DEV_JOURNAL_DIR = Path("var/journal")  # signing.transaction_journal outside production
C = TypeVar("C", bound=ApiClient)
# The ESIA client_secret is signed by the identity of this code in the key store: outside
# production a development one, made on first use. The subject's details are placeholders:
# the ESIA emulator checks the signature, not who holds the key.
ESIA_DEV_KEY = ("medsign-esia", "medsign (система-клиент ЕСИА)", "1027700132195", "7707083893")


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    metrics: RunnerMetrics = field(default_factory=RunnerMetrics)
    keys_dir: Path = DEV_KEYS_DIR
    operator_ca: Path = EMULATOR_OPERATOR_CA
    crl_cache: Path = CRL_CACHE_DIR
    journal_dir: Path = DEV_JOURNAL_DIR
    # Tests run the emulators in-process: an ASGI transport instead of a socket.
    goskey_transport: httpx.AsyncBaseTransport | None = None
    max_transport: httpx.AsyncBaseTransport | None = None
    esia_transport: httpx.AsyncBaseTransport | None = None
    # ``build`` made the engine for this container alone: ``close`` disposes of it (its
    # pooled connections closed now, not whenever the collector finds the pool).
    owns_engine: bool = False
    _health: HealthRecorder | None = field(default=None, init=False, repr=False)
    _signers: ConfiguredSigners | None = field(default=None, init=False, repr=False)
    _clients: list[ApiClient] = field(default_factory=list, init=False, repr=False)
    _revocation: CrlSources | None = field(default=None, init=False, repr=False)

    def app(self, *, register: bool = False) -> FastAPI:
        """``register``: keep this process's row in ``service_processes`` while the app
        runs (``serve``; tests that build an app in-process do not)."""
        return create_app(self.engine, clock=self.clock, evidence=self.evidence_config(),
                          bot=self.bot_settings(), web=self.web_settings(),
                          max_body_bytes=int(self.settings.server.max_body_size),
                          hsts=self.settings.profile == "production",
                          webhook_targets=webhook_targets(self.settings),
                          identities=self.signers(),
                          presence=self.presence("serve") if register else None)

    def presence(self, kind: str) -> ProcessPresence:
        """This process's row in ``service_processes`` (``serve`` or ``worker``)."""
        return ProcessPresence(self.engine, kind)

    # -- web pages ------------------------------------------------------------------------
    def health(self) -> HealthRecorder:
        """Counts of external calls for the console (one per process, flushed in the
        background; see ``medsign.health``)."""
        if self._health is None:
            self._health = HealthRecorder(self.engine, self.clock)
            atexit.register(self._health.close)
        return self._health

    def close(self) -> None:
        """Stop what the container started in the background (its health counter's flush
        thread, after a last flush; the engine ``build`` made for it): a process that builds
        containers one after another — a test run — must not keep a thread and database
        connections per container."""
        if self._health is not None:
            atexit.unregister(self._health.close)
            self._health.close()
            self._health = None
        if self.owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_call(self, api: str) -> Callable[[str, str, float], None]:
        def observe(method: str, outcome: str, seconds: float) -> None:
            self.metrics.observe_call(api, method, outcome, seconds)
            self.health().observe(api, method, outcome)
        return observe

    def web_settings(self) -> WebSettings:
        s = self.settings
        esia = self.esia_factory()
        return WebSettings(cookie_secure=cookie_secure_for(s.server.public_url, s.profile),
                           allow_demo_passwords=s.profile == "demo",
                           stuck_after=s.console.stall_after,
                           archive_limits=s.signing, esia=esia,
                           health=self.health(),
                           trusted_proxies=s.server.trusted_proxies, crls=self.revocation(),
                           app=self.app_shell(esia_enabled=esia is not None),
                           goskey_bot_url=s.max.goskey_bot_url,
                           quick_login=self.quick_login_rule(),
                           relying_party=self.relying_party(),
                           mailing=self.mailing())

    def app_shell(self, *, esia_enabled: bool) -> AppShell:
        """``[app]``; with no regions configured, this installation alone, offering what its
        configuration turns on."""
        s = self.settings
        regions = s.app.regions or (default_region(
            s.app.region or urlsplit(s.server.public_url).hostname or s.server.public_url,
            s.server.public_url, max_enabled=self.max_enabled,
            esia_enabled=esia_enabled),)
        return AppShell(name=s.app.name, short_name=s.app.short_name,
                        public_url=s.server.public_url, regions=regions)

    def quick_login_rule(self) -> QuickLoginRule | None:
        q = self.settings.quick_login
        if not q.enabled:
            return None
        return QuickLoginRule(pin_attempts=q.pin_attempts, challenge_ttl=q.challenge_ttl,
                              lifetime=q.device_lifetime)

    def relying_party(self) -> RelyingParty | None:
        """WebAuthn's RP ID and origin; None when browsers would refuse them (an IP address):
        the app then offers the PIN only."""
        q = self.settings.quick_login
        rp_id, origin = relying_party(self.settings.server.public_url, q.webauthn_rp_id,
                                      q.webauthn_origin)
        if not q.enabled or relying_party_problem(rp_id, origin) is not None:
            return None
        return RelyingParty(rp_id, origin)

    def mailing(self) -> Mailing:
        """How password reset links go out (``[email]``, links under ``server.public_url``)."""
        e = self.settings.email
        return Mailing(enabled=e.enabled, ttl=e.reset_link_ttl,
                       link_base=self.settings.server.public_url)

    def mail_flows(self) -> list[Flow]:
        """The e-mail sender, when ``[email]`` is set."""
        e = self.settings.email
        if not e.enabled:
            return []
        server = SmtpServer(host=e.smtp_host.strip(), port=e.smtp_port, starttls=e.starttls,
                            ssl=e.ssl, username=e.username,
                            password=e.password.get_secret_value(),
                            timeout=e.timeout.total_seconds())
        return [MailFlow(SmtpSender(server), from_address=e.sender, clock=self.clock)]

    def esia_factory(self) -> Callable[[], EsiaClient] | None:
        """Makes an ESIA client per sign-in, or None when ESIA is not configured."""
        e = self.settings.esia
        if not e.client_id or not e.redirect_url:
            return None
        signers = self.signers()

        mo = self.esia_requisites()

        def make() -> EsiaClient:
            signer = signers.for_organization(mo.code, name=mo.name, ogrn=mo.ogrn, inn=mo.inn)
            return EsiaClient(e.base_url, e.client_id, e.redirect_url, signer=signer,
                              ca_bundle=e.ca_bundle, timeout=e.timeout.total_seconds(),
                              transport=self.esia_transport)
        return make

    def esia_requisites(self) -> Requisites:
        """Whom the ESIA client signs as: the organisation of ``[esia]`` (production requires
        its ОГРН and ИНН), or, outside production and unset, a development identity."""
        e = self.settings.esia
        if e.ogrn or self.settings.profile == "production":
            return Requisites(e.key_code, e.organization or "система-клиент ЕСИА", e.ogrn, e.inn)
        _, name, ogrn, inn = ESIA_DEV_KEY
        return Requisites(e.key_code, name, ogrn, inn)

    def operator_trust(self) -> TrustStore:
        """The platform operator's CA: configured, or the local emulator's outside production."""
        path = self.settings.signing.trust_store
        if path is None and self.settings.profile != "production" and self.operator_ca.exists():
            path = self.operator_ca
        if path is None:
            log.warning("signing.trust_store is not set: archives from the platform will be "
                        "refused as untrusted")
            return TrustStore.empty()
        return TrustStore.from_file(path).with_revocation(self.revocation())

    def revocation(self) -> CrlSources | None:
        """The revocation lists of ``signing.crls`` (None: none configured), one per
        container: every trust store — the operator's, the МО certificates' — consults the
        same lists, and the console shows their state."""
        s = self.settings.signing
        if not s.crls:
            return None
        if self._revocation is None:
            self._revocation = CrlSources(s.crls, cache_dir=self.crl_cache,
                                          refresh=s.crl_refresh, clock=self.clock)
        return self._revocation

    def evidence_config(self) -> EvidenceConfig:
        return EvidenceConfig(operator_trust=self.operator_trust(), limits=self.settings.signing)

    def goskey_client(self) -> GoskeyClient:
        g = self.settings.goskey
        return self._kept(GoskeyClient(
            g.base_url, g.token.get_secret_value(), ca_bundle=g.ca_bundle,
            timeout=g.timeout.total_seconds(), transport=self.goskey_transport,
            on_call=self._on_call("goskey")))

    def _kept(self, client: C) -> C:
        self._clients.append(client)
        return client

    async def close_clients(self) -> None:
        """Close the long-lived API clients made here (the worker's, once it has stopped):
        their connections, and the aiohttp sessions that would complain if left open."""
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()

    def key_store(self) -> Path:
        """``signing.key_store``; outside production the installation's keys folder when unset
        (production requires it: a configuration error otherwise)."""
        return key_store_of(self.settings, self.keys_dir)

    def transaction_journal(self) -> Path:
        """``signing.transaction_journal``; outside production ``var/journal/`` when unset
        (production requires it: a configuration error otherwise)."""
        return self.settings.signing.transaction_journal or self.journal_dir

    def signers(self) -> ConfiguredSigners:
        """One per process: the flows, the pages and the metrics share what it caches.
        Development keys are made only in the installation's own keys folder outside
        production: a configured key store holds what was imported into it, nothing else."""
        if self._signers is None:
            s = self.settings
            development = s.profile != "production" and s.signing.key_store is None
            self._signers = ConfiguredSigners(s.signing, keys_dir=self.key_store(),
                                              allow_development_keys=development,
                                              clock=self.clock, revocation=self.revocation())
        return self._signers

    def runner_config(self, concurrency: int | None = None) -> RunnerConfig:
        r = self.settings.runner
        return RunnerConfig(concurrency=concurrency or r.concurrency, lease=r.lease,
                            poll_interval=r.poll_interval, claim_batch=r.claim_batch,
                            backoff_base=r.backoff_base, backoff_cap=r.backoff_cap,
                            max_attempts=r.max_attempts, shutdown_grace=r.shutdown_grace)

    def rate_limits(self) -> dict[str, Limit]:
        limits = self.settings.rate_limits
        buckets = {name: Limit(rate=getattr(limits, name).rate, burst=getattr(limits, name).burst)
                   for name in ("max", "goskey", "esia", "mis")}
        buckets["max_chat"] = Limit(rate=limits.max_per_chat, burst=1)
        return buckets

    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.engine, self.rate_limits())

    def alert_mail_flow(self) -> AlertMailFlow:
        """E-mail to the operators about failed and stalled transactions (``[console]
        alert_emails``, sent only when ``[email]`` is set)."""
        return AlertMailFlow(self.settings.console, mail_enabled=self.settings.email.enabled,
                             console_url=self.settings.server.public_url, clock=self.clock)

    def housekeeping_flow(self) -> HousekeepingFlow:
        return HousekeepingFlow(self.settings.housekeeping, self.rate_limits(), self.clock)

    # -- MAX ------------------------------------------------------------------------------
    @property
    def max_enabled(self) -> bool:
        return bool(self.settings.max.token.get_secret_value())

    def notification_policy(self) -> NotificationPolicy:
        n = self.settings.notifications
        return NotificationPolicy(offset=n.offset, min_lead=n.min_lead,
                                  default_quiet_hours=n.default_quiet_hours,
                                  callback_ttl=n.callback_ttl,
                                  goskey_bot_url=self.settings.max.goskey_bot_url)

    def bot_settings(self) -> BotSettings | None:
        if not self.max_enabled:
            return None
        m = self.settings.max
        secret = m.webhook_secret.get_secret_value() if m.updates == "webhook" else None
        return BotSettings(policy=self.notification_policy(), deep_link_base=m.bot_deep_link_base,
                           link_ttl=self.settings.notifications.link_token_ttl,
                           webhook_secret=secret or None)

    def max_client(self) -> MaxClient:
        m = self.settings.max
        return self._kept(MaxClient(
            m.base_url, m.token.get_secret_value(), ca_bundle=m.ca_bundle,
            timeout=m.timeout.total_seconds(), transport=self.max_transport,
            on_call=self._on_call("max")))

    def webhook_url(self) -> str:
        return self.settings.server.public_url.rstrip("/") + "/max/webhook"

    def max_flows(self) -> list[Flow]:
        deps = MaxDeps(client=self.max_client(), clock=self.clock,
                       policy=self.notification_policy())
        handler = Handler(clock=self.clock, policy=deps.policy, identities=self.signers())
        secret = self.settings.max.webhook_secret.get_secret_value()
        return [NotifyFlow(deps), MessageFlow(deps), UpdateFlow(deps, handler), PollFlow(deps),
                SubscribeFlow(deps, url=self.webhook_url(), secret=secret),
                CopiesFlow(deps, enabled=self.settings.max.send_signed_copies)]

    def ensure_background_work(self) -> None:
        """The installation's standing work: housekeeping, the operators' alert mail; the MAX
        poller or the webhook subscription."""
        with self.engine.begin() as conn:
            for kind, step in ((HOUSEKEEPING_KIND, HOUSEKEEPING_STEP),
                               (ALERT_MAIL_KIND, ALERT_MAIL_STEP)):
                store.ensure_singleton(conn, name=kind, kind=kind, step=step,
                                       now=self.clock.now())
        if not self.max_enabled:
            return
        polling = self.settings.max.updates == "polling"
        keep, drop = ((POLL_KIND, "start"), SUBSCRIBE_KIND) if polling else \
            ((SUBSCRIBE_KIND, "subscribe"), POLL_KIND)
        now = self.clock.now()
        with self.engine.begin() as conn:
            store.ensure_singleton(conn, name=keep[0], kind=keep[0], step=keep[1], now=now)
            store.retire_singleton(conn, name=drop, now=now,
                                   reason=f"max.updates = {self.settings.max.updates}")

    def flows(self) -> list[Flow]:
        """Every kind of durable work this installation runs."""
        signing: list[Flow] = [SigningFlow(
            client=self.goskey_client(), settings=self.settings.signing,
            trust=self.operator_trust(), signers=self.signers(), clock=self.clock,
            journal=self.transaction_journal(), on_journal_error=self.metrics.journal_errors.inc)]
        standing: list[Flow] = [self.housekeeping_flow(), self.alert_mail_flow(),
                                WebhookFlow(self.settings.webhooks, self.clock,
                                            targets=webhook_targets(self.settings))]
        return (signing + standing + self.mail_flows()
                + (self.max_flows() if self.max_enabled else []))

    def worker(self, concurrency: int | None = None) -> Worker:
        return Worker(self.engine, self.flows(), self.runner_config(concurrency),
                      clock=self.clock, limiter=self.rate_limiter(), metrics=self.metrics)


def key_store_of(settings: Settings, keys_dir: Path = DEV_KEYS_DIR) -> Path:
    """``signing.key_store``, or the installation's keys folder when unset (outside
    production; production requires the setting)."""
    return settings.signing.key_store or keys_dir


def start_up_problems(settings: Settings) -> list[Problem]:
    """What this machine lacks to run the service as ``settings`` describe (the file itself
    is already checked): ``serve``, ``worker`` and ``check-config`` refuse to start over
    these as over a mistake in the file. Commands that only touch the database do not ask."""
    return machine_problems(settings.signing, production=settings.profile == "production")


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    db = settings.database
    engine = make_engine(db.url, busy_timeout_s=db.busy_timeout.total_seconds(),
                         pool_size=db.pool_size, echo=db.echo)
    clock = clock or clock_from_environment(os.environ,
                                            production=settings.profile == "production")
    return Container(settings=settings, engine=engine, clock=clock, owns_engine=True)
