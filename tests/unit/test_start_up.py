"""What ``serve`` and ``worker`` do once start-up is over, before the first request or step."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from medsign.cli.base import settle_start_up


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector() -> Iterator[None]:
    """Every test here leaves the collector as it found it: nothing frozen."""
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()


def test_start_up_objects_are_out_of_the_collectors_sight(collector: None) -> None:
    kept = [Node() for _ in range(1000)]
    settle_start_up()
    assert gc.get_freeze_count() >= len(kept)
    # a full collection no longer walks them: the collector's generations hold none of them
    walked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in walked for node in kept)


def test_start_up_garbage_is_collected_not_frozen_for_good(collector: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    gone = weakref.ref(a)
    del a, b
    settle_start_up()
    assert gone() is None
