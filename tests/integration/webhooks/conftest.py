"""The webhook tests' stand (fast retries, a one-minute disable period) and receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.signing.stand import SigningStand, build_stand
from tests.integration.webhooks.receiver import Receiver, receiver

FAST = {"MEDSIGN_WEBHOOKS__BACKOFF_BASE": "1s", "MEDSIGN_WEBHOOKS__BACKOFF_CAP": "10s",
        "MEDSIGN_WEBHOOKS__DISABLE_AFTER": "1m", "MEDSIGN_WEBHOOKS__TIMEOUT": "5s"}


@pytest.fixture
def stand(engine: Engine, tmp_path: Path) -> Iterator[SigningStand]:
    built = build_stand(engine, tmp_path, settings_env=FAST)
    try:
        yield built
    finally:
        built.container.close()


@pytest.fixture
def mis() -> Iterator[Receiver]:
    with receiver() as found:
        yield found
