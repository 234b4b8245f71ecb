"""Which key signs for an МО: its newest usable identity in the key store, judged by the files'
permissions, the key against the certificate, the МО's requisites, the МО trust store and the
dates — by the back end the configuration names and never by ``pure`` in its place; and what
a production machine must have to start."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest

from medsign.clock import FakeClock
from medsign.config import SigningSettings
from medsign.crypto import SignerUnavailable, TrustStore, make_ca, verify_detached
from medsign.crypto import openssl as openssl_backend
from medsign.crypto.certs import parse_certificate
from medsign.crypto.crl import FixedLists, parse_crl
from medsign.crypto.keys import Profile, certificate_pem, issue_certificate, make_crl
from medsign.domain.signing_identity import IdentityState
from medsign.signing.identities import password_variable
from medsign.signing.key_import import ImportRefused, Source, import_identity
from medsign.signing.signers import ConfiguredSigners, development_keys, machine_problems
from tests.unit.crypto.crypto_support import require_openssl_gost
from tests.unit.signing.key_store_kit import MOS, NOW, Kit, pkcs12, requisites

MO1, MO2, MO3 = MOS["mo1"], MOS["mo2"], MOS["mo3"]


@pytest.fixture
def no_gost_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openssl_backend, "_probe", lambda: "gost_engine_missing")


@pytest.fixture
def gost_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openssl_backend, "_probe", lambda: None)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit.make(tmp_path / "pki")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def signers(kit: Kit, clock: FakeClock, *, signer: str = "pure", dev: bool = False,
            environ: dict[str, str] | None = None, recheck: timedelta = timedelta(0),
            **settings: object) -> ConfiguredSigners:
    """The provider under test; it looks at the store on every call unless ``recheck``."""
    configured = SigningSettings.model_validate(
        {"signer": signer, "mo_trust_store": kit.ca_file, **settings})
    return ConfiguredSigners(configured, keys_dir=kit.root, allow_development_keys=dev,
                             clock=clock, environ=environ or {}, recheck=recheck)


def subject_of(provider: ConfiguredSigners, code: str) -> str:
    return parse_certificate(provider.for_organization(code, **requisites(MOS[code]))
                             .certificate_der).subject


def test_every_mo_signs_with_its_own_certificate(kit: Kit, clock: FakeClock) -> None:
    for code, mo in MOS.items():
        kit.put(code, "current", kit.issue(mo))
    provider = signers(kit, clock)
    trust = TrustStore.from_file(kit.ca_file)
    for code, mo in MOS.items():
        signer = provider.for_organization(code, **requisites(mo))
        report = verify_detached(b"doc", signer.sign(b"doc"), trust=trust)
        assert f"ОГРН={mo.ogrn}" in report.signer_subject and mo.name in report.signer_subject


def test_a_certificate_of_another_mo_is_invalid_and_named_while_others_sign(
        kit: Kit, clock: FakeClock) -> None:
    kit.put("mo1", "wrong", kit.issue(MO1, ogrn=MO2.ogrn, inn=MO2.inn))
    kit.put("mo2", "current", kit.issue(MO2))
    provider = signers(kit, clock)
    status = provider.status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid
    assert MO2.ogrn in status.reason and MO1.ogrn in status.reason
    with pytest.raises(SignerUnavailable) as caught:
        provider.for_organization("mo1", **requisites(MO1))
    assert caught.value.code == "mo_signing_unavailable" and MO1.name in caught.value.message
    assert MO2.name in subject_of(provider, "mo2")


@pytest.mark.parametrize(("start", "days", "state"), [
    (timedelta(days=-400), 365, IdentityState.expired),
    (timedelta(days=3), 365, IdentityState.not_yet_valid),
    (timedelta(days=-350), 365, IdentityState.expiring),
])
def test_the_dates_decide_whether_an_mo_signs(kit: Kit, clock: FakeClock, start: timedelta,
                                             days: int, state: IdentityState) -> None:
    kit.put("mo1", "only", kit.issue(MO1, start=start, days=days))
    provider = signers(kit, clock)
    status = provider.status("mo1", **requisites(MO1), now=NOW)
    assert status.state is state
    if state.usable:
        assert status.days_left == 15
        provider.for_organization("mo1", **requisites(MO1))
        return
    with pytest.raises(SignerUnavailable, match="не может подписывать"):
        provider.for_organization("mo1", **requisites(MO1))


def test_rotation_with_overlap_uses_the_newest_as_soon_as_it_is_imported_and_in_force(
        kit: Kit, clock: FakeClock) -> None:
    old, new = kit.issue(MO1, start=timedelta(days=-350)), kit.issue(MO1, start=timedelta(days=2))
    kit.put("mo1", "old", old)
    provider = signers(kit, clock)
    signer = provider.for_organization("mo1", **requisites(MO1))
    assert signer.certificate_der == old.certificate_der
    kit.put("mo1", "new", new)  # imported ahead: the old one signs until the new one starts
    assert provider.for_organization("mo1", **requisites(MO1)) is signer
    clock.advance(timedelta(days=2, hours=1))
    assert provider.for_organization("mo1", **requisites(MO1)).certificate_der == \
        new.certificate_der


def test_states_look_at_the_store_once_per_recheck_signatures_every_time(
        kit: Kit, clock: FakeClock) -> None:
    """The console's states may be a recheck interval old; a signature never is."""
    old, new = kit.issue(MO1, start=timedelta(days=-350)), kit.issue(MO1, start=timedelta(days=-1))
    kit.put("mo1", "old", old)
    provider = signers(kit, clock, recheck=timedelta(hours=1))
    assert provider.status("mo1", **requisites(MO1), now=NOW).days_left == 15
    kit.put("mo1", "new", new)
    assert provider.status("mo1", **requisites(MO1), now=NOW).days_left == 15  # not looked
    assert provider.for_organization("mo1", **requisites(MO1)).certificate_der == \
        new.certificate_der  # a signature looks at the store
    assert provider.status("mo1", **requisites(MO1), now=NOW).days_left == 364
    soon = signers(kit, clock, recheck=timedelta(milliseconds=50))
    assert soon.status("mo1", **requisites(MO1), now=NOW).days_left == 364
    kit.put("mo1", "newer", kit.issue(MO1, start=timedelta(hours=-1), days=100))
    time.sleep(0.1)  # past the interval: the next state sees the import
    assert soon.status("mo1", **requisites(MO1), now=NOW).days_left == 99


