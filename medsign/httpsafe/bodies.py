"""JSON from the outside world, parsed with limits on size and nesting depth.

``json.loads`` recurses once per ``[``/``{``: a body of 100 000 nested brackets (a few hundred
kilobytes) raises ``RecursionError``, which no handler expects, so the caller answers 500 with a
traceback. :func:`loads` measures the depth first with a linear, non-recursive scan of the bytes
(string contents do not count) and refuses before ``json.loads`` runs.

:class:`JsonRejected` is a ``ValueError``: code that already answers "not valid JSON" to a
``ValueError`` answers the same 400 to a body too deep or too large, with a reason that says so.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64
MAX_BYTES = 1024 * 1024

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# "[" and "{" become 2, "]" and "}" become 0; minus one each, they are the depth's steps.
_STEPS = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")


class JsonRejected(ValueError):
    """The body is refused before parsing; ``reason`` is ``too_deep`` or ``too_large``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (0 for a scalar), in linear time.

    Escapes go first (so ``\\"`` cannot end a string), then whole strings, then everything
    but brackets; the running sum of +1/-1 steps is the depth. Every stage is a C loop, so a
    megabyte of brackets takes milliseconds. Malformed input gives some number; ``json.loads``
    rejects it afterwards anyway.
    """
    bare = _STRING.sub(b"", _ESCAPE.sub(b"", body))
    steps = bare.translate(_STEPS, _NOT_BRACKETS)
    if not steps:
        return 0
    # prefix sums of (step - 1): accumulate the raw bytes, subtract the count so far
    levels = map(operator.sub, accumulate(steps), range(1, len(steps) + 1))
    return max(0, int(max(levels)))


def check(body: bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> None:
    """Raise :class:`JsonRejected` when ``body`` is larger or nested deeper than allowed."""
    if len(body) > max_bytes:
        raise JsonRejected("too_large", f"body: larger than {max_bytes} bytes")
    if depth(body) > max_depth:
        raise JsonRejected("too_deep", f"body: JSON nested deeper than {max_depth} levels")


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """``json.loads`` after :func:`check`; every failure is a ``ValueError``."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    check(raw, max_depth=max_depth, max_bytes=max_bytes)
    return json.loads(raw)
