"""An МО that cannot sign stops only itself, and staff see it before it bites (issue 12, item 3):
the service's rule on every start path, the API's 409, the doctor's board, the console's banner
and «Подпись МО», the metrics and the readiness check — on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.clock import FakeClock
from medsign.config import SigningSettings
from medsign.crypto.keys import issue_certificate, make_ca, save_pem
from medsign.db.models import SigningRequestRow
from medsign.demo import ORGANIZATION
from medsign.domain.signing_identity import CertificateFacts, IdentityState
from medsign.errors import Conflict
from medsign.records.scope import SYSTEM
from medsign.signing import service as signing
from medsign.signing.availability import IdentityCheck
from medsign.signing.signers import ConfiguredSigners
from tests import factories as f
from tests.identities import Identities
from tests.integration.web import stand
from tests.integration.web.conftest import NOW

EXPIRED_REASON = "срок действия сертификата истёк 01.03.2026"


def _start(engine: Engine, identities: IdentityCheck, org: str, aid: str) -> str:
    with Session(engine) as db:
        row = signing.start(db, scope=SYSTEM, identities=identities, now=NOW,
                            command=signing.StartRequest(
                                organization_code=org, appointment_external_id=aid,
                                consent_kinds=None, initiated_by="mis"))
        db.commit()
        return row.id


def _requests(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return list(db.scalars(select(SigningRequestRow.id)))


def _cert(days_left: int) -> CertificateFacts:
    end = NOW + timedelta(days=days_left)
    return CertificateFacts(subject="CN=Поликлиника mo2, ОГРН=1027700132195",
                            serial="1A2B3C", issuer="CN=Тестовый УЦ", not_before=NOW - timedelta(
                                days=300), not_after=end, thumbprint="AB" * 20,
                            sha256="cd" * 32)


# -- the rule, in the service ----------------------------------------------------------------

def test_an_mo_that_cannot_sign_is_refused_and_another_starts(engine: Engine,
                                                               seeded: stand.Seeded) -> None:
    identities = Identities()
    identities.set("mo1", IdentityState.expired, EXPIRED_REASON)
    with pytest.raises(Conflict) as refused:
        _start(engine, identities, "mo1", seeded.today_mo1)
    assert refused.value.code == "mo_signing_unavailable"
    assert "«Поликлиника mo1»" in refused.value.message
    assert EXPIRED_REASON in refused.value.message
    assert refused.value.extra == {"organization": "mo1", "identity_state": "expired"}
    assert _requests(engine) == []
    _start(engine, identities, "mo2", seeded.today_mo2)
    assert len(_requests(engine)) == 1


@pytest.mark.parametrize("state", [IdentityState.missing, IdentityState.not_yet_valid,
                                   IdentityState.invalid])
def test_every_state_that_cannot_sign_refuses(engine: Engine, seeded: stand.Seeded,
                                              state: IdentityState) -> None:
    identities = Identities()
    identities.set("mo1", state)
    with pytest.raises(Conflict) as refused:
        _start(engine, identities, "mo1", seeded.today_mo1)
    assert refused.value.code == "mo_signing_unavailable"
    assert state.label in refused.value.message


def test_an_expiring_certificate_still_signs(engine: Engine, seeded: stand.Seeded) -> None:
    identities = Identities()
    identities.set("mo1", IdentityState.expiring, certificate=_cert(5), days_left=5)
    _start(engine, identities, "mo1", seeded.today_mo1)
    assert len(_requests(engine)) == 1


def _configured(tmp_path: Path, *, not_before: datetime) -> ConfiguredSigners:
    """The real signer provider on a key store of one МО identity, its certificate issued by
    a CA of the test's own (the МО trust store)."""
    ca = make_ca("УЦ теста", organization="УЦ теста", not_before=NOW - timedelta(days=1000))
    pair = issue_certificate(ca, common_name=ORGANIZATION.name, organization=ORGANIZATION.name,
                             ogrn=ORGANIZATION.ogrn, inn=ORGANIZATION.inn,
                             not_before=not_before, valid_days=365)
    tmp_path.mkdir(mode=0o700, parents=True)
    save_pem(ca, tmp_path / "ca.key", tmp_path / "ca.pem")
    folder = tmp_path / "store" / "mo1" / "current"
    for path in (tmp_path / "store", folder.parent, folder):
        path.mkdir(mode=0o700)
    save_pem(pair, folder / "key.pem", folder / "certificate.pem")
    settings = SigningSettings(signer="pure", mo_trust_store=tmp_path / "ca.pem")
    return ConfiguredSigners(settings, keys_dir=tmp_path / "store", allow_development_keys=False,
                             clock=FakeClock(NOW))


