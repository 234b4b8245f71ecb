"""``medsign keys import / list / check`` as an operator runs them: what is refused before
anything is written, what the listing and the check say, and their exit codes (0 fine, 1
refused or a problem found, 2 a mistake in the arguments or the configuration)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign.app import create_app
from medsign.crypto import KeyPair, save_pem
from tests import factories as f
from tests.unit.signing.key_store_kit import MOS, Kit

MO1, MO2 = MOS["mo1"], MOS["mo2"]


class Keys:
    """``medsign`` against the test database, with a key store and a test CA of its own."""

    def __init__(self, folder: Path, db_url: str, engine: Engine) -> None:
        self.folder = folder
        self.kit = Kit.make(folder / "pki")
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")},
                    "MEDSIGN_DATABASE__URL": db_url,
                    "MEDSIGN_SIGNING__KEY_STORE": str(self.kit.root),
                    "MEDSIGN_SIGNING__MO_TRUST_STORE": str(self.kit.ca_file)}
        self.kit.root.mkdir(mode=0o700)
        api = TestClient(create_app(engine))
        api.headers["Authorization"] = f"Bearer {f.token(engine)}"
        for n, (code, mo) in enumerate((("mo1", MO1), ("mo2", MO2))):
            body = f.organization(mo.name, ogrn=mo.ogrn, inn=mo.inn)
            body["partner"]["department_id"] = f"7f1c0d3e-0000-4000-8000-00000000000{n + 1}"
            assert api.put(f"/api/v1/organizations/{code}", json=body).status_code == 201

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "medsign", "keys", *args], cwd=self.folder,
                              env={**self.env, **env}, capture_output=True, text=True,
                              timeout=120, check=False)

    def files(self, pair: KeyPair, name: str) -> tuple[str, str]:
        key, cert = self.folder / f"{name}.key", self.folder / f"{name}.pem"
        save_pem(pair, key, cert)
        return str(key), str(cert)

    def import_pair(self, code: str, pair: KeyPair, name: str,
                    ) -> subprocess.CompletedProcess[str]:
        key, cert = self.files(pair, name)
        return self.run("import", "--organization", code, "--key", key, "--certificate", cert)


@pytest.fixture
def keys(tmp_path: Path, db_url: str, engine: Engine) -> Keys:
    return Keys(tmp_path, db_url, engine)


def test_an_import_writes_an_owner_only_identity_and_says_what_signs(keys: Keys) -> None:
    pair = keys.kit.issue(MO1)
    done = keys.import_pair("mo1", pair, "mo1")
    assert done.returncode == 0, done.stderr
    assert f"Импортирован сертификат МО «{MO1.name}» (mo1)" in done.stdout
    assert f"ОГРН={MO1.ogrn}" in done.stdout and "Новые подписи МО" in done.stdout
    (folder,) = (keys.kit.root / "mo1").iterdir()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "key.pem": 0o600, "certificate.pem": 0o600}
    again = keys.import_pair("mo1", pair, "mo1")
    assert again.returncode == 1 and "уже в хранилище" in again.stderr


@pytest.mark.parametrize(("case", "reason"), [
    ("another МО", f"ОГРН в сертификате {MO2.ogrn}, у МО {MO1.ogrn}"),
    ("expired", "срок действия сертификата истёк"),
    ("another CA", "signing.mo_trust_store"),
    ("key of another", "ключ не соответствует сертификату"),
])
def test_an_import_that_does_not_hold_up_writes_nothing(keys: Keys, case: str,
                                                        reason: str) -> None:
    from medsign.crypto import make_ca
    kit = keys.kit
    pair = {
        "another МО": lambda: kit.issue(MO1, ogrn=MO2.ogrn),
        "expired": lambda: kit.issue(MO1, start=timedelta(days=-400)),
        "another CA": lambda: kit.issue(MO1, ca=make_ca("Чужой УЦ", organization="Чужой УЦ")),
        "key of another": lambda: KeyPair(kit.issue(MO2).private_key,
                                          kit.issue(MO1).certificate_der),
    }[case]()
    done = keys.import_pair("mo1", pair, "bad")
    assert done.returncode == 1, done
    assert done.stderr.startswith(f"Ошибка: ключ МО «{MO1.name}» (mo1) не импортирован")
    assert reason in done.stderr and "Traceback" not in done.stderr
    assert not (kit.root / "mo1").exists() or not list((kit.root / "mo1").iterdir())


@pytest.mark.parametrize("args", [
    ["--key", "KEY"], ["--pkcs12", "KEY", "--certificate", "CERT"], [],
    ["--certificate", "CERT", "--password-file", "KEY"]])
def test_import_arguments_that_do_not_go_together_are_a_usage_error(keys: Keys,
                                                                    args: list[str]) -> None:
    key, cert = keys.files(keys.kit.issue(MO1), "mo1")
    args = [{"KEY": key, "CERT": cert}.get(a, a) for a in args]
    done = keys.run("import", "--organization", "mo1", *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_certificate_alone_is_only_for_the_external_signer(keys: Keys) -> None:
    _, cert = keys.files(keys.kit.issue(MO1), "mo1")
    done = keys.run("import", "--organization", "mo1", "--certificate", cert)
    assert done.returncode == 1 and "«external»" in done.stderr
    external = keys.run("import", "--organization", "mo1", "--certificate", cert,
                        MEDSIGN_SIGNING__SIGNER="external",
                        MEDSIGN_SIGNING__SIGNER_COMMAND="cs {input}")
    assert external.returncode == 0, external.stderr
    (folder,) = (keys.kit.root / "mo1").iterdir()
    assert [p.name for p in folder.iterdir()] == ["certificate.pem"]


def test_list_shows_every_identity_and_the_one_in_use(keys: Keys) -> None:
    old, new = keys.kit.issue(MO1, start=timedelta(days=-300)), keys.kit.issue(MO1)
    for n, pair in enumerate((old, new)):
        done = keys.import_pair("mo1", pair, f"mo1-{n}")
        assert done.returncode == 0, done.stderr
    done = keys.run("list")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split("\t")[1:] == ["МО", "Ключ", "Субъект", "Серийный номер", "Издатель",
                                      "Действует с", "Действует по", "Дней", "Состояние"]
    cells = [row.split("\t") for row in rows]
    in_use = [c for c in cells if c[0] == "*"]
    from medsign.crypto.certs import parse_certificate
    assert [c[4] for c in in_use] == [parse_certificate(new.certificate_der).serial_hex]
    assert {c[1] for c in cells} == {"mo1", "mo2"}
    assert [c[-1] for c in cells if c[1] == "mo2"] == ["нет ключа"]
    only = keys.run("list", "--organization", "mo2").stdout.splitlines()
    assert len(only) == 2


def test_check_names_every_problem_and_exits_1(keys: Keys) -> None:
    assert keys.import_pair("mo1", keys.kit.issue(MO1), "mo1").returncode == 0
    done = keys.run("check")
    assert done.returncode == 1
    assert f"МО «{MO2.name}» (mo2) не может подписывать: нет ключа подписи" in done.stderr
    assert keys.import_pair("mo2", keys.kit.issue(MO2, days=20), "mo2").returncode == 0
    done = keys.run("check")
    assert done.returncode == 0, done.stderr
    assert "Ключи МО в порядке: 2 МО." in done.stdout
    assert f"Предупреждение: у МО «{MO2.name}» (mo2) сертификат истекает" in done.stderr
    (folder,) = (keys.kit.root / "mo1").iterdir()
    (folder / "key.pem").chmod(0o644)
    done = keys.run("check")
    assert done.returncode == 1 and "доступен группе или всем (права 0644)" in done.stderr


def test_a_configuration_with_the_removed_one_key_is_refused_naming_the_import(
        keys: Keys) -> None:
    config = keys.folder / "old.toml"
    config.write_text('[signing]\nkey_file = "/etc/medsign/mo.key"\n', encoding="utf-8")
    done = keys.run("list", "--config", str(config))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "signing.key_file" in done.stderr and "medsign keys import" in done.stderr


def test_a_pkcs12_container_is_imported_with_its_password_and_the_service_is_warned_about(
        keys: Keys) -> None:
    from tests.unit.crypto.crypto_support import require_openssl_gost
    from tests.unit.signing.key_store_kit import pkcs12
    require_openssl_gost()
    container = pkcs12(keys.kit.issue(MO1), keys.folder / "p12", "пароль МО")
    secret = keys.folder / "password"
    secret.write_text("пароль МО\n", encoding="utf-8")
    done = keys.run("import", "--organization", "mo1", "--pkcs12", str(container),
                    "--password-file", str(secret))
    assert done.returncode == 0, done.stderr
    assert "MEDSIGN_KEY_PASSWORD_MO1" in done.stderr  # the service would find no password
    assert "пароль МО" not in done.stdout + done.stderr
    (folder,) = (keys.kit.root / "mo1").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["certificate.pem", "container.p12"]
    assert (folder / "container.p12").stat().st_mode & 0o777 == 0o600
    listed = keys.run("list", "--organization", "mo1", MEDSIGN_KEY_PASSWORD_MO1="пароль МО")
    assert listed.stdout.splitlines()[1].startswith("*\tmo1\t"), listed
    wrong = keys.run("import", "--organization", "mo2", "--pkcs12", str(container),
                     MEDSIGN_KEY_PASSWORD_MO2="не тот")
    assert wrong.returncode == 1 and "неверный пароль" in wrong.stderr


def test_the_esia_client_system_has_its_own_identity_named_by_the_esia_settings(
        keys: Keys) -> None:
    """ESIA's requests are signed as the organisation that registered the client system
    (``[esia] ogrn/inn``), from the same store under ``esia.key_code`` — not as some МО."""
    portal = MOS["mo3"]  # requisites of an organisation that is not an МО of the database
    esia = {"MEDSIGN_ESIA__CLIENT_ID": "RPMU", "MEDSIGN_ESIA__REDIRECT_URL":
            "https://portal.example/esia/return", "MEDSIGN_ESIA__ORGANIZATION": portal.name,
            "MEDSIGN_ESIA__OGRN": portal.ogrn, "MEDSIGN_ESIA__INN": portal.inn}
    missing = keys.run("check", **esia)
    assert missing.returncode == 1 and "(medsign-esia)" in missing.stderr
    key, cert = keys.files(keys.kit.issue(MO1), "wrong")
    wrong = keys.run("import", "--organization", "medsign-esia", "--key", key,
                     "--certificate", cert, **esia)
    assert wrong.returncode == 1 and f"ОГРН в сертификате {MO1.ogrn}" in wrong.stderr
    key, cert = keys.files(keys.kit.issue(portal), "portal")
    done = keys.run("import", "--organization", "medsign-esia", "--key", key,
                    "--certificate", cert, **esia)
    assert done.returncode == 0, done.stderr
    assert f"«{portal.name}» (medsign-esia)" in done.stdout
    listed = keys.run("list", **esia)
    assert "medsign-esia" in listed.stdout and portal.ogrn in listed.stdout
    checked = keys.run("check", **esia)  # the МО of the database have no keys yet
    assert checked.returncode == 1 and "(mo1)" in checked.stderr
    assert "medsign-esia" not in checked.stderr
