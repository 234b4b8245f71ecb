"""Settings as flat ``(dotted key, text)`` pairs, secrets masked — for ``check-config --show``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from medsign.config import units
from medsign.config.errors import MASK
from medsign.config.fields import Display, mask_url_password
from medsign.config.model import Settings


def display_value(value: object, field: FieldInfo | None = None) -> str:
    """The text form a value is shown (and can be written back) in; secrets as ``***``."""
    marker = next((m for m in (field.metadata if field else []) if isinstance(m, Display)), None)
    if marker is not None:
        return marker.format(value)
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, timedelta):
        return units.format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return mask_url_password(value)
    return "" if value is None else str(value)


def _flatten(model: BaseModel, prefix: str) -> Iterator[tuple[str, str]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", display_value(value, field)


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """Every leaf of the settings in declaration order, e.g. ``("runner.lease", "1m")``."""
    return list(_flatten(settings, ""))
