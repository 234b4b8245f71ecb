"""Which certificate signs for an МО, and whether a certificate names that МО: the rules on
plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medsign.domain.mo_identity import (
    Candidate,
    Requisites,
    SubjectIds,
    choose,
    judge,
    requisites_problem,
    unable,
)
from medsign.domain.signing_identity import CertificateFacts, IdentityState

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MO = Requisites("mo1", "ГБУЗ «Поликлиника № 1»", "1027700132195", "7707083893")
DAY = timedelta(days=1)


def cert(name: str, *, start: timedelta, days: int, problem: str = "") -> Candidate:
    facts = CertificateFacts(subject=f"CN={name}", serial=name.upper(), issuer="CN=УЦ",
                             not_before=NOW + start, not_after=NOW + start + days * DAY,
                             thumbprint=name.upper() * 4, sha256=name * 8)
    return Candidate(name, facts, problem)


def test_a_certificate_with_the_mos_ogrn_and_inn_names_it() -> None:
    assert requisites_problem(MO, SubjectIds(ogrn=MO.ogrn, inn_le=MO.inn)) == ""


def test_another_ogrn_names_the_mo_and_both_values() -> None:
    problem = requisites_problem(MO, SubjectIds(ogrn="1027700000001"))
    assert "ГБУЗ «Поликлиника № 1»" in problem and "(mo1)" in problem
    assert "1027700000001" in problem and MO.ogrn in problem


def test_a_certificate_without_ogrn_names_no_mo() -> None:
    assert "нет ОГРН" in requisites_problem(MO, SubjectIds(inn=MO.inn))


@pytest.mark.parametrize("subject", [
    SubjectIds(ogrn=MO.ogrn, inn_le="7707000001"),
    SubjectIds(ogrn=MO.ogrn, inn="7707000001"),
    SubjectIds(ogrn=MO.ogrn, inn="007707000001"),
], ids=["ИННЮЛ", "ИНН of 10 digits", "ИНН zero-padded"])
def test_another_legal_entity_inn_is_a_mismatch_naming_both(subject: SubjectIds) -> None:
    problem = requisites_problem(MO, subject)
    assert "ИНН в сертификате 7707000001, у МО 7707083893" in problem


def test_the_older_zero_padded_inn_matches() -> None:
    assert requisites_problem(MO, SubjectIds(ogrn=MO.ogrn, inn="00" + MO.inn)) == ""


def test_a_persons_inn_beside_the_legal_entitys_is_not_the_mos() -> None:
    # ФНС certificates of legal entities carry the head's own ИНН and the entity's ИННЮЛ
    subject = SubjectIds(ogrn=MO.ogrn, inn="500100732259", inn_le=MO.inn)
    assert requisites_problem(MO, subject) == ""
    assert requisites_problem(MO, SubjectIds(ogrn=MO.ogrn, inn="500100732259")) == ""


def test_the_newest_usable_identity_signs_during_an_overlap() -> None:
    old = cert("old", start=-300 * DAY, days=365)
    new = cert("new", start=-2 * DAY, days=365)
    chosen, status = choose(MO, [new, old], now=NOW)
    assert chosen == new and status.state is IdentityState.ok
    assert status.certificate == new.certificate and status.days_left == 363


def test_a_newer_one_that_has_not_started_leaves_the_old_one_signing() -> None:
    old = cert("old", start=-300 * DAY, days=365)
    chosen, _ = choose(MO, [old, cert("next", start=3 * DAY, days=365)], now=NOW)
    assert chosen == old


def test_a_broken_newer_one_leaves_the_old_one_signing() -> None:
    old = cert("old", start=-300 * DAY, days=365)
    broken = cert("broken", start=-DAY, days=365, problem="ключ не подходит")
    assert choose(MO, [broken, old], now=NOW)[0] == old


def test_an_identity_ending_within_the_warning_is_expiring_with_its_days() -> None:
    _, status = choose(MO, [cert("old", start=-355 * DAY, days=365)], now=NOW,
                       warning=timedelta(days=30))
    assert status.state is IdentityState.expiring and status.days_left == 10
    assert status.usable


def test_no_identity_is_missing_and_says_which_mo() -> None:
    chosen, status = choose(MO, [], now=NOW)
    assert chosen is None and status.state is IdentityState.missing
    assert unable(MO, status) == "МО «ГБУЗ «Поликлиника № 1»» (mo1) не может подписывать: " \
        "нет ключа подписи"


@pytest.mark.parametrize(("candidates", "state"), [
    ([cert("old", start=-400 * DAY, days=365)], IdentityState.expired),
    ([cert("next", start=2 * DAY, days=365)], IdentityState.not_yet_valid),
    ([cert("bad", start=-DAY, days=365, problem="чужая МО")], IdentityState.invalid),
    ([cert("old", start=-400 * DAY, days=365), cert("next", start=2 * DAY, days=365),
      cert("bad", start=-DAY, days=365, problem="чужая МО")], IdentityState.not_yet_valid),
    ([cert("old", start=-400 * DAY, days=365),
      cert("bad", start=-DAY, days=365, problem="чужая МО")], IdentityState.expired),
], ids=["expired", "not yet valid", "invalid", "waiting beats ended", "ended beats broken"])
def test_without_a_usable_identity_the_most_relevant_state_is_reported(
        candidates: list[Candidate], state: IdentityState) -> None:
    chosen, status = choose(MO, candidates, now=NOW)
    assert chosen is None and status.state is state and not status.usable
    assert "mo1" not in status.reason  # it is shown beside the МО's name
    assert unable(MO, status).startswith("МО «ГБУЗ «Поликлиника № 1»» (mo1) не может подписывать")
    for candidate in candidates:
        assert f"«{candidate.name}»" in status.reason


def test_a_problem_outweighs_the_dates() -> None:
    assert judge(cert("x", start=-DAY, days=9, problem="права"), now=NOW) == (
        IdentityState.invalid, 8)
    assert judge(Candidate("y", None, "нет файла"), now=NOW) == (IdentityState.invalid, None)
