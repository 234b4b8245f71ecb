"""Counter-signing without checking the archive a second time: only the very bytes verified a
moment ago in this process, with every certificate still valid, skip the second check."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from medsign.flows.archive import Limits, RecentlyVerified, VerifiedArchive, verify_archive
from tests.integration.flows.stand import build_stand
from tests.unit.flows.archive_kit import NOW, Operator, genuine_entries, zip_of

LIMITS = Limits(max_uncompressed_bytes=100 * 1024**2, max_compression_ratio=100)


@pytest.fixture(scope="module")
def operator() -> Operator:
    return Operator.create()


@pytest.fixture(scope="module")
def archive(operator: Operator) -> bytes:
    return zip_of(genuine_entries(operator))


def verified(data: bytes, operator: Operator) -> VerifiedArchive:
    return verify_archive(data, expected_documents=2, trust=operator.trust, limits=LIMITS,
                          at=NOW)


def test_the_same_bytes_soon_after_give_back_what_verification_gave(
        operator: Operator, archive: bytes) -> None:
    memo, result = RecentlyVerified(), verified(archive, operator)
    memo.remember("r1", archive, NOW, result)
    assert memo.recall("r1", bytes(archive), NOW + timedelta(seconds=5), limits=LIMITS) == result


def test_an_entry_is_used_once_and_only_for_its_own_request(operator: Operator,
                                                            archive: bytes) -> None:
    memo = RecentlyVerified()
    memo.remember("r1", archive, NOW, verified(archive, operator))
    assert memo.recall("r2", archive, NOW, limits=LIMITS) is None
    assert memo.recall("r1", archive, NOW, limits=LIMITS) is not None
    assert memo.recall("r1", archive, NOW, limits=LIMITS) is None


def test_other_bytes_are_a_miss(operator: Operator, archive: bytes) -> None:
    memo = RecentlyVerified()
    memo.remember("r1", archive, NOW, verified(archive, operator))
    other = zip_of(list(reversed(genuine_entries(operator))))  # same files, other zip
    assert verified(other, operator) is not None
    assert memo.recall("r1", other, NOW, limits=LIMITS) is None


@pytest.mark.parametrize("later", [timedelta(seconds=61), timedelta(seconds=-1)])
def test_too_late_or_a_clock_gone_back_is_a_miss(operator: Operator, archive: bytes,
                                                  later: timedelta) -> None:
    memo = RecentlyVerified(within=timedelta(seconds=60))
    memo.remember("r1", archive, NOW, verified(archive, operator))
    assert memo.recall("r1", archive, NOW + later, limits=LIMITS) is None


def test_a_certificate_that_has_since_expired_is_a_miss(operator: Operator,
                                                        archive: bytes) -> None:
    memo = RecentlyVerified(within=timedelta(days=10_000))
    result = verified(archive, operator)
    memo.remember("r1", archive, NOW, result)
    after = result.documents[0].pdf.report.not_after + timedelta(seconds=1)
    assert memo.recall("r1", archive, after, limits=LIMITS) is None


def test_old_entries_and_those_beyond_the_limit_are_dropped(operator: Operator,
                                                            archive: bytes) -> None:
    result = verified(archive, operator)
    memo = RecentlyVerified(within=timedelta(seconds=60), limit=2)
    for n in range(3):
        memo.remember(f"r{n}", archive, NOW, result)
    assert memo.recall("r0", archive, NOW, limits=LIMITS) is None
    assert memo.recall("r2", archive, NOW, limits=LIMITS) is not None
    memo.remember("late", archive, NOW + timedelta(seconds=61), result)
    assert memo.recall("r1", archive, NOW, limits=LIMITS) is None  # dropped as too old


# --- in the signing flow ---------------------------------------------------------------------

def signed_and_completed(engine: Engine, tmp_path: Path) -> str:
    stand = build_stand(engine, tmp_path)
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    assert stand.control("POST", f"/transactions/{tx}/sign").status_code == 200
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    detail = stand.request(rid)
    assert detail["state"] == "completed", detail
    return rid


def counting_verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = verify_archive

    def counted(*args: object, **kwargs: object) -> VerifiedArchive:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("medsign.flows.signing.verify_archive", counted)
    return calls


def test_the_flow_verifies_the_archive_once_per_transaction(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_verifications(monkeypatch)
    signed_and_completed(engine, tmp_path)
    assert len(calls) == 1


def test_without_a_fresh_verification_at_hand_the_flow_verifies_again(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_verifications(monkeypatch)
    monkeypatch.setattr(RecentlyVerified, "recall", lambda *a, **k: None)
    signed_and_completed(engine, tmp_path)
    assert len(calls) == 2
