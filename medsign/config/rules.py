"""Rules over several keys, the filesystem and the profile — checked after the types are.

``check_rules`` finds problems (the configuration is refused); ``settings_warnings`` finds
doubtful but workable choices, for ``check-config`` and the startup log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from email.utils import parseaddr
from pathlib import Path
from typing import get_args

from pydantic import SecretStr

from medsign.config import schema
from medsign.config.describe import display_value
from medsign.config.errors import Problem
from medsign.config.fields import Folder
from medsign.config.model import Settings
from medsign.config.units import format_duration, format_size
from medsign.domain.app_devices import relying_party, relying_party_problem

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "demo", "test", "secret", "token"})
MIN_SECRET_LENGTH = 16
EXTERNAL_URL_KEYS = (
    "server.public_url",
    "max.base_url",
    "max.goskey_bot_url",
    "max.bot_deep_link_base",
    "goskey.base_url",
    "esia.base_url",
    "esia.redirect_url",
)
GOSKEY_PREFIX = "/gov/pep"

_TRUST_STORE_REQUIRED = (
    "в production — путь к PEM с сертификатами УЦ оператора (пусто — сертификат эмулятора)"
)
_JOURNAL_REQUIRED = (
    "в production — каталог журнала транзакций на другом диске, чем база данных (пусто — "
    "var/journal/); без него транзакции, начатые после резервной копии, не найти при сверке"
)
_KEY_STORE_REQUIRED = (
    "в production — каталог хранилища ключей МО (пусто — var/keys/ с ключами разработки); "
    "ключи и сертификаты кладёт туда «medsign keys import»"
)
_MO_TRUST_REQUIRED = (
    "в production — путь к PEM с сертификатами УЦ, выдающих сертификаты МО "
    "(пусто — тестовый УЦ разработки)"
)
_NO_PURE_IN_PRODUCTION = (
    "в production — «openssl» (OpenSSL с движком ГОСТ) или «external» (сертифицированное "
    "средство подписи); «pure» — реализация ГОСТ на Python, не работающая за постоянное время "
    "и не сертифицированная, — только при signing.allow_pure_in_production = true"
)
_PURE_IN_PRODUCTION = (
    "«openssl» или «external»: подписи МО делает реализация ГОСТ на Python — она не работает "
    "за постоянное время (время подписи выдаёт сведения о ключе) и не является "
    "сертифицированным средством электронной подписи (разрешено настройкой "
    "signing.allow_pure_in_production = true)"
)
_REDIRECT_REQUIRED = "адрес возврата из ЕСИА: в production обязателен при заданном esia.client_id"
_ESIA_REQUISITES_REQUIRED = (
    "реквизиты организации, зарегистрировавшей систему-клиент в ЕСИА: в production обязательны "
    "при заданном esia.client_id (её сертификат в signing.key_store/<esia.key_code> должен их "
    "называть)")
_USE_POSTGRES = "PostgreSQL для production (SQLite работает, но только на одном сервере)"
_NO_SQL_ECHO = "false в production: журнал SQL содержит персональные данные"
_NO_PREFIX = f"адрес, оканчивающийся на {GOSKEY_PREFIX} (пути API партнёра — от него: /v1/…)"


def value_at(settings: Settings, key: str) -> object:
    node: object = settings
    for part in key.split("."):
        node = getattr(node, part)
    return node


def problem(settings: Settings, key: str, expected: str) -> Problem:
    shown = display_value(value_at(settings, key), schema.all_fields()[key])
    return Problem(key=key, value=shown, expected=expected)


def check_rules(settings: Settings, *, files: bool = True) -> list[Problem]:
    """Every broken rule; ``files=False`` leaves out whether the named files and folders
    exist (``restore`` on a new machine puts them there from the backup set)."""
    problems = _consistency(settings) + (list(_unreadable_files(settings)) if files else [])
    if settings.profile == "production":
        problems += _production(settings)
    return problems


def _consistency(s: Settings) -> list[Problem]:
    runner, signing, notes, bot, mail = s.runner, s.signing, s.notifications, s.max, s.email
    twice_poll = 2 * runner.poll_interval
    checks = [
        (
            runner.backoff_cap >= runner.backoff_base,
            "runner.backoff_cap",
            f"не меньше runner.backoff_base ({format_duration(runner.backoff_base)})",
        ),
        (
            runner.lease > twice_poll,
            "runner.lease",
            f"больше 2 × runner.poll_interval, то есть больше {format_duration(twice_poll)}",
        ),
        (
            signing.poll_interval_max >= signing.poll_interval,
            "signing.poll_interval_max",
            f"не меньше signing.poll_interval ({format_duration(signing.poll_interval)})",
        ),
        (
            signing.max_uncompressed_bytes >= signing.max_archive_bytes,
            "signing.max_uncompressed_bytes",
            f"не меньше signing.max_archive_bytes ({format_size(signing.max_archive_bytes)})",
        ),
        (
            notes.min_lead < notes.offset,
            "notifications.min_lead",
            f"меньше notifications.offset ({format_duration(notes.offset)})",
        ),
        (
            signing.signer != "external" or bool(signing.signer_command.strip()),
            "signing.signer_command",
            "команда подписания: обязательна при signing.signer = «external»",
        ),
        (
            bot.updates != "webhook" or bool(bot.webhook_secret.get_secret_value()),
            "max.webhook_secret",
            "секрет вебхука: обязателен при max.updates = «webhook»",
        ),
        (
            not (mail.ssl and mail.starttls),
            "email.ssl",
            "одно из двух: ssl = true (TLS сразу, обычно порт 465) или starttls = true "
            "(порт 587), не оба",
        ),
        (
            not mail.enabled or bool(EMAIL_ADDRESS.fullmatch(_address_of(mail.sender))),
            "email.sender",
            "адрес отправителя писем, например «Портал пациента <noreply@example.ru>»: "
            "обязателен при заданном email.smtp_host",
        ),
        (
            not mail.password.get_secret_value() or bool(mail.username.strip()),
            "email.username",
            "имя пользователя SMTP: обязательно, когда задан email.password",
        ),
    ]
    found = [problem(s, key, expected) for ok, key, expected in checks if not ok]
    return found + list(_quick_login(s))


def _quick_login(s: Settings) -> Iterator[Problem]:
    """WebAuthn refuses an RP ID that is an IP address or not the origin's host (suffix).
    Only a value set on purpose is refused; one derived from ``server.public_url`` at an IP
    address is not refused: biometrics is then not offered, the PIN still works."""
    q = s.quick_login
    if not q.enabled or not (q.webauthn_rp_id or q.webauthn_origin):
        return
    rp_id, origin = relying_party(s.server.public_url, q.webauthn_rp_id, q.webauthn_origin)
    wrong = relying_party_problem(rp_id, origin)
    if wrong is not None:
        yield problem(s, "quick_login.webauthn_rp_id", wrong)


EMAIL_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>.]+(\.[^@\s<>.]+)+")


def _address_of(sender: str) -> str:
    """``noreply@x.ru`` of ``Портал <noreply@x.ru>`` (or of the bare address)."""
    return parseaddr(sender)[1] if "<" in sender else sender.strip()


def _path_keys(*, folders: bool) -> list[str]:
    fields = schema.all_fields()
    return [key for key in schema.leaf_keys() if Path in get_args(fields[key].annotation)
            and any(isinstance(m, Folder) for m in fields[key].metadata) == folders]


def _unreadable_files(settings: Settings) -> Iterator[Problem]:
    for key in _path_keys(folders=False):
        path = value_at(settings, key)
        if isinstance(path, Path) and not (path.is_file() and os.access(path, os.R_OK)):
            yield problem(settings, key, "путь к существующему читаемому файлу или пусто")
    for source in settings.signing.crls:  # a URL is fetched later, and may be down for now
        if "://" not in source and not (Path(source).is_file() and os.access(source, os.R_OK)):
            yield problem(settings, "signing.crls", "список существующих читаемых файлов CRL или "
                                                    f"адресов http(s)://; не читается: {source}")
    for key in _path_keys(folders=True):
        path = value_at(settings, key)
        if isinstance(path, Path) and not path.is_dir():
            yield problem(settings, key, "путь к существующему каталогу или пусто")


def is_placeholder(secret: SecretStr) -> bool:
    text = secret.get_secret_value().strip()
    lowered = text.lower()
    return lowered in PLACEHOLDER_SECRETS or len(text) < MIN_SECRET_LENGTH or "changeme" in lowered


def _production(s: Settings) -> list[Problem]:
    return (
        list(_placeholder_secrets(s))
        + list(_plain_http(s))
        + list(_development_crypto(s))
        + list(_esia_redirect(s))
    )


def _placeholder_secrets(s: Settings) -> Iterator[Problem]:
    keys = ["max.token", "goskey.token"]
    if s.max.updates == "webhook" and s.max.webhook_secret.get_secret_value():
        keys.append("max.webhook_secret")  # an empty one is already a consistency problem
    expected = f"настоящий секрет в production: не заглушка, не короче {MIN_SECRET_LENGTH} символов"
    for key in keys:
        secret = value_at(s, key)
        if isinstance(secret, SecretStr) and is_placeholder(secret):
            yield problem(s, key, expected)


def _plain_http(s: Settings) -> Iterator[Problem]:
    for key in EXTERNAL_URL_KEYS:
        if str(value_at(s, key)).startswith("http://"):
            yield problem(s, key, "адрес https:// (в production http:// не допускается)")


def _development_crypto(s: Settings) -> Iterator[Problem]:
    if s.signing.trust_store is None:
        yield problem(s, "signing.trust_store", _TRUST_STORE_REQUIRED)
    if s.signing.signer == "pure" and not s.signing.allow_pure_in_production:
        yield problem(s, "signing.signer", _NO_PURE_IN_PRODUCTION)
    if s.signing.key_store is None:
        yield problem(s, "signing.key_store", _KEY_STORE_REQUIRED)
    if s.signing.mo_trust_store is None:
        yield problem(s, "signing.mo_trust_store", _MO_TRUST_REQUIRED)
    if s.signing.transaction_journal is None:
        yield problem(s, "signing.transaction_journal", _JOURNAL_REQUIRED)


def _esia_redirect(s: Settings) -> Iterator[Problem]:
    if s.esia.client_id and not s.esia.redirect_url:
        yield problem(s, "esia.redirect_url", _REDIRECT_REQUIRED)
    if s.esia.client_id:
        for key in ("esia.ogrn", "esia.inn"):
            if not value_at(s, key):
                yield problem(s, key, _ESIA_REQUISITES_REQUIRED)


_MAIL_IN_THE_CLEAR = ("starttls = true или ssl = true: без TLS пароль SMTP и ссылки для нового "
                      "пароля пациента идут по сети открытым текстом")


def settings_warnings(settings: Settings) -> list[Problem]:
    """Choices that work but are probably not meant; never a reason to refuse."""
    production = settings.profile == "production"
    doubts = [
        (production and settings.database.url.startswith("sqlite"), "database.url", _USE_POSTGRES),
        (production and settings.database.echo, "database.echo", _NO_SQL_ECHO),
        (not settings.goskey.base_url.endswith(GOSKEY_PREFIX), "goskey.base_url", _NO_PREFIX),
        (production and settings.signing.signer == "pure", "signing.signer",
         _PURE_IN_PRODUCTION),  # allowed, or check_rules would have refused it
        (production and settings.email.enabled and not (settings.email.ssl
                                                        or settings.email.starttls),
         "email.starttls", _MAIL_IN_THE_CLEAR),
    ]
    return [problem(settings, key, expected) for doubtful, key, expected in doubts if doubtful]
