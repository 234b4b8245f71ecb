"""Where settings come from, as pydantic-settings sources that also say what is wrong.

:class:`FileSource` reads the TOML file (a ``TomlConfigSettingsSource``), :class:`EnvironmentSource`
the ``MEDSIGN_<SECTION>__<KEY>`` variables (an ``EnvSettingsSource``). Each passes on only
the keys :class:`Settings` has, records where each came from (``origins``: dotted key ->
file path or variable name) and turns every other key into a :class:`Problem` that names
the closest known one: a typo must not pass in silence. Types and ranges are validation's.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)

from medsign.config import schema
from medsign.config.errors import MASK, Problem
from medsign.config.fields import mask_url_password
from medsign.config.model import ENV_PREFIX, ENV_SEPARATOR

CONFIG_PATH_VARIABLE = "MEDSIGN_CONFIG"


class FileSource(TomlConfigSettingsSource):
    """The known keys of a TOML file. Reading raises what ``tomllib`` and ``open`` raise."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls, toml_file=path)
        self.origins: dict[str, str] = {}
        self.problems: list[Problem] = []
        self._known = self._take_known(self.toml_data, "", str(path))

    def _take_known(self, table: dict[str, Any], prefix: str, source: str) -> dict[str, Any]:
        known: dict[str, Any] = {}
        for name, value in table.items():
            key = prefix + name
            if key not in schema.all_fields():
                self.problems.append(_unknown_in_file(key, value, source))
            elif not schema.is_section(key):
                known[name], self.origins[key] = value, source
            elif isinstance(value, dict):
                known[name], self.origins[key] = self._take_known(value, key + ".", source), source
            else:  # a scalar where a table belongs: dropped, so that the variables still apply
                expected = schema.expected_text(schema.all_fields()[key])
                self.problems.append(Problem(key, shown(key, value), expected, source))
        return known

    def __call__(self) -> dict[str, Any]:
        return self._known


def _unknown_in_file(key: str, value: object, source: str) -> Problem:
    if key in schema.REMOVED:
        return Problem(key, shown(key, value), schema.REMOVED[key], source)
    guess = schema.suggest(key)
    hint = f"; возможно, имелось в виду «{guess}»" if guess else " (см. docs/configuration.md)"
    return Problem(key, shown(key, value, guess), "известный ключ" + hint, source)


class EnvironmentSource(EnvSettingsSource):
    """``MEDSIGN_*`` variables of ``environ`` (names in any case) for the keys Settings has.

    ``MEDSIGN_CONFIG`` (the file), ``MEDSIGN_TEST_*`` (test suites) and
    ``MEDSIGN_KEY_PASSWORD_*`` (PKCS#12 passwords of МО) are not settings; any
    other unknown ``MEDSIGN_*`` name is a problem, and so is a whole section (``MEDSIGN_RUNNER``):
    a variable sets one key.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.origins: dict[str, str] = {}
        self.problems: list[Problem] = []
        known: dict[str, str | None] = {}
        for name, value in environ.items():
            upper = name.upper()
            if not upper.startswith(ENV_PREFIX) or _reserved(upper):
                continue
            key = upper.removeprefix(ENV_PREFIX).lower().replace(ENV_SEPARATOR, ".")
            if key in schema.leaf_keys():
                known[name.lower()], self.origins[key] = value, name
            else:
                self.problems.append(_unknown_in_env(key, value, name))
        # The names EnvSettingsSource looks keys up in (lower case, as the model is not case
        # sensitive): the given mapping's known ones instead of the whole process environment.
        self.env_vars = known


# An МО's PKCS#12 password (medsign.signing.identities), not a setting.
KEY_PASSWORD_PREFIX = "MEDSIGN_KEY_PASSWORD_"


def _reserved(upper_name: str) -> bool:
    return (upper_name == CONFIG_PATH_VARIABLE or upper_name.startswith("MEDSIGN_TEST_")
            or upper_name.startswith(KEY_PASSWORD_PREFIX))


def _unknown_in_env(key: str, value: str, variable: str) -> Problem:
    if key in schema.REMOVED:
        return Problem(key, shown(key, value), schema.REMOVED[key], variable)
    guess = schema.suggest(key, leaves_only=True)
    hint = f"; возможно, имелось в виду {schema.env_name(guess)}" if guess else ""
    expected = "известная переменная MEDSIGN_<РАЗДЕЛ>__<КЛЮЧ>" + hint
    return Problem(key, shown(key, value, guess), expected, variable)


class Without(PydanticBaseSettingsSource):
    """Another source less some sections: after a type error in one section the rules still
    check the others, with the failed ones at their defaults."""

    def __init__(self, source: PydanticBaseSettingsSource, sections: Collection[str]) -> None:
        super().__init__(source.settings_cls)
        self.source, self.sections = source, frozenset(sections)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ answers for the whole model

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self.source().items()
                if name not in self.sections}


_SECRET_WORDS = ("token", "secret", "passw", "key")


def shown(key: str, value: object, guess: str | None = None) -> str:
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
