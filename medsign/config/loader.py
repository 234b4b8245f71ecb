"""Loading the configuration: one TOML file, ``MEDSIGN_*`` variables over it, then checks.

pydantic-settings reads and merges the two (``sources.py``, :class:`Settings`); this module
collects what is wrong into one list of problems instead of stopping at the first, so an
operator fixes a configuration in one round: syntax, unknown keys (with the likely intended
key), types and ranges (pydantic's errors, retold in Russian), then rules over several keys.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import PydanticBaseSettingsSource

from medsign.config import schema
from medsign.config.errors import ConfigError, Problem
from medsign.config.fields import CUSTOM_ERROR
from medsign.config.model import Settings, reading
from medsign.config.rules import check_rules
from medsign.config.sources import (
    CONFIG_PATH_VARIABLE,
    EnvironmentSource,
    FileSource,
    Without,
    shown,
)

DEFAULT_CONFIG_PATH = Path("medsign.toml")


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None, *,
                  check_files: bool = True) -> Settings:
    """Settings from ``path`` (default ``./medsign.toml`` if present) and ``env`` overrides
    (default ``os.environ``). ``check_files=False``: files and folders the settings name need
    not exist yet (for ``restore``, which brings them).

    Raises :class:`ConfigError` listing every problem found. Warnings (workable but doubtful
    choices) are not raised: ask :func:`settings_warnings` and show them.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    chosen = _choose_file(path, env)
    file = _read_file(chosen, problems) if chosen is not None else None
    environment = EnvironmentSource(Settings, env)
    problems += environment.problems
    if chosen is not None and file is None:
        raise ConfigError(problems)
    sources: list[PydanticBaseSettingsSource] = [environment]  # the variables win
    origins = dict(environment.origins)
    if file is not None:
        sources.append(file)
        origins = {**file.origins, **origins}
    settings = _validate(sources, origins, problems, check_files=check_files)
    if problems:
        raise ConfigError(problems)
    return settings


def _choose_file(path: Path | None, env: Mapping[str, str]) -> Path | None:
    named = path or (Path(env[CONFIG_PATH_VARIABLE]) if env.get(CONFIG_PATH_VARIABLE) else None)
    if named is None:
        return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None
    if not named.is_file():
        raise ConfigError([Problem("", "не найден", "существующий файл настроек TOML", str(named))])
    return named


def _read_file(path: Path, problems: list[Problem]) -> FileSource | None:
    """The file as a source (its unknown keys already among ``problems``); None when it
    cannot be read or parsed."""
    try:
        source = FileSource(Settings, path)
    except tomllib.TOMLDecodeError as error:
        problems.append(_syntax_problem(path, error))
    except UnicodeDecodeError:
        problems.append(Problem("", "не UTF-8", "текст TOML в кодировке UTF-8", str(path)))
    except OSError as error:
        problems.append(Problem("", error.strerror or "", "читаемый файл", str(path)))
    else:
        problems += source.problems
        return source
    return None


_POSITION_RE = re.compile(r"(.*) \(at line (\d+), column (\d+)\)$")


def _syntax_problem(path: Path, error: tomllib.TOMLDecodeError) -> Problem:
    match = _POSITION_RE.match(str(error))
    if match is None:
        return Problem("", str(error), "правильный синтаксис TOML", str(path))
    reason, line, column = match.groups()
    where = f"строка {line}, столбец {column}: {reason}"
    return Problem("", where, "правильный синтаксис TOML", str(path))


def _validate(sources: Sequence[PydanticBaseSettingsSource], origins: dict[str, str],
              problems: list[Problem], *, check_files: bool) -> Settings:
    """Types first; the rules then run on what did validate (failed sections at defaults)."""
    failed: set[str] = set()
    try:
        settings = _settings_from(sources)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        problems += [_from_pydantic(e, origins) for e in errors]
        failed = {str(e["loc"][0]) for e in errors if e["loc"]}
        settings = _settings_from([Without(source, failed) for source in sources])
    problems += [
        Problem(p.key, p.value, p.expected, origins.get(p.key, ""))
        for p in check_rules(settings, files=check_files)
        if p.key.split(".")[0] not in failed
    ]
    return settings


def _settings_from(sources: Sequence[PydanticBaseSettingsSource]) -> Settings:
    with reading(sources):
        return Settings()


def _from_pydantic(error: ErrorDetails, origins: dict[str, str]) -> Problem:
    key = ".".join(str(part) for part in error["loc"])
    found = schema.find_field(error["loc"])
    if error["type"] == CUSTOM_ERROR or found is None:
        expected = error["msg"]
    else:
        expected = schema.expected_text(found)
    if error["type"] == "missing":
        return Problem(key, "", "обязательный ключ: " + expected, origins.get(key, ""))
    return Problem(key, shown(key, error.get("input")), expected, origins.get(key, ""))
