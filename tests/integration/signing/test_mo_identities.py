"""Every МО counter-signs as itself: three МО, each with a GOST key and certificate made by
OpenSSL's GOST engine under a test CA of the tests' own, imported with ``medsign keys
import``; the signing flow end to end against the Goskey emulator, on both databases; every
МО signature checked by ``openssl cms -verify`` against the test CA.

Also the external signer (a small script that picks the МО's key by the identity it is
given), an МО that loses its key in flight while the others go on, and rotation."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign.bootstrap import Container
from medsign.clock import FakeClock
from medsign.config import load_settings
from medsign.crypto import save_pem, verify_detached
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import load_pem
from medsign.db.models import DocumentRow
from medsign.domain.mo_identity import Requisites
from medsign.integrations.goskey.emulator import EmulatorConfig, create_emulator
from medsign.signing import repository
from tests import factories as f
from tests.integration.signing.openssl_pki import Issued, OpensslCa
from tests.integration.signing.stand import FAST_RUNNER_ENV, SETTINGS_ENV, TOKEN, SigningStand
from tests.unit.crypto.crypto_support import require_openssl_gost
from tests.unit.signing.key_store_kit import MOS

EXTERNAL_SIGNER = Path(__file__).with_name("mo_external_signer.py")
ATTEMPTS = int(FAST_RUNNER_ENV["MEDSIGN_RUNNER__MAX_ATTEMPTS"])


@dataclass
class Region:
    """An installation of three МО: its stand, the test CA and how to run ``medsign``."""

    stand: SigningStand
    ca: OpensslCa
    env: dict[str, str]
    folder: Path
    certificates: dict[str, Issued]

    def medsign(self, *args: str, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "medsign", *args], cwd=self.folder,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=120, check=False)

    def import_key(self, code: str, issued: Issued, *, key: bool = True) -> str:
        args = ["--key", str(issued.key)] if key else []
        done = self.medsign("keys", "import", "--organization", code, *args,
                            "--certificate", str(issued.certificate))
        assert done.returncode == 0, done.stderr
        return done.stdout

    def sign_all(self, codes: tuple[str, ...] = tuple(MOS), appointment: str = "a1",
                 ) -> dict[str, str]:
        """Start a request for each МО, let the patient sign, run the flow; request ids."""
        stand = self.stand
        rids = {}
        for code in codes:
            r = stand.api.post(f"/api/v1/organizations/{code}/appointments/{appointment}"
                               "/signing-requests")
            assert r.status_code == 201, r.text
            rids[code] = r.json()["id"]
        stand.run_worker()
        for rid in rids.values():
            tx = stand.request(rid)["transaction_id"]
            assert stand.control("POST", f"/transactions/{tx}/sign").status_code == 200
        stand.advance(timedelta(seconds=11))
        stand.run_worker()
        return rids

    def signatures(self, rid: str) -> list[tuple[bytes, bytes]]:
        """Each МО signature of the request with the bytes it covers (from the archive)."""
        engine = self.stand.container.engine
        with Session(engine) as db:
            archive = repository.archive_bytes(db, request_id=rid)
        with engine.connect() as conn:
            rows: list[DocumentRow] = repository.mo_signatures(conn, request_id=rid)
        assert archive is not None and rows
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            return [(bytes(row.content), zf.read(row.covers or "")) for row in rows]


def serial_of(issued: Issued) -> str:
    return parse_certificate(load_pem(issued.key, issued.certificate).certificate_der).serial_hex


def printed_serial(printed: str) -> str:
    """``serial=0A…`` as OpenSSL prints it, as our hex (no leading zeros)."""
    return format(int(printed.strip().removeprefix("serial="), 16), "X")


@pytest.fixture
def region_factory(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[object]:
    made: list[Region] = []

    def make(signer: str, **env: str) -> Region:
        require_openssl_gost()
        region = _region(engine, db_url, tmp_path, signer, env)
        made.append(region)
        return region
    yield make
    for region in made:
        region.stand.container.close()


def _region(engine: Engine, db_url: str, tmp_path: Path, signer: str,
            extra: dict[str, str]) -> Region:
    ca = OpensslCa.make(tmp_path / "pki")
    store = tmp_path / "store"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")},
           "MEDSIGN_DATABASE__URL": db_url, "MEDSIGN_SIGNING__SIGNER": signer,
           "MEDSIGN_SIGNING__KEY_STORE": str(store),
           "MEDSIGN_SIGNING__MO_TRUST_STORE": str(ca.certificate), **extra}
    store.mkdir(mode=0o700)
    app = create_emulator(EmulatorConfig(token=TOKEN, state_dir=tmp_path / "goskey",
                                         mo_trust=(ca.certificate,)))
    settings = load_settings(None, env={**SETTINGS_ENV, **{
        k: v for k, v in env.items() if k.startswith("MEDSIGN_SIGNING__")}})
    # the stand's clock a little ahead: the certificates OpenSSL makes below start at the
    # moment they are made, later than this line
    container = Container(settings, engine, clock=FakeClock(f.now_utc() + timedelta(minutes=5)),
                          keys_dir=tmp_path / "no-dev-keys", journal_dir=tmp_path / "journal",
                          operator_ca=tmp_path / "goskey" / "operator-ca.pem",
                          goskey_transport=httpx.ASGITransport(app))
    api = TestClient(container.app(), raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {f.token(engine)}"
    stand = SigningStand(container, container.clock, app, api)  # type: ignore[arg-type]
    for n, (code, mo) in enumerate(MOS.items()):
        _register(stand, code, mo, n)
    assert stand.control("POST", "/people", f.goskey_person(f.patient())).status_code == 201
    return Region(stand, ca, env, tmp_path, {})


def _register(stand: SigningStand, code: str, mo: Requisites, n: int) -> None:
    body = f.organization(mo.name, ogrn=mo.ogrn, inn=mo.inn)
    body["partner"]["department_id"] = f"7f1c0d3e-0000-4000-8000-00000000000{n + 1}"
    api = stand.api
    assert api.put(f"/api/v1/organizations/{code}", json=body).status_code == 201
    assert api.put(f"/api/v1/organizations/{code}/patients/p1",
                   json=f.patient(code)).status_code == 201
    assert api.put(f"/api/v1/organizations/{code}/appointments/a1",
                   json=f.appointment(code)).status_code == 201


@pytest.mark.slow
def test_three_mo_each_counter_sign_with_their_own_openssl_certificate(
        region_factory: object, tmp_path: Path) -> None:
    region: Region = region_factory("openssl")  # type: ignore[operator]
    for code, mo in MOS.items():
        issued = region.certificates[code] = region.ca.issue(mo)
        out = region.import_key(code, issued)
        assert f"Импортирован сертификат МО «{mo.name}» ({code})" in out
        assert "Новые подписи МО" in out and serial_of(issued) in out
    rids = region.sign_all()
    for code, rid in rids.items():
        detail = region.stand.request(rid)
        assert detail["state"] == "completed", detail
        signed = region.signatures(rid)
        assert len(signed) == 2  # one PDF per consent
        for n, (signature, pdf) in enumerate(signed):
            printed = region.ca.verify(signature, pdf, tmp_path / "verify" / code / str(n))
            assert printed_serial(printed) == serial_of(region.certificates[code])


@pytest.mark.slow
def test_the_external_signer_signs_each_mo_with_the_key_its_identity_names(
        region_factory: object, tmp_path: Path) -> None:
    held = tmp_path / "provider"  # the "certified provider": keys by МО and thumbprint
    command = (f"{sys.executable} {EXTERNAL_SIGNER} --keys {held} --organization "
               "{organization} --thumbprint {thumbprint} --ogrn {ogrn} --in {input} "
               "--out {output}")
    region: Region = region_factory(  # type: ignore[operator]
        "external", MEDSIGN_SIGNING__SIGNER_COMMAND=command)
    for code, mo in MOS.items():
        issued = region.certificates[code] = region.ca.issue(mo)
        (held / code).mkdir(parents=True, exist_ok=True)
        shutil.copy(issued.key, held / code / f"{issued.thumbprint}.key")
        shutil.copy(issued.certificate, held / code / f"{issued.thumbprint}.pem")
        region.import_key(code, issued, key=False)  # the key stays in the provider
    rids = region.sign_all()
    for code, rid in rids.items():
        assert region.stand.request(rid)["state"] == "completed"
        for n, (signature, pdf) in enumerate(region.signatures(rid)):
            printed = region.ca.verify(signature, pdf, tmp_path / "verify" / code / str(n))
            assert printed_serial(printed) == serial_of(region.certificates[code])
    assert not list((tmp_path / "store").glob("*/*/key.pem"))


@pytest.mark.slow
def test_an_mo_losing_its_key_in_flight_fails_with_the_reason_while_others_complete(
        region_factory: object) -> None:
    region: Region = region_factory("openssl")  # type: ignore[operator]
    for code, mo in MOS.items():
        region.import_key(code, region.ca.issue(mo))
    stand = region.stand
    rids = {}
    for code in MOS:
        r = stand.api.post(f"/api/v1/organizations/{code}/appointments/a1/signing-requests")
        assert r.status_code == 201, r.text
        rids[code] = r.json()["id"]
    stand.run_worker()
    shutil.rmtree(region.folder / "store" / "mo3")  # e.g. removed by mistake
    for rid in rids.values():
        stand.control("POST", f"/transactions/{stand.request(rid)['transaction_id']}/sign")
    for _ in range(ATTEMPTS + 1):
        stand.advance(timedelta(seconds=11))
        stand.run_worker()
    assert stand.request(rids["mo1"])["state"] == "completed"
    assert stand.request(rids["mo2"])["state"] == "completed"
    failed = stand.request(rids["mo3"])
    assert failed["state"] == "failed", failed
    assert "mo_signing_unavailable" in failed["reason"]
    assert f"МО «{MOS['mo3'].name}» (mo3) не может подписывать: нет ключа подписи" \
        in failed["reason"]


@pytest.mark.slow
def test_rotation_signs_new_requests_with_the_new_certificate_and_keeps_the_old_in_evidence(
        region_factory: object, tmp_path: Path) -> None:
    from medsign.crypto import KeyPair, issue_certificate
    region: Region = region_factory("openssl")  # type: ignore[operator]
    old = region.ca.issue(MOS["mo1"])
    region.import_key("mo1", old)
    for code in ("mo2", "mo3"):
        region.import_key(code, region.ca.issue(MOS[code]))
    first = region.sign_all()["mo1"]
    # the next certificate, imported ahead: it starts in two days
    ca = load_pem(region.ca.key, region.ca.certificate)
    mo = MOS["mo1"]
    new: KeyPair = issue_certificate(ca, common_name=mo.name, organization=mo.name,
                                     ogrn=mo.ogrn, inn=mo.inn,
                                     not_before=f.now_utc() + timedelta(days=2))
    save_pem(new, tmp_path / "new.key", tmp_path / "new.pem")
    out = region.import_key("mo1", Issued(tmp_path / "new.key", tmp_path / "new.pem"))
    assert "Сертификат ещё не действует" in out and serial_of(old) in out
    region.stand.advance(timedelta(days=2, hours=1))
    next_visit = f.appointment("mo1", in_hours=26 + 50)
    assert region.stand.api.put("/api/v1/organizations/mo1/appointments/a2",
                                json=next_visit).status_code == 201
    second = region.sign_all(("mo1",), "a2")["mo1"]
    serials = {rid: {verify_detached(pdf, sig, trust=None).signer_serial
                     for sig, pdf in region.signatures(rid)} for rid in (first, second)}
    old_serial = parse_certificate(load_pem(old.key, old.certificate).certificate_der).serial_hex
    assert serials == {first: {old_serial}, second: {parse_certificate(new.certificate_der)
                                                     .serial_hex}}
