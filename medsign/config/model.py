"""The settings model: one frozen ``BaseSettings``, a section (a plain pydantic model) per concern.

Defaults here are the documented ones (``medsign.example.toml``, ``docs/configuration.md``);
tests check the three agree. Rules that involve several keys or the profile live in
``rules.py`` and run from :func:`load_settings`, not on direct construction.

Where the values come from is pydantic-settings' business: ``settings_customise_sources``
puts the keyword arguments first, then the sources :func:`load_settings` chose for this load
(the ``MEDSIGN_*`` variables, then the TOML file — see ``sources.py``). Built directly,
``Settings()`` reads nothing from outside and holds the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from medsign.config.fields import (
    ByteSize,
    CrlSources,
    DatabaseUrl,
    Duration,
    Networks,
    OptionalDirectory,
    OptionalPath,
    OptionalWebUrl,
    PositiveDuration,
    QuietHoursField,
    Regions,
    Secret,
    WebhookSecret,
    WebUrl,
    mask_url_password,
)
from medsign.domain.organizations import QuietHours

ENV_PREFIX = "MEDSIGN_"
ENV_SEPARATOR = "__"

Profile = Literal["development", "demo", "production"]


def _seconds(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DatabaseSettings(Section):
    url: DatabaseUrl = "sqlite:///var/medsign.db"
    busy_timeout: PositiveDuration = _seconds(5)
    pool_size: Annotated[int, Field(ge=1, le=100)] = 10
    echo: bool = False

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (mask_url_password(value) if name == "url" else value)


class ServerSettings(Section):
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: WebUrl = ""
    max_body_size: ByteSize = 1024**2
    trusted_proxies: Networks = ()
    keep_alive: PositiveDuration = _seconds(75)
    shutdown_grace: PositiveDuration = _seconds(20)

    @model_validator(mode="before")
    @classmethod
    def _derive_public_url(cls, data: Any) -> Any:
        """An empty or absent ``public_url`` means ``http://<host>:<port>``."""
        if isinstance(data, dict) and not data.get("public_url"):
            host = str(data.get("host", "127.0.0.1"))
            host = f"[{host}]" if ":" in host else host
            data = {**data, "public_url": f"http://{host}:{data.get('port', 8000)}"}
        return data


class RunnerSettings(Section):
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    lease: PositiveDuration = _seconds(60)
    poll_interval: PositiveDuration = _seconds(1)
    claim_batch: Annotated[int, Field(ge=1, le=1000)] = 32
    backoff_base: PositiveDuration = _seconds(2)
    backoff_cap: PositiveDuration = _seconds(600)
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 10
    shutdown_grace: Duration = _seconds(30)


class NotificationSettings(Section):
    offset: PositiveDuration = _seconds(24 * 3600)
    default_quiet_hours: QuietHoursField = QuietHours(time(21), time(9))
    min_lead: Duration = _seconds(12 * 3600)
    link_token_ttl: PositiveDuration = _seconds(24 * 3600)
    callback_ttl: PositiveDuration = _seconds(48 * 3600)


class SigningSettings(Section):
    poll_interval: PositiveDuration = _seconds(30)
    poll_backoff_factor: Annotated[float, Field(ge=1, le=10, allow_inf_nan=False)] = 1.5
    poll_interval_max: PositiveDuration = _seconds(300)
    expiry_grace: Duration = _seconds(2 * 3600)
    countersign_mode: Literal["pdf", "pdf+xml", "zip"] = "pdf"
    completion_template_id: str = ""
    max_archive_bytes: ByteSize = 20 * 1024**2
    max_uncompressed_bytes: ByteSize = 100 * 1024**2
    max_compression_ratio: Annotated[int, Field(ge=1, le=10000)] = 100
    trust_store: OptionalPath = None
    # revocation lists (files or http(s) URLs) for the operator's and the МО certificates'
    # CAs, fetched again when older than crl_refresh (docs/crypto.md)
    crls: CrlSources = ()
    crl_refresh: PositiveDuration = _seconds(3600)
    signer: Literal["pure", "openssl", "external"] = "pure"
    # Python integers are not constant-time and "pure" is no certified means of signature:
    # production refuses it unless this says the installation accepts that (docs/crypto.md)
    allow_pure_in_production: bool = False
    # an МО certificate ending within this period is shown as expiring (console, health)
    expiry_warning: PositiveDuration = _seconds(30 * 86400)
    signer_command: str = ""
    # one folder per МО and certificate (docs/crypto.md); empty: the installation's keys
    # folder (var/keys/) outside production, required in production
    key_store: OptionalDirectory = None
    # PKCS#12 passwords as files named by the МО code (or MEDSIGN_KEY_PASSWORD_<CODE>)
    key_passwords_dir: OptionalDirectory = None
    # the CAs that issue МО certificates; empty: the development CA outside production
    mo_trust_store: OptionalPath = None
    # the transaction journal's folder (one JSON line per platform transaction, outside the
    # database: docs/reconcile.md); empty: var/journal/ outside production, required in it
    transaction_journal: OptionalDirectory = None


