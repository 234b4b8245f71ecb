"""The one typed settings object of medsign: a TOML file plus ``MEDSIGN_*`` overrides.

    settings = load_settings()                 # ./medsign.toml if present, else defaults
    settings = load_settings(Path("prod.toml"), env={"MEDSIGN_PROFILE": "production"})

Environment variables override the file: ``MEDSIGN_<SECTION>__<KEY>`` (double underscore
between the parts, any case), e.g. ``MEDSIGN_DATABASE__URL``, ``MEDSIGN_RATE_LIMITS__MAX__RATE``,
and ``MEDSIGN_PROFILE`` for the top-level key. ``MEDSIGN_CONFIG`` names the file when no path
is passed; ``MEDSIGN_TEST_*`` is left to test suites. Any other unknown ``MEDSIGN_*`` variable
is a problem (a typo). Every knob and its default: ``docs/configuration.md``.

``Settings`` is a pydantic-settings ``BaseSettings``: its TOML and environment sources
(``sources.py``) read the values, ``loader.py`` turns whatever is wrong into problems and
``rules.py`` checks what involves several keys or the profile.

Exceptions::

    ConfigError          .problems: list[Problem] — everything found, not only the first
"""

from medsign.config.describe import describe_settings
from medsign.config.errors import ConfigError, Problem
from medsign.config.loader import DEFAULT_CONFIG_PATH, load_settings
from medsign.config.model import (
    ConsoleSettings,
    DatabaseSettings,
    EsiaSettings,
    GoskeySettings,
    HousekeepingSettings,
    LoggingSettings,
    MaxSettings,
    NotificationSettings,
    Profile,
    RateLimit,
    RateLimitSettings,
    RunnerSettings,
    ServerSettings,
    Settings,
    SigningSettings,
    WebhookSettings,
)
from medsign.config.rules import settings_warnings
from medsign.config.sources import CONFIG_PATH_VARIABLE
from medsign.config.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "DEFAULT_CONFIG_PATH",
    "ConfigError",
    "ConsoleSettings",
    "DatabaseSettings",
    "EsiaSettings",
    "GoskeySettings",
    "HousekeepingSettings",
    "LoggingSettings",
    "MaxSettings",
    "NotificationSettings",
    "Problem",
    "Profile",
    "RateLimit",
    "RateLimitSettings",
    "RunnerSettings",
    "ServerSettings",
    "Settings",
    "SigningSettings",
    "WebhookSettings",
    "describe_settings",
    "format_duration",
    "format_size",
    "load_settings",
    "parse_duration",
    "parse_size",
    "settings_warnings",
]
