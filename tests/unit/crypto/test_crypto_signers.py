"""The three signing back ends behind one port, the external-command contract included."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import pytest

from medsign.crypto import (
    CryptoError,
    KeyPair,
    SignerUnavailable,
    TrustStore,
    load_signer,
    verify_detached,
)
from medsign.crypto import openssl as openssl_backend
from medsign.crypto.external import ExternalSigner
from tests.unit.crypto.crypto_support import DOCUMENT, NOW, require_openssl_gost


def external(stand_in: Path, mode: str, files: dict[str, Path], *, output: bool = True,
             certificate: bool = True, timeout: float = 30.0) -> ExternalSigner:
    command = (f"{shlex.quote(str(stand_in))} {mode} {shlex.quote(str(files['mo.key']))} "
               f"{shlex.quote(str(files['mo.pem']))} {{input}}" + (" {output}" if output else ""))
    return ExternalSigner(command, certificate_file=files["mo.pem"] if certificate else None,
                          timeout=timeout)


def code_of(error: pytest.ExceptionInfo[CryptoError]) -> str:
    return error.value.code


# --- round trips ---------------------------------------------------------------------------

def test_pure_signer_round_trip(key_files: dict[str, Path], trust: TrustStore,
                                mo: KeyPair) -> None:
    signer = load_signer("pure", key_file=key_files["mo.key"],
                         certificate_file=key_files["mo.pem"])
    assert signer.name == "pure" and signer.certificate_der == mo.certificate_der
    report = verify_detached(DOCUMENT, signer.sign(DOCUMENT, signing_time=NOW), trust=trust)
    assert report.signing_time == NOW


def test_openssl_signer_round_trip(key_files: dict[str, Path], trust: TrustStore,
                                   mo: KeyPair) -> None:
    require_openssl_gost()
    signer = load_signer("openssl", key_file=key_files["mo.key"],
                         certificate_file=key_files["mo.pem"])
    assert signer.name == "openssl" and signer.certificate_der == mo.certificate_der
    report = verify_detached(DOCUMENT, signer.sign(DOCUMENT), trust=trust)
    assert report.certificate_der == mo.certificate_der and report.signing_time is not None


@pytest.mark.parametrize("mode", ["der", "base64", "pem"])
def test_external_signer_round_trip_in_every_output_form(mode: str, stand_in: Path,
                                                         key_files: dict[str, Path],
                                                         trust: TrustStore) -> None:
    signer = external(stand_in, mode, key_files)
    signature = signer.sign(DOCUMENT)
    assert signature[:1] == b"\x30"  # always handed back as DER
    verify_detached(DOCUMENT, signature, trust=trust)


def test_external_signer_reads_standard_output_without_an_output_placeholder(
        stand_in: Path, key_files: dict[str, Path], trust: TrustStore) -> None:
    verify_detached(DOCUMENT, external(stand_in, "base64", key_files, output=False)
                    .sign(DOCUMENT), trust=trust)


def test_external_signer_learns_its_certificate_from_the_first_signature(
        stand_in: Path, key_files: dict[str, Path], mo: KeyPair) -> None:
    signer = external(stand_in, "der", key_files, certificate=False)
    assert signer.certificate_der == b""
    signer.sign(b"first")
    assert signer.certificate_der == mo.certificate_der


def test_external_signer_wrapping_openssl(stand_in: Path, key_files: dict[str, Path],
                                          trust: TrustStore) -> None:
    require_openssl_gost()
    verify_detached(DOCUMENT, external(stand_in, "openssl", key_files).sign(DOCUMENT),
                    trust=trust)


# --- external failures ---------------------------------------------------------------------

def test_a_failing_command_is_unavailable_with_its_stderr(stand_in: Path,
                                                          key_files: dict[str, Path]) -> None:
    with pytest.raises(SignerUnavailable) as caught:
        external(stand_in, "fail", key_files).sign(DOCUMENT)
    assert code_of(caught) == "signer_failed"
    assert "код 3" in caught.value.message and "0x8009001a" in caught.value.message


@pytest.mark.parametrize("mode", ["garbage", "other-data"])
def test_output_that_is_not_a_signature_over_the_document_is_refused(
        mode: str, stand_in: Path, key_files: dict[str, Path]) -> None:
    with pytest.raises(CryptoError) as caught:
        external(stand_in, mode, key_files).sign(DOCUMENT)
    assert code_of(caught) == "signer_output_invalid"
    assert not isinstance(caught.value, SignerUnavailable)  # retrying will not help


def test_a_signature_by_another_certificate_is_refused(stand_in: Path,
                                                       key_files: dict[str, Path]) -> None:
    signer = ExternalSigner(
        f"{stand_in} der {key_files['mo.key']} {key_files['mo.pem']} {{input}} {{output}}",
        certificate_file=key_files["ca.pem"])
    with pytest.raises(CryptoError, match="другим сертификатом"):
        signer.sign(DOCUMENT)


def test_a_missing_or_unrunnable_command_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SignerUnavailable) as caught:
        ExternalSigner(f"{tmp_path}/no-such-cryptcp -sign {{input}}").sign(DOCUMENT)
    assert code_of(caught) == "command_missing"
    (tmp_path / "plain").write_text("#!/bin/sh\n")
    with pytest.raises(SignerUnavailable) as caught:
        ExternalSigner(f"{tmp_path}/plain {{input}}").sign(DOCUMENT)
    assert code_of(caught) == "command_missing"


def test_a_hanging_command_times_out(stand_in: Path, key_files: dict[str, Path]) -> None:
    with pytest.raises(SignerUnavailable) as caught:
        external(stand_in, "sleep", key_files, timeout=0.5).sign(DOCUMENT)
    assert code_of(caught) == "signer_timeout"


@pytest.mark.parametrize(("command", "code"), [
    ("", "command_not_configured"),
    ("   ", "command_not_configured"),
    ("cryptcp -sign {output}", "signer_misconfigured"),
    ("cryptcp -sign 'unterminated {input}", "signer_misconfigured"),
    ("cryptcp -sign -cert {certificate} {input}", "signer_misconfigured"),
])
def test_a_bad_command_template_is_refused_at_start(command: str, code: str) -> None:
    with pytest.raises(CryptoError) as caught:
        ExternalSigner(command)
    assert code_of(caught) == code


def test_placeholders_are_replaced_inside_arguments_and_nothing_is_shell_interpreted(
        tmp_path: Path, key_files: dict[str, Path]) -> None:
    log = tmp_path / "argv.txt"
    script = tmp_path / "echo-args"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {log}\nexit 1\n")
    script.chmod(0o755)
    signer = ExternalSigner(f"{script} --in={{input}} '$HOME;rm' -c {{certificate}}",
                            certificate_file=key_files["mo.pem"])
    with pytest.raises(SignerUnavailable):
        signer.sign(DOCUMENT)
    argv = log.read_text().splitlines()
    assert argv[0].startswith("--in=/") and argv[0].endswith("/document")
    assert argv[1:] == ["$HOME;rm", "-c", str(key_files["mo.pem"])]


# --- choosing a back end -------------------------------------------------------------------

def test_unknown_kind_and_missing_key_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CryptoError) as caught:
        load_signer("rsa", key_file=None, certificate_file=None)
    assert code_of(caught) == "unknown_signer"
    with pytest.raises(SignerUnavailable) as unavailable:
        load_signer("pure", key_file=None, certificate_file=None)
    assert code_of(unavailable) == "key_not_configured"
    with pytest.raises(SignerUnavailable) as unavailable:
        load_signer("pure", key_file=tmp_path / "nope.key", certificate_file=tmp_path / "c")
    assert code_of(unavailable) == "key_not_configured"


@pytest.fixture
def no_gost_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openssl_backend, "_probe", lambda: "gost_engine_missing")


@pytest.mark.usefixtures("no_gost_engine")
def test_openssl_without_the_engine_is_unavailable(key_files: dict[str, Path]) -> None:
    assert not openssl_backend.openssl_gost_available()
    with pytest.raises(SignerUnavailable) as caught:
        load_signer("openssl", key_file=key_files["mo.key"],
                    certificate_file=key_files["mo.pem"])
    assert code_of(caught) == "gost_engine_missing"
    assert "libengine-gost-openssl" in caught.value.message


@pytest.mark.usefixtures("no_gost_engine")
def test_openssl_may_fall_back_to_pure_with_a_warning(key_files: dict[str, Path],
                                                      caplog: pytest.LogCaptureFixture,
                                                      trust: TrustStore) -> None:
    with caplog.at_level(logging.WARNING, logger="medsign.crypto"):
        signer = load_signer("openssl", key_file=key_files["mo.key"],
                             certificate_file=key_files["mo.pem"], fallback_to_pure=True)
    assert signer.name == "pure"
    assert "чистым Python" in caplog.text
    verify_detached(DOCUMENT, signer.sign(DOCUMENT), trust=trust)


def test_the_openssl_probe_reports_a_missing_program(monkeypatch: pytest.MonkeyPatch) -> None:
    openssl_backend._probe.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        assert openssl_backend._probe() == "openssl_missing"
        assert openssl_backend.openssl_problem().code == "openssl_missing"
    finally:
        openssl_backend._probe.cache_clear()