class WebhookSettings(Section):
    """Outbound events to the МИС (Standard Webhooks): how a delivery is timed and retried,
    and how long an endpoint may keep failing before it is disabled."""

    timeout: PositiveDuration = _seconds(10)
    backoff_base: PositiveDuration = _seconds(30)
    backoff_cap: PositiveDuration = _seconds(3600)
    disable_after: PositiveDuration = _seconds(3 * 86400)
    # production: internal networks endpoints may point into (a МИС in the region's network)
    allowed_networks: Networks = ()


class MaxSettings(Section):
    base_url: WebUrl = "https://platform-api2.max.ru"
    token: Secret = SecretStr("")
    ca_bundle: OptionalPath = None
    timeout: PositiveDuration = _seconds(30)
    updates: Literal["webhook", "polling"] = "polling"
    webhook_secret: WebhookSecret = SecretStr("")
    goskey_bot_url: WebUrl = "https://max.ru/id7708416300_gosbot"
    bot_deep_link_base: OptionalWebUrl = ""
    # after completion, send the signed PDFs into the patient's MAX chat
    send_signed_copies: bool = True


class GoskeySettings(Section):
    base_url: WebUrl = "https://platform-api2.max.ru/gov/pep"
    token: Secret = SecretStr("")
    ca_bundle: OptionalPath = None
    timeout: PositiveDuration = _seconds(30)


class EsiaSettings(Section):
    base_url: WebUrl = "https://esia.gosuslugi.ru"
    client_id: str = ""
    redirect_url: OptionalWebUrl = ""
    ca_bundle: OptionalPath = None
    timeout: PositiveDuration = _seconds(30)
    # The client system signs its requests to ESIA as the organisation that registered it:
    # its key lives in signing.key_store under key_code, its certificate must name ogrn/inn.
    key_code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")] = (
        "medsign-esia")
    organization: str = ""
    ogrn: Annotated[str, Field(pattern=r"^(\d{13}|\d{15})?$")] = ""
    inn: Annotated[str, Field(pattern=r"^(\d{10}|\d{12})?$")] = ""


class AppSettings(Section):
    """The patient's app «К врачу» (docs/patient-app.md)."""

    name: Annotated[str, Field(min_length=1, max_length=45)] = "К врачу"
    short_name: Annotated[str, Field(min_length=1, max_length=12)] = "К врачу"
    # this installation's name in the default region list (empty: its host name)
    region: Annotated[str, Field(max_length=100)] = ""
    # the installations a patient chooses from at the first start; empty: this one alone
    regions: Regions = ()


_RP_ID = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"


class QuickLoginSettings(Section):
    """Quick login in the app «К врачу» (PIN and biometrics on a bound device,
    ``docs/patient-app.md``). Empty ``webauthn_rp_id``/``webauthn_origin``: the host and the
    origin of ``server.public_url``."""

    enabled: bool = True
    pin_attempts: Annotated[int, Field(ge=1, le=10)] = 5
    challenge_ttl: PositiveDuration = _seconds(120)
    device_lifetime: PositiveDuration = _seconds(180 * 86400)
    webauthn_rp_id: Annotated[str, Field(max_length=253, pattern=_RP_ID + "|^$")] = ""
    webauthn_origin: OptionalWebUrl = ""


class EmailSettings(Section):
    """Outgoing e-mail (password reset links). ``smtp_host`` empty: no e-mail is sent and the
    portal says that a password is reset at the clinic."""

    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    starttls: bool = True
    ssl: bool = False
    username: str = ""
    password: Secret = SecretStr("")
    sender: str = ""
    timeout: PositiveDuration = _seconds(30)
    reset_link_ttl: PositiveDuration = _seconds(3600)

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_host.strip())