def test_one_mo_without_a_key_does_not_stop_the_others(kit: Kit, clock: FakeClock) -> None:
    kit.put("mo2", "current", kit.issue(MO2))
    provider = signers(kit, clock)
    status = provider.status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.missing and status.reason == "нет ключа подписи"
    with pytest.raises(SignerUnavailable, match=f"МО «{MO1.name}» \\(mo1\\) не может подписывать"):
        provider.for_organization("mo1", **requisites(MO1))
    assert MO2.name in subject_of(provider, "mo2")
    assert not (kit.root / "mo1").exists()  # production: no development key made


def test_a_revoked_certificate_stops_that_mo_only_and_a_rotated_one_signs(
        kit: Kit, clock: FakeClock) -> None:
    """The МО certificates are checked against the same CRLs as the operator's."""
    revoked = kit.issue(MO1)
    kit.put("mo1", "revoked", revoked)
    kit.put("mo2", "current", kit.issue(MO2))
    serial = parse_certificate(revoked.certificate_der).asn.serial_number
    crl = make_crl(kit.ca, revoked=[(serial, NOW - timedelta(hours=1))],
                   this_update=NOW - timedelta(minutes=30))
    configured = SigningSettings.model_validate({"signer": "pure",
                                                 "mo_trust_store": kit.ca_file})
    provider = ConfiguredSigners(configured, keys_dir=kit.root, allow_development_keys=False,
                                 clock=clock, environ={},
                                 revocation=FixedLists([parse_crl(crl)]))
    status = provider.status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid and "отозван" in status.reason, status
    with pytest.raises(SignerUnavailable) as refused:
        provider.for_organization("mo1", **requisites(MO1))
    assert refused.value.code == "mo_signing_unavailable"
    assert MO2.name in subject_of(provider, "mo2")
    kit.put("mo1", "replacement", kit.issue(MO1))  # the МО gets a new certificate
    clock.advance(timedelta(minutes=1))
    replaced = ConfiguredSigners(configured, keys_dir=kit.root, allow_development_keys=False,
                                 clock=clock, environ={},
                                 revocation=FixedLists([parse_crl(crl)]))
    assert replaced.status("mo1", **requisites(MO1), now=clock.now()).usable
    assert parse_certificate(replaced.for_organization("mo1", **requisites(MO1))
                             .certificate_der).asn.serial_number != serial


