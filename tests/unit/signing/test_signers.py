"""Which back end signs for an MO: a configured key only by the one the configuration names,
never by ``pure`` in its place; and what a production machine must have to start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from medsign.config import SigningSettings
from medsign.crypto import SignerUnavailable, TrustStore, verify_detached
from medsign.crypto import openssl as openssl_backend
from medsign.signing.signers import ConfiguredSigners, development_keys, machine_problems

MO = {"name": "ГБУЗ «Городская поликлиника № 1»", "ogrn": "1027700132195", "inn": "7707083893"}


@pytest.fixture
def no_gost_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openssl_backend, "_probe", lambda: "gost_engine_missing")


@pytest.fixture
def gost_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openssl_backend, "_probe", lambda: None)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The development CA, and an MO key and certificate to configure as files."""
    return development_keys(tmp_path / "configured", code="mo1", **MO)


def signers(settings: SigningSettings, tmp_path: Path, *, dev: bool) -> ConfiguredSigners:
    return ConfiguredSigners(settings, keys_dir=tmp_path / "keys", allow_development_keys=dev)


@pytest.mark.usefixtures("no_gost_engine")
@pytest.mark.parametrize("dev", [True, False], ids=["development", "production"])
def test_a_configured_key_is_never_signed_in_python_when_the_engine_is_missing(
        dev: bool, keys: tuple[Path, Path, Path], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _, key, cert = keys
    configured = signers(SigningSettings(signer="openssl", key_file=key, certificate_file=cert),
                         tmp_path, dev=dev)
    with caplog.at_level(logging.WARNING), pytest.raises(SignerUnavailable) as caught:
        configured.for_organization("mo1", **MO)
    assert caught.value.code == "gost_engine_missing"
    assert "чистым Python" not in caplog.text
    with pytest.raises(SignerUnavailable):  # not cached: asked again, refused again
        configured.for_organization("mo1", **MO)


@pytest.mark.usefixtures("no_gost_engine")
def test_development_keys_may_be_signed_in_python_without_the_engine(tmp_path: Path) -> None:
    dev = signers(SigningSettings(signer="openssl"), tmp_path, dev=True)
    signer = dev.for_organization("mo1", **MO)
    assert signer.name == "pure"
    ca = TrustStore.from_file(tmp_path / "keys" / "dev-ca.pem")
    verify_detached(b"document", signer.sign(b"document"), trust=ca)


@pytest.mark.usefixtures("no_gost_engine")
def test_production_without_a_development_key_has_no_key_rather_than_a_made_one(
        tmp_path: Path) -> None:
    with pytest.raises(SignerUnavailable) as caught:
        signers(SigningSettings(signer="pure"), tmp_path, dev=False).for_organization("mo1", **MO)
    assert caught.value.code == "key_not_configured"
    assert not (tmp_path / "keys").exists()


@pytest.mark.usefixtures("no_gost_engine")
def test_production_openssl_without_the_engine_is_a_problem_naming_the_fix() -> None:
    (problem,) = machine_problems(SigningSettings(signer="openssl"), production=True)
    assert problem.key == "signing.signer" and problem.value == "openssl"
    assert "движок ГОСТ для OpenSSL не установлен" in problem.expected
    assert "apt-get install libengine-gost-openssl" in problem.expected
    assert "signing.signer = «external»" in problem.expected


def test_a_missing_openssl_program_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openssl_backend, "_probe", lambda: "openssl_missing")
    (problem,) = machine_problems(SigningSettings(signer="openssl"), production=True)
    assert "программа openssl не найдена" in problem.expected


@pytest.mark.usefixtures("no_gost_engine")
@pytest.mark.parametrize(("signer", "production"), [
    ("openssl", False), ("pure", True), ("external", True)])
def test_only_production_openssl_needs_the_engine(signer: str, production: bool) -> None:
    settings = SigningSettings.model_validate({"signer": signer})
    assert machine_problems(settings, production=production) == []


@pytest.mark.usefixtures("gost_engine")
def test_production_openssl_with_the_engine_has_no_problem() -> None:
    assert machine_problems(SigningSettings(signer="openssl"), production=True) == []
