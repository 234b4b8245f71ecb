from datetime import UTC, datetime, timedelta

import pytest

from medsign.domain.signing_identity import (
    CertificateFacts,
    IdentityState,
    IdentityStatus,
    by_validity,
    explain,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=365)


@pytest.mark.parametrize(("now", "state", "days"), [
    (START - timedelta(seconds=1), IdentityState.not_yet_valid, 365),
    (START, IdentityState.ok, 365),
    (END - timedelta(days=31), IdentityState.ok, 31),
    (END - timedelta(days=30), IdentityState.expiring, 30),
    (END - timedelta(hours=1), IdentityState.expiring, 0),
    (END, IdentityState.expiring, 0),
    (END + timedelta(seconds=1), IdentityState.expired, -1),
])
def test_validity_period_gives_the_state_and_days_left(now: datetime, state: IdentityState,
                                                       days: int) -> None:
    assert by_validity(START, END, now=now) == (state, days)


def test_the_warning_period_is_configurable() -> None:
    assert by_validity(START, END, now=END - timedelta(days=50),
                       warning=timedelta(days=60))[0] is IdentityState.expiring


def test_only_a_certificate_in_force_is_usable() -> None:
    assert {s for s in IdentityState if s.usable} == {IdentityState.ok, IdentityState.expiring}


def _facts() -> CertificateFacts:
    return CertificateFacts(subject="CN=МО", serial="01", issuer="CN=УЦ", not_before=START,
                            not_after=END, thumbprint="AA" * 20, sha256="bb" * 32)


@pytest.mark.parametrize(("state", "days", "words"), [
    (IdentityState.expired, -3, "срок действия сертификата истёк 01.01.2027"),
    (IdentityState.not_yet_valid, 400, "сертификат начнёт действовать 01.01.2026"),
    (IdentityState.expiring, 12, "сертификат действует до 01.01.2027, дней осталось: 12"),
    (IdentityState.ok, 200, ""),
])
def test_staff_are_told_what_the_certificate_dates_say(state: IdentityState, days: int,
                                                        words: str) -> None:
    status = IdentityStatus("mo1", state, certificate=_facts(), days_left=days)
    assert explain(status) == words


def test_the_providers_reason_wins_and_a_missing_key_is_named() -> None:
    assert explain(IdentityStatus("mo1", IdentityState.invalid, "ОГРН не совпадает")) == \
        "ОГРН не совпадает"
    assert "нет ключа" in explain(IdentityStatus("mo1", IdentityState.missing))
    assert explain(IdentityStatus("mo1", IdentityState.invalid)) == "непригоден"