@pytest.mark.parametrize(("case", "reason"), [
    ("ca without keyCertSign", "в keyUsage нет keyCertSign"),
    ("unknown critical extension", "1.2.643.999.1"),
])
def test_a_certificate_outside_what_a_pki_allows_is_invalid_for_that_mo_only(
        tmp_path: Path, clock: FakeClock, case: str, reason: str) -> None:
    """The key store judges МО certificates with the trust store's chain rules."""
    kit = Kit.make(tmp_path / "pki")
    if case == "ca without keyCertSign":
        bad_ca = make_ca("УЦ без права выпуска", organization="УЦ",
                         profile=Profile(usage=frozenset({"digital_signature"})))
        kit.ca_file.write_bytes(kit.ca_file.read_bytes() + certificate_pem(bad_ca.certificate_der))
        pair = kit.issue(MO1, ca=bad_ca)
    else:
        odd = Profile(extra=(("1.2.643.999.1", True, b"\x05\x00"),))
        pair = issue_certificate(kit.ca, common_name=MO1.name, organization=MO1.name,
                                 ogrn=MO1.ogrn, inn=MO1.inn, profile=odd,
                                 not_before=NOW - timedelta(days=1))
    kit.put("mo1", "current", pair)
    kit.put("mo2", "current", kit.issue(MO2))
    provider = signers(kit, clock)
    status = provider.status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid, status
    assert reason in status.reason, status.reason
    assert provider.status("mo2", **requisites(MO2), now=NOW).usable


@pytest.mark.parametrize("loose", ["key.pem", "mo_folder", "identity_folder"])
def test_a_key_open_to_others_is_invalid_with_the_reason(kit: Kit, clock: FakeClock,
                                                         loose: str) -> None:
    folder = kit.put("mo1", "current", kit.issue(MO1))
    target = {"key.pem": folder / "key.pem", "mo_folder": folder.parent,
              "identity_folder": folder}[loose]
    target.chmod(0o644 if loose == "key.pem" else 0o755)
    status = signers(kit, clock).status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid
    assert str(target) in status.reason and "доступен группе или всем" in status.reason


def test_a_store_open_to_others_makes_every_mo_invalid_and_stops_a_production_start(
        kit: Kit, clock: FakeClock) -> None:
    kit.put("mo1", "current", kit.issue(MO1))
    kit.root.chmod(0o755)
    status = signers(kit, clock).status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid and "хранилище ключей" in status.reason
    settings = SigningSettings.model_validate({"key_store": kit.root})
    (problem,) = machine_problems(settings, production=True)
    assert problem.key == "signing.key_store" and "0755" in problem.expected


def test_a_certificate_of_another_ca_does_not_chain(kit: Kit, clock: FakeClock) -> None:
    stranger = make_ca("Посторонний УЦ", organization="Посторонний УЦ")
    kit.put("mo1", "current", kit.issue(MO1, ca=stranger))
    status = signers(kit, clock).status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid and "signing.mo_trust_store" in status.reason


def test_a_key_of_another_certificate_is_invalid(kit: Kit, clock: FakeClock) -> None:
    folder = kit.put("mo1", "current", kit.issue(MO1))
    other = kit.put("mo2", "current", kit.issue(MO2))
    (folder / "key.pem").write_bytes((other / "key.pem").read_bytes())
    status = signers(kit, clock).status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid and "ключ не соответствует" in status.reason


def test_a_certificate_alone_signs_only_through_an_external_signer(kit: Kit,
                                                                   clock: FakeClock) -> None:
    folder = kit.put("mo1", "current", kit.issue(MO1))
    (folder / "key.pem").unlink()
    status = signers(kit, clock).status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid and "«external»" in status.reason
    external = signers(kit, clock, signer="external", signer_command="cs {input}")
    assert external.status("mo1", **requisites(MO1), now=NOW).state is IdentityState.ok


def test_the_external_command_is_told_whom_it_signs_for(
        kit: Kit, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = kit.put("mo1", "current", kit.issue(MO1))
    script = tmp_path / "args.sh"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\nexit 1\n', encoding="utf-8")
    script.chmod(0o755)
    provider = signers(kit, clock, signer="external", signer_command=(
        f"{script} {{input}} {{organization}} {{ogrn}} {{inn}} {{thumbprint}} {{certificate}}"))
    monkeypatch.setenv("ARGS_OUT", str(tmp_path / "args"))
    with pytest.raises(SignerUnavailable):  # it exits 1 after writing down its arguments
        provider.for_organization("mo1", **requisites(MO1)).sign(b"doc")
    thumbprint = provider.status("mo1", **requisites(MO1), now=NOW).certificate
    assert thumbprint is not None
    assert (tmp_path / "args").read_text().split("\n")[1:6] == [
        "mo1", MO1.ogrn, MO1.inn, thumbprint.thumbprint, str(folder / "certificate.pem")]


@pytest.mark.parametrize("gost", [True, False], ids=["gost-pbe", "aes-pbe"])
def test_a_pkcs12_container_opens_with_the_password_from_the_environment_or_a_file(
        kit: Kit, clock: FakeClock, tmp_path: Path, gost: bool) -> None:
    require_openssl_gost()
    pair = kit.issue(MO1)
    container = pkcs12(pair, tmp_path / "p12", "пароль-1", gost=gost)
    import_identity(kit.root, MO1, Source(pkcs12=container, password="пароль-1"),
                    signer="pure", trust=TrustStore.from_file(kit.ca_file), now=NOW)
    variable = password_variable("mo1")
    assert variable == "MEDSIGN_KEY_PASSWORD_MO1"
    with_env = signers(kit, clock, environ={variable: "пароль-1"})
    assert with_env.for_organization("mo1", **requisites(MO1)).certificate_der == \
        pair.certificate_der
    status = signers(kit, clock).status("mo1", **requisites(MO1), now=NOW)
    assert status.state is IdentityState.invalid and variable in status.reason
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "mo1").write_text("пароль-1\n", encoding="utf-8")
    (secrets / "mo1").chmod(0o600)
    from_file = signers(kit, clock, key_passwords_dir=secrets)
    signature = from_file.for_organization("mo1", **requisites(MO1)).sign(b"doc")
    verify_detached(b"doc", signature, trust=TrustStore.from_file(kit.ca_file))


