"""Human-friendly units of the configuration file: durations and sizes.

Parsers take whatever TOML or the environment gave (``str``, ``int``, ``float``) and raise
``ValueError`` with a Russian explanation of the accepted forms; formatters turn a value
back into the shortest form the parser accepts, for ``check-config --show``.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_FORMS = "длительность: «30s», «15m», «24h», «1d», «1h30m» или число секунд"
SIZE_FORMS = "размер: «512KiB», «20MiB», «1GiB», «100B» или число байт"
QUIET_HOURS_FORMS = "интервал «ЧЧ:ММ-ЧЧ:ММ», например «21:00-09:00» (равные концы — без тишины)"

_MAX_SECONDS = 100 * 365 * 86400
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")
_SIZE_UNITS = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_SIZE_RE = re.compile(r"(\d+)\s*([kmg]ib|b)")


def parse_duration(value: object) -> timedelta:
    """``"1h30m"``, ``"30s"``, ``"1d"``, ``90`` or ``"90"`` (seconds) -> ``timedelta``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _duration_text_seconds(value)
    else:
        raise ValueError(DURATION_FORMS)
    if not 0 <= seconds <= _MAX_SECONDS:  # also refuses TOML's nan and inf
        raise ValueError(DURATION_FORMS + " (от 0 до 100 лет)")
    return timedelta(seconds=seconds)


def _duration_text_seconds(text: str) -> float:
    text = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None:
        raise ValueError(DURATION_FORMS)
    parts = zip(match.groups(), _DURATION_UNITS.values(), strict=True)
    return sum(float(number) * unit for number, unit in parts if number is not None)


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration`; hours are the largest unit (``24h``, not ``1d``)."""
    seconds = value.total_seconds()
    whole = int(seconds)
    if seconds != whole:
        return f"{seconds:g}s"
    if whole == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_size(value: object) -> int:
    """``"20MiB"``, ``"512KiB"``, ``"100B"``, ``1048576`` or ``"1048576"`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        number = _size_text_bytes(value)
    else:
        raise ValueError(SIZE_FORMS)
    if number < 0:
        raise ValueError(SIZE_FORMS + " (не отрицательный)")
    return number


def _size_text_bytes(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise ValueError(SIZE_FORMS)
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def format_size(value: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)
