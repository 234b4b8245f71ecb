"""Request checks: the official schema's shapes (:mod:`openapi_subset`) plus the documented
limits the schema does not carry (keyboard size, single-only attachments, query ranges).

Every failure is :class:`ProtoPayload` — the platform's ``400 proto.payload`` — with a message
that starts with the offending field's path, e.g. ``attachments[0].payload.buttons[0][1].text:``.
Schema quirks handled here: ``minLength`` on an array means ``minItems``; ``NewMessageBody``'s
``required`` (text, attachments, link — all nullable) is not enforced, since clients omit them.
"""

from __future__ import annotations

import re
from typing import Any

from medsign.integrations.max.emulator.openapi_subset import COMPONENTS

REF = "#/components/schemas/"
INT64 = (-(2**63), 2**63 - 1)
RELAXED_REQUIRED = frozenset({"NewMessageBody"})
SINGLE_ONLY = frozenset({"audio", "file", "sticker", "contact"})
NARROW_ROW_BUTTONS = frozenset({"link", "open_app", "request_geo_location", "request_contact"})
MAX_BUTTONS, MAX_ROWS, MAX_ROW, MAX_NARROW_ROW = 210, 30, 7, 3
OPEN_APP_PAYLOAD = re.compile(r"^[\w-]*$")
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,)}


