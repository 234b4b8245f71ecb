"""An archive sealed with an operator certificate its CA has revoked is refused by the signing
flow: the request fails with the reason, no МО signature is made, and once the CA lists it no
more (a newer list without it) an operator's retry completes the request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from medsign.crypto import load_pem, make_ca
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import make_crl
from tests.integration.signing.stand import SigningStand, build_stand


@pytest.fixture
def crl_file(tmp_path: Path) -> Path:
    """Configured before the emulator (and its CA) exists: until the test publishes the
    operator CA's list, the file holds another CA's, which no certificate here consults."""
    path = tmp_path / "crl" / "operator-ca.crl"
    path.parent.mkdir(parents=True)
    path.write_bytes(make_crl(make_ca("Посторонний УЦ", organization="Посторонний УЦ")))
    return path


@pytest.fixture
def stand(engine: Engine, tmp_path: Path, crl_file: Path) -> Iterator[SigningStand]:
    built = build_stand(engine, tmp_path, settings_env={
        "MEDSIGN_SIGNING__CRLS": str(crl_file), "MEDSIGN_SIGNING__CRL_REFRESH": "1m"})
    try:
        yield built
    finally:
        built.container.close()


def publish_list(stand: SigningStand, tmp_path: Path, crl_file: Path, *,
                 revoked: bool) -> str:
    """The emulated operator CA's list, revoking its operator certificate or not; returns
    the certificate's serial number (hex)."""
    keys = tmp_path / "goskey" / "goskey-operator"
    ca = load_pem(keys / "ca.key", keys / "ca.pem")
    operator = parse_certificate(load_pem(keys / "operator.key", keys / "operator.pem")
                                 .certificate_der)
    now = stand.clock.now()
    entries = [(int(operator.asn.serial_number), now - timedelta(hours=1))] if revoked else []
    crl_file.write_bytes(make_crl(ca, revoked=entries, this_update=now - timedelta(minutes=1)
                                  if revoked else now))
    return operator.serial_hex


def test_an_archive_sealed_by_a_revoked_operator_certificate_is_refused(
        stand: SigningStand, tmp_path: Path, crl_file: Path) -> None:
    serial = publish_list(stand, tmp_path, crl_file, revoked=True)
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    assert stand.control("POST", f"/transactions/{tx}/sign").status_code == 200
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    detail = stand.request(rid)
    assert detail["state"] == "failed", detail
    assert detail["reason"].startswith("archive_signature_certificate_revoked: "), detail
    assert serial in detail["reason"] and "отозван" in detail["reason"]
    assert stand.control("GET", f"/transactions/{tx}").json()["uploads"] == []
    [status] = stand.container.revocation().status()  # type: ignore[union-attr]
    assert status.error is None and status.issuer and "Эмулятор УЦ Госключа" in status.issuer

    # the CA's next list no longer names it (a hold released): the retry completes
    publish_list(stand, tmp_path, crl_file, revoked=False)
    stand.advance(timedelta(minutes=2))
    retried = stand.api.post(f"/api/v1/signing-requests/{rid}/retry",
                             json={"reason": "УЦ снял приостановку сертификата оператора"})
    assert retried.status_code == 200, retried.text
    stand.run_worker()
    assert stand.request(rid)["state"] == "completed", stand.request(rid)