def test_the_real_provider_refuses_an_expired_certificate(engine: Engine, seeded: stand.Seeded,
                                                         tmp_path: Path) -> None:
    expired = _configured(tmp_path / "old", not_before=NOW - timedelta(days=400))
    with pytest.raises(Conflict) as refused:
        _start(engine, expired, "mo1", seeded.today_mo1)
    assert refused.value.code == "mo_signing_unavailable"
    ended = (NOW - timedelta(days=35)).strftime("%d.%m.%Y")
    assert f"истёк (до {ended}" in refused.value.message
    assert _requests(engine) == []
    in_force = _configured(tmp_path / "new", not_before=NOW - timedelta(days=1))
    _start(engine, in_force, "mo1", seeded.today_mo1)
    assert len(_requests(engine)) == 1


# -- the API ---------------------------------------------------------------------------------

@pytest.fixture
def api(engine: Engine, client: TestClient, seeded: stand.Seeded) -> TestClient:
    client.headers["Authorization"] = f"Bearer {f.token(engine)}"
    return client


def test_the_api_answers_409_with_the_mo_and_the_reason(api: TestClient, identities: Identities,
                                                        seeded: stand.Seeded) -> None:
    identities.set("mo1", IdentityState.expired, EXPIRED_REASON)
    r = api.post(f"/api/v1/organizations/mo1/appointments/{seeded.today_mo1}/signing-requests")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["code"], body["organization"], body["identity_state"]) == \
        ("mo_signing_unavailable", "mo1", "expired")
    assert "«Поликлиника mo1»" in body["detail"] and EXPIRED_REASON in body["detail"]
    other = api.post(f"/api/v1/organizations/mo2/appointments/{seeded.today_mo2}/"
                     "signing-requests")
    assert other.status_code == 201