class ProtoPayload(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_schema(value: Any, name: str) -> None:
    """Check ``value`` against the component schema ``name``."""
    _Walker().check(value, {"$ref": REF + name}, "")


class _Walker:
    def check(self, value: Any, schema: dict[str, Any], path: str,
              dispatch: bool = True) -> None:
        if "$ref" in schema:
            name = schema["$ref"][len(REF):]
            self.check_named(value, name, path, dispatch)
            return
        if value is None:
            if schema.get("nullable"):
                return
            raise ProtoPayload(f"{_label(path)}: must not be null")
        for part in schema.get("allOf", []):
            self.check(value, part, path, dispatch=False)
        _check_type(value, schema, path)
        _check_value(value, schema, path)
        self._check_children(value, schema, path)

    def check_named(self, value: Any, name: str, path: str, dispatch: bool) -> None:
        schema = COMPONENTS[name]
        discriminator = schema.get("discriminator")
        if dispatch and discriminator is not None and value is not None:
            if not isinstance(value, dict):
                raise ProtoPayload(f"{_label(path)}: must be an object")
            self._dispatch(value, discriminator, path)
            return
        if name in RELAXED_REQUIRED:
            schema = {k: v for k, v in schema.items() if k != "required"}
        self.check(value, schema, path)

    def _dispatch(self, value: dict[str, Any], discriminator: dict[str, Any], path: str) -> None:
        key = discriminator["propertyName"]
        kind = value.get(key)
        target = discriminator["mapping"].get(kind) if isinstance(kind, str) else None
        if target is None:
            known = ", ".join(discriminator["mapping"])
            raise ProtoPayload(f"{_join(path, key)}: unknown value {kind!r}, expected one of "
                               f"{known}")
        self.check_named(value, target[len(REF):], path, dispatch=False)

    def _check_children(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if isinstance(value, dict):
            for key in schema.get("required", []):
                if key not in value:
                    raise ProtoPayload(f"{_join(path, key)}: is required")
            for key, sub in schema.get("properties", {}).items():
                if key in value:
                    self.check(value[key], sub, _join(path, key))
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for key, item in value.items():
                    if key not in schema.get("properties", {}):
                        self.check(item, extra, _join(path, key))
        elif isinstance(value, list) and "items" in schema:
            for n, item in enumerate(value):
                self.check(item, schema["items"], f"{path}[{n}]")


def _check_type(value: Any, schema: dict[str, Any], path: str) -> None:
    wanted = schema.get("type") or ("object" if "properties" in schema else None)
    if wanted is None:
        return
    ok = isinstance(value, _TYPES[wanted]) and (wanted == "boolean" or
                                                not isinstance(value, bool))
    if not ok:
        raise ProtoPayload(f"{_label(path)}: must be {_A[wanted]}")
    if wanted == "integer" and not INT64[0] <= value <= INT64[1]:
        raise ProtoPayload(f"{_label(path)}: out of the int64 range")


_A = {"string": "a string", "integer": "an integer", "number": "a number",
      "boolean": "a boolean", "array": "an array", "object": "an object"}


def _check_value(value: Any, schema: dict[str, Any], path: str) -> None:
    if "enum" in schema and value not in schema["enum"]:
        raise ProtoPayload(f"{_label(path)}: must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        _check_size(len(value), schema.get("minLength"), schema.get("maxLength"), path,
                    "length")
        pattern = schema.get("pattern")
        if pattern is not None and not re.search(pattern, value):
            raise ProtoPayload(f"{_label(path)}: must match {pattern}")
    elif isinstance(value, list):
        low = schema.get("minItems", schema.get("minLength"))
        _check_size(len(value), low, schema.get("maxItems"), path, "number of items")
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            raise ProtoPayload(f"{_label(path)}: items must be unique")


def _check_size(size: int, low: int | None, high: int | None, path: str, what: str) -> None:
    if (low is not None and size < low) or (high is not None and size > high):
        bounds = f"between {low or 0} and {high}" if high is not None else f"at least {low}"
        raise ProtoPayload(f"{_label(path)}: {what} must be {bounds}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _label(path: str) -> str:
    return path or "body"


# --- documented limits the schema does not carry ---------------------------------------------


def check_new_message(body: Any, *, require_content: bool) -> None:
    """``NewMessageBody`` of send/edit/answer: schema, then attachment and keyboard rules."""
    check_schema(body, "NewMessageBody")
    attachments = body.get("attachments") or []
    check_attachments(attachments)
    if require_content and not body.get("text") and not attachments:
        raise ProtoPayload("text: a message needs text or attachments")


def check_attachments(attachments: list[dict[str, Any]]) -> None:
    kinds = [a["type"] for a in attachments]
    for n, kind in enumerate(kinds):
        if kind in SINGLE_ONLY and len(kinds) > 1:
            raise ProtoPayload(f"attachments[{n}]: a {kind} attachment must be the only one")
    if kinds.count("inline_keyboard") > 1:
        raise ProtoPayload("attachments: at most one inline_keyboard")
    for n, attachment in enumerate(attachments):
        if attachment["type"] == "inline_keyboard":
            check_keyboard(attachment["payload"]["buttons"], f"attachments[{n}].payload.buttons")


def check_keyboard(rows: list[list[dict[str, Any]]], path: str) -> None:
    if not rows:
        raise ProtoPayload(f"{path}: a keyboard needs at least one row")
    if len(rows) > MAX_ROWS:
        raise ProtoPayload(f"{path}: at most {MAX_ROWS} rows, got {len(rows)}")
    total = sum(len(row) for row in rows)
    if total > MAX_BUTTONS:
        raise ProtoPayload(f"{path}: at most {MAX_BUTTONS} buttons, got {total}")
    for n, row in enumerate(rows):
        _check_row(row, f"{path}[{n}]")


def _check_row(row: list[dict[str, Any]], path: str) -> None:
    if not row:
        raise ProtoPayload(f"{path}: a row needs at least one button")
    narrow = any(button["type"] in NARROW_ROW_BUTTONS for button in row)
    limit = MAX_NARROW_ROW if narrow else MAX_ROW
    if len(row) > limit:
        reason = " with link/open_app/geo/contact buttons" if narrow else ""
        raise ProtoPayload(f"{path}: at most {limit} buttons in a row{reason}, got {len(row)}")
    for n, button in enumerate(row):
        payload = button.get("payload")
        if button["type"] == "open_app" and isinstance(payload, str) and (
                len(payload) > 512 or not OPEN_APP_PAYLOAD.match(payload)):
            raise ProtoPayload(f"{path}[{n}].payload: up to 512 characters of [A-Za-z0-9_-]")


# --- query parameters ------------------------------------------------------------------------


def int_param(params: dict[str, str], name: str, *, default: int | None,
              low: int | None = None, high: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "" or raw == "null":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ProtoPayload(f"{name}: must be an integer") from None
    if not INT64[0] <= value <= INT64[1]:
        raise ProtoPayload(f"{name}: out of the int64 range")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ProtoPayload(f"{name}: must be between {low} and {high}")
    return value


def required_param(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or not value.strip():
        raise ProtoPayload(f"{name}: is required")
    return value


def list_param(params: dict[str, str], name: str) -> list[str] | None:
    raw = params.get(name)
    if not raw:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]
