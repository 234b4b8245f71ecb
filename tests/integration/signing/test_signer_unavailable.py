"""The MO's configured signing means cannot run. Its GOST engine missing from the start: the
МО cannot sign, so no signing starts (``mo_signing_unavailable``). Removed after the start: the
counter-signing step is retried, then the request fails with the reason for an operator, and
nothing is signed by another means (``pure``) meanwhile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.crypto import openssl as openssl_backend
from medsign.db.models import DocumentRow, SigningRequestRow, WorkItemRow
from medsign.signing import repository
from tests.integration.signing.stand import FAST_RUNNER_ENV, SigningStand, build_stand

# ``openssl engine -t gost`` as on a machine with the engine ("gone": removed after the
# probe, so every signature fails as openssl does then) or without it ("missing").
PROBE = {
    "gone": 'echo "(gost) Reference implementation of GOST engine"; echo "     [ available ]"; '
            "exit 0",
    "missing": "echo 'invalid engine \"gost\"' >&2; exit 1",
}
FAKE_OPENSSL = """#!/bin/sh
if [ "$1" = engine ]; then {probe}; fi
echo 'invalid engine "gost"' >&2
exit 1
"""


@pytest.fixture(params=list(PROBE))
def no_working_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      request: pytest.FixtureRequest) -> Iterator[None]:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "openssl").write_text(FAKE_OPENSSL.format(probe=PROBE[request.param]),
                                    encoding="utf-8")
    (folder / "openssl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    openssl_backend._probe.cache_clear()  # probe this PATH, and the real one after the test
    yield
    openssl_backend._probe.cache_clear()


def _openssl_stand(engine: Engine, tmp_path: Path) -> SigningStand:
    stand = build_stand(engine, tmp_path, settings_env={"MEDSIGN_SIGNING__SIGNER": "openssl"})
    # the МО's own identity (not a development one, which alone may fall back to pure)
    mo1 = tmp_path / "keys" / "mo1"
    (mo1 / "dev").rename(mo1 / "own")
    return stand


@pytest.mark.parametrize("no_working_engine", ["missing"], indirect=True)
@pytest.mark.usefixtures("no_working_engine")
def test_without_the_engine_from_the_start_no_signing_starts(engine: Engine,
                                                             tmp_path: Path) -> None:
    """The МО cannot sign at all: the start is refused with the reason, nothing is sent."""
    stand = _openssl_stand(engine, tmp_path)
    try:
        r = stand.api.post("/api/v1/organizations/mo1/appointments/a1/signing-requests")
    finally:
        stand.container.close()
    assert (r.status_code, r.json()["code"]) == (409, "mo_signing_unavailable")
    assert "движок ГОСТ для OpenSSL не установлен" in r.json()["detail"]
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(SigningRequestRow)) == 0


@pytest.mark.parametrize("no_working_engine", ["gone"], indirect=True)
@pytest.mark.usefixtures("no_working_engine")
def test_a_configured_openssl_key_without_its_engine_fails_visibly_and_signs_nothing(
        engine: Engine, tmp_path: Path) -> None:
    """The engine goes after the start (the probe saw it): the step fails, nothing is signed
    by another means."""
    stand = _openssl_stand(engine, tmp_path)
    try:
        rid = stand.start_signing()
        stand.run_worker()
        tx = stand.request(rid)["transaction_id"]
        assert stand.control("POST", f"/transactions/{tx}/sign").status_code == 200
        for _ in range(int(FAST_RUNNER_ENV["MEDSIGN_RUNNER__MAX_ATTEMPTS"])):
            stand.advance(timedelta(seconds=11))
            stand.run_worker()
        detail = stand.request(rid)
        uploads = stand.control("GET", f"/transactions/{tx}").json()["uploads"]
    finally:
        stand.container.close()
    assert detail["state"] == "failed", detail
    assert "gost_engine_missing" in detail["reason"]
    assert "подпись МО невозможна: движок ГОСТ для OpenSSL не установлен" in detail["reason"]
    assert uploads == []
    with Session(engine) as db:
        signatures = db.scalar(select(func.count()).select_from(DocumentRow).where(
            DocumentRow.kind == repository.MO_SIGNATURE))
        item = db.scalars(select(WorkItemRow).where(WorkItemRow.ref == rid)).one()
    assert signatures == 0
    assert item.attempts == 3 and "gost_engine_missing" in (item.last_error or "")
