"""JSON from outside is measured before it is parsed: the depth scan agrees with the parsed
structure for every document, strings never count, and a body too deep or too large is a
``ValueError`` with its reason — never a ``RecursionError``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsign.httpsafe import bodies

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(), inner, max_size=4), max_leaves=40)


def nesting(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0


@given(DOCUMENTS, st.booleans())
def test_the_scan_measures_what_the_parser_builds(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=None)
    assert bodies.depth(text.encode()) == nesting(value)
    assert bodies.loads(text.encode()) == value


@pytest.mark.parametrize(("raw", "expected"), [
    (b"7", 0), (b"[]", 1), (b"{}", 1), (b'[[1], {"a": [2]}]', 3),
    (b'"[[[[{{{{"', 0),                       # brackets inside a string
    (b'["\\"[[[", "\\\\", [0]]', 2),           # an escaped quote does not end the string
    (b'{"k\\\\": "}}}}]]]]", "v": [[]]}', 3),
])
def test_strings_and_escapes_do_not_count(raw: bytes, expected: int) -> None:
    assert bodies.depth(raw) == expected


def test_the_deepest_allowed_document_parses_and_one_more_level_is_refused() -> None:
    limit = bodies.MAX_DEPTH
    assert bodies.loads(b"[" * limit + b"]" * limit) is not None
    with pytest.raises(bodies.JsonRejected) as refused:
        bodies.loads(b"[" * (limit + 1) + b"]" * (limit + 1))
    assert refused.value.reason == "too_deep" and isinstance(refused.value, ValueError)


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b"[" * 300_000,
                                 b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_a_hostile_nesting_is_refused_before_the_parser_recurses(raw: bytes) -> None:
    with pytest.raises(bodies.JsonRejected, match="deeper than 64"):
        bodies.loads(raw, max_bytes=len(raw))
    with pytest.raises(RecursionError):  # what it would have been without the scan
        json.loads(raw)


def test_a_body_over_the_size_limit_is_refused_unread() -> None:
    with pytest.raises(bodies.JsonRejected) as refused:
        bodies.loads(b'"' + b"a" * 100 + b'"', max_bytes=64)
    assert refused.value.reason == "too_large"


def test_text_is_measured_like_its_bytes() -> None:
    assert bodies.loads('{"имя": ["Иванов"]}') == {"имя": ["Иванов"]}


def test_an_unterminated_string_or_escape_storm_stays_linear_and_is_a_value_error() -> None:
    # a string that never ends, full of escaped quotes: no regex backtracking blow-up
    storm = b'["' + b'\\"' * 200_000
    assert bodies.depth(storm) == 1
    with pytest.raises(ValueError):
        bodies.loads(storm)
