"""Questions about the shape of :class:`Settings`: which keys exist, which are secret,
what each one expects (in Russian), and which known key a typo was probably meant to be."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from medsign.config.model import ENV_PREFIX, ENV_SEPARATOR, Settings


def section_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, FieldInfo]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        yield key, field
        nested = section_model(field)
        if nested is not None:
            yield from _walk(nested, key + ".")


@cache
def all_fields() -> dict[str, FieldInfo]:
    """Every key, sections and leaves, dotted: ``{"runner": ..., "runner.lease": ...}``."""
    return dict(_walk(Settings, ""))


@cache
def leaf_keys() -> tuple[str, ...]:
    return tuple(key for key, field in all_fields().items() if section_model(field) is None)


def find_field(path: Sequence[str | int]) -> FieldInfo | None:
    return all_fields().get(".".join(str(part) for part in path))


def is_section(key: str) -> bool:
    field = all_fields().get(key)
    return field is not None and section_model(field) is not None


def is_secret(key: str) -> bool:
    field = all_fields().get(key)
    return field is not None and field.annotation is SecretStr


def env_name(key: str) -> str:
    """``"rate_limits.max.rate"`` -> ``"MEDSIGN_RATE_LIMITS__MAX__RATE"``."""
    return ENV_PREFIX + key.upper().replace(".", ENV_SEPARATOR)


# Keys that existed once: a file or a variable that still sets one is told what replaced it.
_MOVED_TO_STORE = (
    "signing.key_store вместо него: ключ удалён — у каждой МО свои ключ и сертификат в "
    "хранилище ключей; перенесите их командой «medsign keys import --organization КОД "
    "--key КЛЮЧ --certificate СЕРТИФИКАТ» (docs/crypto.md)"
)
REMOVED = {"signing.key_file": _MOVED_TO_STORE, "signing.certificate_file": _MOVED_TO_STORE}


def suggest(unknown: str, *, leaves_only: bool = False) -> str | None:
    """The known key closest to a mistyped one, if any is close enough."""
    known = list(leaf_keys() if leaves_only else all_fields())
    matches = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_BOUND_WORDS = {"ge": "не меньше", "gt": "больше", "le": "не больше", "lt": "меньше"}


def _range_text(field: FieldInfo) -> str:
    bounds = {
        name: getattr(item, name)
        for item in field.metadata
        if isinstance(item, annotated_types.BaseMetadata)
        for name in _BOUND_WORDS
        if hasattr(item, name)
    }
    if "ge" in bounds and "le" in bounds:
        return f" от {_number(bounds['ge'])} до {_number(bounds['le'])}"
    words = [f"{_BOUND_WORDS[name]} {_number(limit)}" for name, limit in bounds.items()]
    return " " + " и ".join(words) if words else ""


def expected_text(field: FieldInfo) -> str:
    """What a field accepts, for types whose own validator does not already say it."""
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return "одно из: " + ", ".join(f"«{choice}»" for choice in get_args(annotation))
    if section_model(field) is not None:
        return "таблица (раздел TOML)"
    if annotation is bool:
        return "логическое значение: true или false"
    if annotation is int:
        return "целое число" + _range_text(field)
    if annotation is float:
        return "число" + _range_text(field)
    return "строка"
