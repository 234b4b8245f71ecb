from pathlib import Path

import pytest

from medsign.config import ConfigError, Problem, load_settings, settings_warnings


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """A complete production configuration, as environment variables."""
    for name in ("operator-ca.pem", "mo-ca.pem"):
        (tmp_path / name).write_text("-----BEGIN-----\n", encoding="utf-8")
    (tmp_path / "keys").mkdir(mode=0o700)
    (tmp_path / "journal").mkdir()
    return {
        "MEDSIGN_PROFILE": "production",
        "MEDSIGN_DATABASE__URL": "postgresql://medsign:pw@db/medsign",
        "MEDSIGN_SERVER__PUBLIC_URL": "https://medsign.region.ru",
        "MEDSIGN_MAX__TOKEN": "max-token-0123456789abcdef",
        "MEDSIGN_GOSKEY__TOKEN": "goskey-token-0123456789abcdef",
        "MEDSIGN_SIGNING__TRUST_STORE": "operator-ca.pem",
        "MEDSIGN_SIGNING__SIGNER": "openssl",
        "MEDSIGN_SIGNING__KEY_STORE": "keys",
        "MEDSIGN_SIGNING__MO_TRUST_STORE": "mo-ca.pem",
        "MEDSIGN_SIGNING__TRANSACTION_JOURNAL": "journal",
    }


def problems_of(env: dict[str, str]) -> dict[str, Problem]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    return {problem.key: problem for problem in caught.value.problems}


@pytest.mark.parametrize(
    ("env", "key", "text"),
    [
        (
            {"MEDSIGN_RUNNER__BACKOFF_CAP": "1s"},
            "runner.backoff_cap",
            "не меньше runner.backoff_base",
        ),
        ({"MEDSIGN_RUNNER__LEASE": "2s"}, "runner.lease", "больше 2 × runner.poll_interval"),
        ({"MEDSIGN_SIGNING__POLL_INTERVAL_MAX": "10s"}, "signing.poll_interval_max", "не меньше"),
        (
            {"MEDSIGN_SIGNING__MAX_UNCOMPRESSED_BYTES": "1MiB"},
            "signing.max_uncompressed_bytes",
            "не меньше signing.max_archive_bytes (20MiB)",
        ),
        ({"MEDSIGN_NOTIFICATIONS__MIN_LEAD": "2d"}, "notifications.min_lead", "меньше"),
        ({"MEDSIGN_SIGNING__SIGNER": "external"}, "signing.signer_command", "«external»"),
        ({"MEDSIGN_MAX__UPDATES": "webhook"}, "max.webhook_secret", "«webhook»"),
        ({"MEDSIGN_EMAIL__SSL": "true"}, "email.ssl", "не оба"),
        ({"MEDSIGN_EMAIL__SMTP_HOST": "smtp.example.ru"}, "email.sender", "адрес отправителя"),
        ({"MEDSIGN_EMAIL__SMTP_HOST": "smtp.example.ru", "MEDSIGN_EMAIL__SENDER": "noreply"},
         "email.sender", "обязателен при заданном email.smtp_host"),
        ({"MEDSIGN_EMAIL__PASSWORD": "smtp-secret"}, "email.username", "имя пользователя"),
    ],
)
def test_inconsistent_combinations_are_problems(env: dict[str, str], key: str, text: str) -> None:
    problem = problems_of(env)[key]
    assert text in problem.expected
    variable = "MEDSIGN_" + key.upper().replace(".", "__")
    assert problem.source == (variable if variable in env else "")


def test_lease_exactly_twice_the_poll_interval_is_too_short() -> None:
    env = {"MEDSIGN_RUNNER__LEASE": "2s", "MEDSIGN_RUNNER__POLL_INTERVAL": "1s"}
    assert problems_of(env)["runner.lease"].value == "2s"


@pytest.mark.parametrize("key", ["key_file", "certificate_file"])
def test_the_removed_one_key_for_every_mo_names_the_key_store_and_the_import(
        tmp_path: Path, key: str) -> None:
    file = tmp_path / "old.toml"
    file.write_text(f'[signing]\n{key} = "/etc/medsign/mo.key"\n', encoding="utf-8")
    for found in (problems_of_file(file), problems_of({f"MEDSIGN_SIGNING__{key.upper()}": "x"})):
        problem = found[f"signing.{key}"]
        assert "signing.key_store" in problem.expected and "ключ удалён" in problem.expected
        assert "medsign keys import --organization" in problem.expected
        assert "возможно, имелось в виду" not in problem.expected
    assert problems_of_file(file)[f"signing.{key}"].source == str(file)


def problems_of_file(path: Path) -> dict[str, Problem]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    return {problem.key: problem for problem in caught.value.problems}