class RateLimit(Section):
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    burst: Annotated[int, Field(ge=1)]


_DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    # A little under the platform's 30/s with a short burst: arrival jitter must never let
    # the platform count 31 in its one-second bucket (bench/notifications.py: 29.0/s, no 429).
    "max": {"rate": 29.0, "burst": 10},
    "goskey": {"rate": 30.0, "burst": 30},
    "esia": {"rate": 10.0, "burst": 10},
    "mis": {"rate": 20.0, "burst": 20},
}


class RateLimitSettings(Section):
    """Per external API, shared by all workers; ``max_per_chat`` is MAX's own per-chat limit."""

    max: RateLimit = RateLimit.model_validate(_DEFAULT_LIMITS["max"])
    goskey: RateLimit = RateLimit.model_validate(_DEFAULT_LIMITS["goskey"])
    esia: RateLimit = RateLimit.model_validate(_DEFAULT_LIMITS["esia"])
    mis: RateLimit = RateLimit.model_validate(_DEFAULT_LIMITS["mis"])
    max_per_chat: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2.0

    @model_validator(mode="before")
    @classmethod
    def _fill_partial_tables(cls, data: Any) -> Any:
        """``MEDSIGN_RATE_LIMITS__MAX__RATE=5`` alone keeps the default ``burst`` of MAX."""
        if not isinstance(data, dict):
            return data
        filled = {
            name: {**_DEFAULT_LIMITS[name], **value}
            for name, value in data.items()
            if name in _DEFAULT_LIMITS and isinstance(value, dict)
        }
        return {**data, **filled}


class HousekeepingSettings(Section):
    """How long finished records are kept before the runner's housekeeping deletes them."""

    interval: PositiveDuration = _seconds(3600)
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    finished_work_items: PositiveDuration = _seconds(30 * 86400)
    max_updates: PositiveDuration = _seconds(30 * 86400)
    idempotency_keys: PositiveDuration = _seconds(30 * 86400)
    link_tokens: PositiveDuration = _seconds(30 * 86400)
    webhook_history: PositiveDuration = _seconds(30 * 86400)


_MoCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
_AlertAddress = Annotated[str, Field(max_length=254,
                                     pattern=r"^[^@\s<>]+@[^@\s<>.]+(\.[^@\s<>.]+)+$")]


class ConsoleSettings(Section):
    """The operators' console: when an active signing transaction counts as stalled (the
    badge, the «требуют внимания» list and the ``medsign_signing_alerts`` metric).

    ``alert_emails``: who gets an e-mail when a transaction fails or stalls, by МО code
    (``"*"``: every МО); empty: nobody. Mail goes out only when ``[email]`` is set too."""

    stall_after: PositiveDuration = _seconds(30 * 60)
    alert_emails: dict[_MoCode, list[_AlertAddress]] = Field(default_factory=dict)


class LoggingSettings(Section):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    format: Literal["json", "text"] = "json"


# The sources of the load in progress; none outside load_settings. pydantic-settings asks
# the class for its sources, while the file and the variables differ from call to call
# (--config, tests): a context variable carries them into one construction, thread-safely.
_chosen_sources: ContextVar[tuple[PydanticBaseSettingsSource, ...]] = ContextVar(
    "medsign_settings_sources", default=())


class Settings(BaseSettings):
    """Everything medsign can be told, already parsed: durations are ``timedelta``, sizes bytes."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, validate_default=True,
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_SEPARATOR, case_sensitive=False,
    )

    profile: Profile = "development"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    max: MaxSettings = Field(default_factory=MaxSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    goskey: GoskeySettings = Field(default_factory=GoskeySettings)
    esia: EsiaSettings = Field(default_factory=EsiaSettings)
    app: AppSettings = Field(default_factory=AppSettings)
    quick_login: QuickLoginSettings = Field(default_factory=QuickLoginSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    housekeeping: HousekeepingSettings = Field(default_factory=HousekeepingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the chosen sources in their order of precedence; never the
        process environment on its own (``env_settings``) — :func:`load_settings` passes it
        through a source that also reports unknown names."""
        return (init_settings, *_chosen_sources.get())


@contextmanager
def reading(sources: Sequence[PydanticBaseSettingsSource]) -> Iterator[None]:
    """``Settings()`` inside takes its values from ``sources`` (the first one wins)."""
    token = _chosen_sources.set(tuple(sources))
    try:
        yield
    finally:
        _chosen_sources.reset(token)
