from __future__ import annotations

import hmac

import pytest

from medsign.accounts.sessions import csrf_matches


def test_the_same_token_matches() -> None:
    assert csrf_matches("token-abc", "token-abc")


@pytest.mark.parametrize("given", ["token-abd", "token-ab", "", "TOKEN-ABC", None])
def test_anything_else_does_not(given: str | None) -> None:
    assert not csrf_matches("token-abc", given)


@pytest.mark.parametrize("expected", [None, ""])
def test_a_session_without_a_token_matches_nothing(expected: str | None) -> None:
    assert not csrf_matches(expected, expected)
    assert not csrf_matches(expected, "token-abc")


def test_the_comparison_takes_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert csrf_matches("токен", "токен")
    assert calls == [("токен".encode(), "токен".encode())]
