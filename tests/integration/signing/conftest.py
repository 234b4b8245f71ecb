"""The signing stand every flow test starts from (``stand.build_stand``), closed after the
test so that its container's background threads do not outlive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.signing.stand import SigningStand, build_stand


@pytest.fixture
def stand(engine: Engine, tmp_path: Path) -> Iterator[SigningStand]:
    built = build_stand(engine, tmp_path)
    try:
        yield built
    finally:
        built.container.close()