def test_a_wrong_pkcs12_password_is_refused_at_import(kit: Kit, tmp_path: Path) -> None:
    require_openssl_gost()
    container = pkcs12(kit.issue(MO1), tmp_path / "p12", "верный")
    with pytest.raises(ImportRefused, match="неверный пароль"):
        import_identity(kit.root, MO1, Source(pkcs12=container, password="неверный"),
                        signer="pure", trust=TrustStore.from_file(kit.ca_file), now=NOW)
    assert not (kit.root / "mo1").exists()


@pytest.mark.usefixtures("gost_engine")
def test_an_openssl_pkcs12_key_goes_to_openssl_through_a_pipe(kit: Kit, clock: FakeClock,
                                                              tmp_path: Path) -> None:
    require_openssl_gost()
    container = pkcs12(kit.issue(MO1), tmp_path / "p12", "секрет")
    import_identity(kit.root, MO1, Source(pkcs12=container, password="секрет"),
                    signer="openssl", trust=TrustStore.from_file(kit.ca_file), now=NOW)
    signer = signers(kit, clock, signer="openssl",
                     environ={"MEDSIGN_KEY_PASSWORD_MO1": "секрет"}).for_organization(
        "mo1", **requisites(MO1))
    assert signer.name == "openssl"
    verify_detached(b"doc", signer.sign(b"doc"), trust=TrustStore.from_file(kit.ca_file))


@pytest.mark.usefixtures("no_gost_engine")
def test_a_stored_key_is_never_signed_in_python_when_the_engine_is_missing(
        kit: Kit, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    kit.put("mo1", "current", kit.issue(MO1))
    provider = signers(kit, clock, signer="openssl", dev=True)
    with caplog.at_level(logging.WARNING), pytest.raises(SignerUnavailable) as caught:
        provider.for_organization("mo1", **requisites(MO1))
    assert caught.value.code == "gost_engine_missing"
    assert "чистым Python" not in caplog.text
    with pytest.raises(SignerUnavailable):  # not cached: asked again, refused again
        provider.for_organization("mo1", **requisites(MO1))


@pytest.mark.usefixtures("no_gost_engine")
def test_development_keys_are_made_in_the_store_and_may_be_signed_in_python(
        kit: Kit, clock: FakeClock) -> None:
    provider = signers(kit, clock, signer="openssl", dev=True, mo_trust_store=None)
    signer = provider.for_organization("mo1", **requisites(MO1))
    assert signer.name == "pure"
    assert (kit.root / "mo1" / "dev" / "key.pem").is_file()
    ca = TrustStore.from_file(kit.root / "dev-ca.pem")
    verify_detached(b"document", signer.sign(b"document"), trust=ca)
    for folder in (kit.root, kit.root / "mo1", kit.root / "mo1" / "dev"):
        assert folder.stat().st_mode & 0o777 == 0o700


def test_an_mo_with_its_own_identity_gets_no_development_key(kit: Kit,
                                                             clock: FakeClock) -> None:
    kit.put("mo1", "current", kit.issue(MO1))
    signers(kit, clock, dev=True).for_organization("mo1", **requisites(MO1))
    assert not (kit.root / "mo1" / "dev").exists()


def test_development_keys_helper_returns_the_ca_and_the_pair(tmp_path: Path) -> None:
    ca, key, cert = development_keys(tmp_path / "keys", code="mo1", **requisites(MO1))
    assert (ca, key, cert) == (tmp_path / "keys" / "dev-ca.pem",
                               tmp_path / "keys" / "mo1" / "dev" / "key.pem",
                               tmp_path / "keys" / "mo1" / "dev" / "certificate.pem")


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
