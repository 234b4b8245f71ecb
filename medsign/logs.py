"""Structured logging with a correlation id and masking of personal data.

Every line is one JSON object (or a readable line with ``format = "text"``) carrying the
correlation id of the API request or runner step it belongs to. Phone numbers, passport
numbers, СНИЛС, tokens and full names are masked in the message and in every extra field — a
log is not a place for personal data (152-ФЗ), and a leaked token is a breach.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation",
                                                                          default=None)

# Separators people and office programs put into numbers: spaces (also no-break), hyphens and
# dashes, brackets. A phone is +7/8/7 and ten digits however grouped: +7 (999) 123-45-67,
# 8 999 1234567, +7 999 12 34 567, +7\u00a0999\u00a0123\u201145\u201167.
_SEP = r"(?:[\s\u00a0\u2010-\u2015()\-]|\\xa0)*"  # "\\xa0": a no-break space in a repr()
_PHONE = re.compile(rf"(?<![\d+])(?:\+7|8|7){_SEP}(?:\d{_SEP}){{8}}(\d){_SEP}(\d)(?!\d)")
# 45 06 123456, 4506123456, 45 06 № 123456, 4506 номер 123456 (after "серия").
_PASSPORT = re.compile(r"(?<!\d)\d{2}[\s\u00a0]?\d{2}[\s\u00a0]*(?:№|N|номер)?[\s\u00a0]*"
                       r"\d{6}(?!\d)")
# СНИЛС as people write it: 112-233-445 95, 112-233-445-95. (Its stored form, 11 bare digits,
# is masked by its key, ``snils``: as free text it cannot be told from an id.)
_SNILS = re.compile(r"(?<!\d)\d{3}-\d{3}-\d{3}(?:[\s\u00a0-]|\\xa0)\d{2}(?!\d)")
# "Authorization: Bearer X" masks X, not the word "Bearer".
_TOKEN = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?|bearer\s+|"
                    r"token[\"']?\s*[:=]\s*[\"']?|ms_)([A-Za-z0-9._~+/=\-]{6,})")
# A full name in the usual notations: "Иванов Иван Иванович", "Иван Иванович Иванов",
# "ИВАНОВ ИВАН ИВАНОВИЧ", "Салтыков-Щедрин Михаил Евграфович", "Иванов И. И.", "И. И. Иванов".
_WORD = r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_UPPER_WORD = r"[А-ЯЁ]{2,}(?:-[А-ЯЁ]{2,})?"
_PATRONYMIC = r"[А-ЯЁ][а-яё]+(?:вич|вна|чна|ич)(?:\s+(?:оглы|кызы))?"
_INITIALS = r"[А-ЯЁ]\.\s?[А-ЯЁ]\."
_FULL_NAME = re.compile(
    # A capitalised word before "Иван Иванович Иванов" ("Пациент …") is taken along with it.
    rf"\b(?:{_WORD}\s+{_WORD}\s+{_PATRONYMIC}(?:\s+{_WORD})?|{_WORD}\s+{_PATRONYMIC}\s+{_WORD}"
    rf"|{_UPPER_WORD}\s+{_UPPER_WORD}\s+[А-ЯЁ]{{2,}}(?:ВИЧ|ВНА|ЧНА|ИЧ)"
    rf"|{_WORD}\s+{_INITIALS}(?:\s?{_WORD})?|{_INITIALS}\s?{_WORD})(?![а-яё])")
_SENSITIVE_KEYS = re.compile(r"(?i)(phone|token|secret|password|passport|authorization|"
                             r"last_name|first_name|middle_name|full_name|patient_name|snils)")
# Also uvicorn's "color_message": the message again, with terminal colour codes.
_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "color_message"}


def mask(text: str) -> str:
    text = _TOKEN.sub(lambda m: m.group(1) + "***", text)
    text = _PHONE.sub(lambda m: "+7******" + m.group(1) + m.group(2), text)
    text = _SNILS.sub("***-***-*** **", text)
    text = _PASSPORT.sub("** ** ******", text)
    return _FULL_NAME.sub("*** *** ***", text)


def mask_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEYS.search(key):
        return "***"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(key, v) for v in value]
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    # Anything else (an exception, a dataclass, a row) is logged as its text: mask that text,
    # or the JSON encoder's str() would print it unmasked.
    return mask(value if isinstance(value, str) else str(value))


def correlation_id() -> str | None:
    return _correlation.get()


@contextmanager
def bind_correlation(value: str) -> Iterator[None]:
    token = _correlation.set(value)
    try:
        yield
    finally:
        _correlation.reset(token)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: mask_value(k, v) for k, v in vars(record).items()
            if k not in _STD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
            "correlation_id": correlation_id(),
        }
        # An extra never replaces these fields (e.g. ``extra={"correlation_id": …}``).
        entry.update((k, v) for k, v in _extras(record).items() if k not in entry)
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = (f"{datetime.fromtimestamp(record.created, UTC):%Y-%m-%d %H:%M:%S} "
                f"{record.levelname:<7} [{correlation_id() or '-'}] {record.name}: "
                f"{mask(record.getMessage())} {extras}").rstrip()
        if record.exc_info:
            line += "\n" + mask(self.formatException(record.exc_info))
        return line


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