def test_key_store_and_passwords_are_existing_folders(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    found = problems_of({"MEDSIGN_SIGNING__KEY_STORE": "file",
                         "MEDSIGN_SIGNING__KEY_PASSWORDS_DIR": "nowhere"})
    assert found["signing.key_store"].expected == "путь к существующему каталогу или пусто"
    assert "signing.key_passwords_dir" in found
    (tmp_path / "store").mkdir()
    assert load_settings(env={"MEDSIGN_SIGNING__KEY_STORE": "store"}).signing.key_store == (
        tmp_path / "store")


def test_pkcs12_password_variables_are_not_taken_for_unknown_settings() -> None:
    assert load_settings(env={"MEDSIGN_KEY_PASSWORD_MO_1": "secret"}).profile == "development"


def test_webhook_secret_follows_the_max_rules() -> None:
    env = {"MEDSIGN_MAX__UPDATES": "webhook", "MEDSIGN_MAX__WEBHOOK_SECRET": "bad secret!"}
    assert "от 5 до 256" in problems_of(env)["max.webhook_secret"].expected
    env["MEDSIGN_MAX__WEBHOOK_SECRET"] = "Good_secret-123"
    assert load_settings(env=env).max.updates == "webhook"


def test_placeholders_are_fine_outside_production() -> None:
    for profile in ("development", "demo"):
        env = {"MEDSIGN_PROFILE": profile, "MEDSIGN_MAX__TOKEN": "changeme"}
        env["MEDSIGN_SERVER__PUBLIC_URL"] = "http://localhost:8000"
        assert load_settings(env=env).profile == profile


def test_a_complete_production_configuration_loads(production: dict[str, str]) -> None:
    settings = load_settings(env=production)
    assert settings.database.url == "postgresql+psycopg://medsign:pw@db/medsign"
    assert settings_warnings(settings) == []


@pytest.mark.parametrize(
    "token", ["", "changeme", "demo", "test", "short-token-15c", "CHANGEME" * 3]
)
def test_production_refuses_placeholder_secrets(production: dict[str, str], token: str) -> None:
    production["MEDSIGN_GOSKEY__TOKEN"] = token
    problem = problems_of(production)["goskey.token"]
    assert "не короче 16 символов" in problem.expected


def test_production_checks_the_webhook_secret_only_when_webhooks_are_used(
    production: dict[str, str],
) -> None:
    production |= {"MEDSIGN_MAX__UPDATES": "webhook", "MEDSIGN_MAX__WEBHOOK_SECRET": "short"}
    assert "max.webhook_secret" in problems_of(production)


def test_production_refuses_plain_http(production: dict[str, str]) -> None:
    production |= {
        "MEDSIGN_SERVER__PUBLIC_URL": "http://medsign.region.ru",
        "MEDSIGN_GOSKEY__BASE_URL": "http://goskey.local/gov/pep",
        "MEDSIGN_ESIA__CLIENT_ID": "MEDSIGN01",
        "MEDSIGN_ESIA__REDIRECT_URL": "http://medsign.region.ru/esia",
    }
    found = problems_of(production)
    assert {"server.public_url", "goskey.base_url", "esia.redirect_url"} <= set(found)
    assert "https://" in found["server.public_url"].expected


@pytest.mark.parametrize("signer", ["openssl", "external"])
def test_production_requires_the_operator_ca_the_key_store_and_the_mo_ca(
        production: dict[str, str], signer: str) -> None:
    for name in ("TRUST_STORE", "KEY_STORE", "MO_TRUST_STORE"):
        del production[f"MEDSIGN_SIGNING__{name}"]
    production |= {"MEDSIGN_SIGNING__SIGNER": signer, "MEDSIGN_SIGNING__SIGNER_COMMAND": "cs"}
    found = problems_of(production)
    assert set(found) == {"signing.trust_store", "signing.key_store", "signing.mo_trust_store"}
    assert "medsign keys import" in found["signing.key_store"].expected
    assert "сертификаты МО" in found["signing.mo_trust_store"].expected


def test_production_requires_the_transaction_journal_and_says_why(
        production: dict[str, str]) -> None:
    del production["MEDSIGN_SIGNING__TRANSACTION_JOURNAL"]
    found = problems_of(production)
    assert set(found) == {"signing.transaction_journal"}
    assert "другом диске" in found["signing.transaction_journal"].expected


def test_the_transaction_journal_is_an_existing_folder(production: dict[str, str]) -> None:
    production["MEDSIGN_SIGNING__TRANSACTION_JOURNAL"] = "no-such-folder"
    found = problems_of(production)
    assert found["signing.transaction_journal"].expected == (
        "путь к существующему каталогу или пусто")


def test_production_with_an_external_signer_loads(production: dict[str, str]) -> None:
    production |= {"MEDSIGN_SIGNING__SIGNER": "external", "MEDSIGN_SIGNING__SIGNER_COMMAND": "cs"}
    assert load_settings(env=production).signing.signer == "external"


def test_production_refuses_the_pure_signer_unless_allowed(production: dict[str, str]) -> None:
    production["MEDSIGN_SIGNING__SIGNER"] = "pure"
    found = problems_of(production)
    assert set(found) == {"signing.signer"}
    assert found["signing.signer"].value == "pure"
    assert "signing.allow_pure_in_production = true" in found["signing.signer"].expected
    assert found["signing.signer"].source == "MEDSIGN_SIGNING__SIGNER"


def test_production_with_pure_allowed_loads_and_warns_of_it(production: dict[str, str]) -> None:
    production |= {"MEDSIGN_SIGNING__SIGNER": "pure",
                   "MEDSIGN_SIGNING__ALLOW_PURE_IN_PRODUCTION": "true"}
    (warning,) = settings_warnings(load_settings(env=production))
    assert warning.key == "signing.signer" and warning.value == "pure"
    assert "постоянное время" in warning.expected and "сертифицированным" in warning.expected


@pytest.mark.parametrize("profile", ["development", "demo"])
@pytest.mark.parametrize("allowed", ["true", "false"])
def test_pure_is_the_quiet_default_outside_production(profile: str, allowed: str) -> None:
    settings = load_settings(env={"MEDSIGN_PROFILE": profile,
                                  "MEDSIGN_SIGNING__ALLOW_PURE_IN_PRODUCTION": allowed})
    assert settings.signing.signer == "pure" and settings_warnings(settings) == []


def test_production_esia_client_needs_the_requisites_its_certificate_names(
        production: dict[str, str]) -> None:
    production["MEDSIGN_ESIA__CLIENT_ID"] = "RPMU"
    production["MEDSIGN_ESIA__REDIRECT_URL"] = "https://portal.example/esia/return"
    problems = problems_of(production)
    assert {"esia.ogrn", "esia.inn"} <= set(problems)
    production.update(MEDSIGN_ESIA__OGRN="1027700132195", MEDSIGN_ESIA__INN="7707083893")
    assert load_settings(env=production).esia.ogrn == "1027700132195"  # no problem left


def test_production_esia_client_needs_a_redirect_url(production: dict[str, str]) -> None:
    production["MEDSIGN_ESIA__CLIENT_ID"] = "MEDSIGN01"
    assert "esia.redirect_url" in problems_of(production)


def test_production_on_sqlite_is_a_warning_not_a_problem(production: dict[str, str]) -> None:
    production["MEDSIGN_DATABASE__URL"] = "sqlite:///var/medsign.db"
    (warning,) = settings_warnings(load_settings(env=production))
    assert warning.key == "database.url" and "PostgreSQL" in warning.expected


def test_sql_echo_in_production_is_a_warning(production: dict[str, str]) -> None:
    production["MEDSIGN_DATABASE__ECHO"] = "true"
    assert [w.key for w in settings_warnings(load_settings(env=production))] == ["database.echo"]


def test_goskey_base_url_without_the_prefix_is_a_warning() -> None:
    settings = load_settings(env={"MEDSIGN_GOSKEY__BASE_URL": "https://platform-api2.max.ru"})
    assert [w.key for w in settings_warnings(settings)] == ["goskey.base_url"]


def test_an_invalid_profile_skips_production_rules_but_reports_itself() -> None:
    found = problems_of({"MEDSIGN_PROFILE": "prod", "MEDSIGN_MAX__TOKEN": "x"})
    assert set(found) == {"profile"}
    assert "«production»" in found["profile"].expected


def test_a_complete_email_section_loads_and_its_password_stays_secret() -> None:
    settings = load_settings(env={
        "MEDSIGN_EMAIL__SMTP_HOST": "smtp.example.ru", "MEDSIGN_EMAIL__SMTP_PORT": "465",
        "MEDSIGN_EMAIL__SSL": "true", "MEDSIGN_EMAIL__STARTTLS": "false",
        "MEDSIGN_EMAIL__USERNAME": "portal", "MEDSIGN_EMAIL__PASSWORD": "smtp-secret",
        "MEDSIGN_EMAIL__SENDER": "Портал пациента <noreply@example.ru>",
        "MEDSIGN_EMAIL__RESET_LINK_TTL": "30m"})
    assert settings.email.enabled and settings.email.reset_link_ttl.total_seconds() == 1800
    assert settings.email.password.get_secret_value() == "smtp-secret"
    assert "smtp-secret" not in repr(settings)
    assert not load_settings(env={}).email.enabled


def test_mail_without_tls_in_production_is_a_warning(production: dict[str, str]) -> None:
    mail = {"MEDSIGN_EMAIL__SMTP_HOST": "smtp.example.ru",
            "MEDSIGN_EMAIL__SENDER": "noreply@example.ru", "MEDSIGN_EMAIL__STARTTLS": "false"}
    warned = {w.key for w in settings_warnings(load_settings(env={**production, **mail}))}
    assert "email.starttls" in warned
    tls = {**mail, "MEDSIGN_EMAIL__STARTTLS": "true"}
    assert "email.starttls" not in {
        w.key for w in settings_warnings(load_settings(env={**production, **tls}))}


@pytest.mark.parametrize("value", ["0s", "-1d"])
def test_the_webhook_history_period_must_be_positive(value: str) -> None:
    problem = problems_of({"MEDSIGN_HOUSEKEEPING__WEBHOOK_HISTORY": value})[
        "housekeeping.webhook_history"]
    assert problem.value == value
