"""Reading the configuration: one TOML file, then ``MEDSIGN_*`` variables on top, then checks.

Every stage adds to one list of problems instead of stopping at the first, so an operator
fixes a configuration in one round: syntax, unknown keys (with the likely intended key),
types and ranges (pydantic's errors, retold in Russian), then rules over several keys.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from medsign.config import schema
from medsign.config.errors import MASK, ConfigError, Problem
from medsign.config.fields import CUSTOM_ERROR, mask_url_password
from medsign.config.model import Settings
from medsign.config.rules import check_rules

DEFAULT_CONFIG_PATH = Path("medsign.toml")
CONFIG_PATH_VARIABLE = "MEDSIGN_CONFIG"


@dataclass
class _Input:
    """The merged raw configuration, where each key came from, and what is already wrong."""

    raw: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def origin(self, key: str) -> str:
        """The file or variable that gave ``key``; empty for a default."""
        return self.origins.get(key, "")


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (default ``./medsign.toml`` if present) and ``env`` overrides.

    Raises :class:`ConfigError` listing every problem found. Warnings (workable but doubtful
    choices) are not raised: ask :func:`settings_warnings` and show them.
    """
    env = os.environ if env is None else env
    given = _Input()
    source = _choose_file(path, env)
    unreadable = source is not None and not _read_file(source, given)
    _overlay_env(env, given)
    if unreadable:
        raise ConfigError(given.problems)
    settings = _validate(given)
    if given.problems:
        raise ConfigError(given.problems)
    return settings


def _choose_file(path: Path | None, env: Mapping[str, str]) -> Path | None:
    named = path or (Path(env[CONFIG_PATH_VARIABLE]) if env.get(CONFIG_PATH_VARIABLE) else None)
    if named is None:
        return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None
    if not named.is_file():
        raise ConfigError([Problem("", "не найден", "существующий файл настроек TOML", str(named))])
    return named


def _read_file(path: Path, given: _Input) -> bool:
    """Take the file's known keys into ``given``; False when it cannot be read or parsed."""
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        given.problems.append(_syntax_problem(path, error))
    except UnicodeDecodeError:
        given.problems.append(Problem("", "не UTF-8", "текст TOML в кодировке UTF-8", str(path)))
    except OSError as error:
        given.problems.append(Problem("", error.strerror or "", "читаемый файл", str(path)))
    else:
        _take_known(data, "", str(path), given)
        given.raw = data
        return True
    return False


_POSITION_RE = re.compile(r"(.*) \(at line (\d+), column (\d+)\)$")


def _syntax_problem(path: Path, error: tomllib.TOMLDecodeError) -> Problem:
    match = _POSITION_RE.match(str(error))
    if match is None:
        return Problem("", str(error), "правильный синтаксис TOML", str(path))
    reason, line, column = match.groups()
    where = f"строка {line}, столбец {column}: {reason}"
    return Problem("", where, "правильный синтаксис TOML", str(path))


def _take_known(table: dict[str, Any], prefix: str, source: str, given: _Input) -> None:
    """Record where each key came from; drop (and report) the keys Settings does not have."""
    for name, value in list(table.items()):
        key = prefix + name
        if key not in schema.all_fields():
            given.problems.append(_unknown_in_file(key, value, source))
            del table[name]
            continue
        given.origins[key] = source
        if isinstance(value, dict) and schema.is_section(key):
            _take_known(value, key + ".", source, given)


def _unknown_in_file(key: str, value: object, source: str) -> Problem:
    guess = schema.suggest(key)
    hint = f"; возможно, имелось в виду «{guess}»" if guess else " (см. docs/configuration.md)"
    return Problem(key, _shown(key, value, guess), "известный ключ" + hint, source)


def _overlay_env(env: Mapping[str, str], given: _Input) -> None:
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith(schema.ENV_PREFIX) or _reserved(upper):
            continue
        key = upper.removeprefix(schema.ENV_PREFIX).lower().replace(schema.ENV_SEPARATOR, ".")
        if key in schema.leaf_keys():
            _put(given, key, value, name)
        else:
            given.problems.append(_unknown_in_env(key, value, name))


def _reserved(upper_name: str) -> bool:
    return upper_name == CONFIG_PATH_VARIABLE or upper_name.startswith("MEDSIGN_TEST_")


def _put(given: _Input, key: str, value: str, variable: str) -> None:
    *sections, leaf = key.split(".")
    node = given.raw
    for section in sections:
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            return  # the file gave a scalar where a table belongs; reported by validation
    node[leaf] = value
    given.origins[key] = variable


def _unknown_in_env(key: str, value: str, variable: str) -> Problem:
    guess = schema.suggest(key, leaves_only=True)
    hint = f"; возможно, имелось в виду {schema.env_name(guess)}" if guess else ""
    expected = "известная переменная MEDSIGN_<РАЗДЕЛ>__<КЛЮЧ>" + hint
    return Problem(key, _shown(key, value, guess), expected, variable)


def _validate(given: _Input) -> Settings:
    """Types first; the rules then run on what did validate (failed sections use defaults)."""
    errors = _type_errors(given.raw)
    failed = {str(error["loc"][0]) for error in errors if error["loc"]}
    settings = Settings.model_validate({k: v for k, v in given.raw.items() if k not in failed})
    given.problems += [_from_pydantic(error, given) for error in errors]
    given.problems += [
        Problem(p.key, p.value, p.expected, given.origin(p.key))
        for p in check_rules(settings)
        if p.key.split(".")[0] not in failed
    ]
    return settings


def _type_errors(raw: dict[str, Any]) -> list[ErrorDetails]:
    try:
        Settings.model_validate(raw)
    except ValidationError as error:
        return error.errors(include_url=False)
    return []


def _from_pydantic(error: ErrorDetails, given: _Input) -> Problem:
    key = ".".join(str(part) for part in error["loc"])
    found = schema.find_field(error["loc"])
    if error["type"] == CUSTOM_ERROR or found is None:
        expected = error["msg"]
    else:
        expected = schema.expected_text(found)
    if error["type"] == "missing":
        return Problem(key, "", "обязательный ключ: " + expected, given.origin(key))
    return Problem(key, _shown(key, error.get("input")), expected, given.origin(key))


_SECRET_WORDS = ("token", "secret", "passw", "key")


def _shown(key: str, value: object, guess: str | None = None) -> str:
    """A raw value as given, unless it is (or, for an unknown key, may be) a secret."""
    secret = schema.is_secret(key) or bool(guess and schema.is_secret(guess))
    if not schema.all_fields().get(key):
        secret = secret or any(word in key for word in _SECRET_WORDS)
    if secret and value not in ("", None):
        return MASK
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return mask_url_password(value)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)