def test_the_openapi_documents_the_refusal(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    start = spec["paths"]["/api/v1/organizations/{code}/appointments/{appointment_id}/"
                          "signing-requests"]["post"]
    assert "mo_signing_unavailable" in start["responses"]["409"]["description"]


def test_a_process_without_the_check_starts_nothing(engine: Engine,
                                                    seeded: stand.Seeded) -> None:
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        r = c.post(f"/api/v1/organizations/mo1/appointments/{seeded.today_mo1}/"
                   "signing-requests")
    assert (r.status_code, r.json()["code"]) == (503, "signing_unavailable")
    assert _requests(engine) == []


# -- the doctor ------------------------------------------------------------------------------

def test_the_doctors_board_shows_the_reason_instead_of_the_button(
        client: TestClient, identities: Identities, seeded: stand.Seeded) -> None:
    identities.set("mo1", IdentityState.expired, EXPIRED_REASON)
    doctor = stand.logged_in(client, "doc1")
    for path in ("/doctor", "/doctor/board"):
        page = doctor.get(path).text
        assert 'data-testid="mo-signing-unavailable"' in page
        assert EXPIRED_REASON in page
        assert 'data-testid="start-signing"' not in page
    card = doctor.get(f"/doctor/organizations/mo1/appointments/{seeded.today_mo1}").text
    assert "Отправить на подписание нельзя: медицинская организация сейчас не может" in card
    assert 'data-testid="start-signing"' not in card


def test_the_doctors_submit_is_refused_in_place(client: TestClient, identities: Identities,
                                                engine: Engine, seeded: stand.Seeded) -> None:
    doctor = stand.logged_in(client, "doc1")
    path = f"/doctor/organizations/mo1/appointments/{seeded.today_mo1}/sign"
    csrf = stand.token_of(doctor, path)  # the confirmation page, while the МО could sign
    identities.set("mo1", IdentityState.missing)
    r = doctor.post(path, data={"csrf_token": csrf})
    assert r.status_code == 409
    assert "Медицинская организация «Поликлиника mo1» сейчас не может подписывать" in r.text
    assert "нет ключа" in r.text
    assert _requests(engine) == []


def test_the_board_of_an_mo_that_signs_has_the_button(client: TestClient, identities: Identities,
                                                      seeded: stand.Seeded) -> None:
    identities.set("mo2", IdentityState.expired, EXPIRED_REASON)  # not the doctor's МО
    page = stand.logged_in(client, "doc1").get("/doctor").text
    assert 'data-testid="start-signing"' in page
    assert "mo-signing-unavailable" not in page


# -- the console -----------------------------------------------------------------------------

def test_every_console_page_warns_of_an_mo_that_cannot_sign(
        client: TestClient, identities: Identities, seeded: stand.Seeded) -> None:
    identities.set("mo1", IdentityState.expired, EXPIRED_REASON, days_left=-9)
    identities.set("mo2", IdentityState.expiring, certificate=_cert(12), days_left=12)
    operator = stand.logged_in(client, "op")
    for path in ("/console", "/console/requests", "/console/notifications", "/console/audit"):
        page = operator.get(path)
        assert page.status_code == 200, path
        assert 'data-testid="mo-signing-banner"' in page.text, path
        assert "новые подписания остановлены" in page.text
        assert "«Поликлиника mo1» — истёк, дней осталось: -9: " + EXPIRED_REASON in page.text
        assert "«Поликлиника mo2» — скоро истекает, дней осталось: 12" in page.text


def test_no_banner_while_every_mo_can_sign(client: TestClient, seeded: stand.Seeded) -> None:
    page = stand.logged_in(client, "op").get("/console").text
    assert "mo-signing-banner" not in page
    assert 'data-state="ok">все МО могут подписывать' in page


def test_the_health_page_lists_every_mo_with_its_certificate(
        client: TestClient, identities: Identities, seeded: stand.Seeded) -> None:
    identities.set("mo1", IdentityState.not_yet_valid, "сертификат начнёт действовать 01.04.2026")
    identities.set("mo2", IdentityState.expiring, certificate=_cert(12), days_left=12)
    operator = stand.logged_in(client, "op")
    for path in ("/console", "/console/overview"):
        page = operator.get(path).text
        assert 'id="ov-mo-signing">Подпись МО' in page
        assert 'data-state="down">есть МО, которые не могут подписывать' in page
        mo1 = _row(page, "mo1")
        assert "ещё не действует — не может подписывать" in mo1
        assert "начнёт действовать 01.04.2026" in mo1
        mo2 = _row(page, "mo2")
        assert 'data-state="degraded">скоро истекает' in mo2
        for text in ("CN=Поликлиника mo2", "1A2B3C", "22.03.2026", ">12<"):
            assert text in mo2, text


def test_an_expiring_certificate_makes_the_health_degraded_not_down(
        client: TestClient, identities: Identities, seeded: stand.Seeded) -> None:
    identities.set("mo2", IdentityState.expiring, certificate=_cert(3), days_left=3)
    page = stand.logged_in(client, "op").get("/console").text
    assert 'data-state="degraded">есть истекающие сертификаты' in page
    assert "Подпись МО: сертификаты скоро истекают" in page


def _row(page: str, code: str) -> str:
    start = page.index(f'data-testid="mo-signing-{code}"')
    return page[start:page.index("</tr>", start)]


# -- metrics and readiness -------------------------------------------------------------------

def test_metrics_give_each_mo_availability_and_days_left(
        client: TestClient, identities: Identities, seeded: stand.Seeded) -> None:
    identities.set("mo1", IdentityState.expired, EXPIRED_REASON, days_left=-9)
    identities.set("mo2", IdentityState.expiring, certificate=_cert(12), days_left=12)
    text = client.get("/metrics").text
    assert 'medsign_mo_signing_available{organization="mo1"} 0.0' in text
    assert 'medsign_mo_signing_available{organization="mo2"} 1.0' in text
    assert 'medsign_mo_certificate_days_left{organization="mo1"} -9.0' in text
    assert 'medsign_mo_certificate_days_left{organization="mo2"} 12.0' in text


def test_readiness_lists_the_mo_that_cannot_sign_and_stays_ready(
        client: TestClient, identities: Identities, seeded: stand.Seeded) -> None:
    identities.set("mo1", IdentityState.missing)
    identities.set("mo2", IdentityState.expiring, certificate=_cert(12), days_left=12)
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    signing_ = body["mo_signing"]
    assert signing_["status"] == "down"
    assert [(e["organization"], e["state"]) for e in signing_["unavailable"]] == \
        [("mo1", "missing")]
    assert [(e["organization"], e["days_left"]) for e in signing_["expiring"]] == [("mo2", 12)]

