"""Structured logging with a correlation id and masking of personal data.

Every line is one JSON object (or a readable line with ``format = "text"``) carrying the
correlation id of the API request or runner step it belongs to. Phone numbers, passport
numbers, tokens and full names are masked in the message and in every extra field — a log is
not a place for personal data (152-ФЗ), and a leaked token is a breach.
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

_PHONE = re.compile(
    r"(?<!\d)(?:\+7|8|7)[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*(\d{2})(?!\d)")
_PASSPORT = re.compile(r"(?<!\d)\d{2}\s?\d{2}\s?№?\s?\d{6}(?!\d)")
_TOKEN = re.compile(r"(?i)\b(bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?|token[\"']?\s*[:=]\s*"
                    r"[\"']?|ms_)([A-Za-z0-9._~+/=\-]{6,})")
# Three capitalised Cyrillic words: "Иванов Иван Иванович" (surname, name, patronymic).
_FULL_NAME = re.compile(
    r"\b[А-ЯЁ][а-яё\-]+\s+[А-ЯЁ][а-яё]+\s+[А-ЯЁ][а-яё]+(?:вич|вна|чна|ич|оглы|кызы)\b")
_SENSITIVE_KEYS = re.compile(r"(?i)(phone|token|secret|password|passport|authorization|"
                             r"last_name|first_name|middle_name|full_name|patient_name|snils)")
_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def mask(text: str) -> str:
    text = _TOKEN.sub(lambda m: m.group(1) + "***", text)
    text = _PHONE.sub(lambda m: "+7******" + m.group(1), text)
    text = _PASSPORT.sub("** ** ******", text)
    return _FULL_NAME.sub("*** *** ***", text)


def mask_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEYS.search(key):
        return "***"
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, v) for v in value]
    return value


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
        entry.update(_extras(record))
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
