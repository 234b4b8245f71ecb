from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from medsign.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    Problem,
    Settings,
    describe_settings,
    load_settings,
)


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path | None = None, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return caught.value.problems


def by_key(problems: list[Problem]) -> dict[str, Problem]:
    return {problem.key: problem for problem in problems}


def test_no_file_and_no_env_gives_the_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.profile == "development"
    assert settings.database.url == f"sqlite:///{tmp_path}/var/medsign.db"
    assert settings.runner.lease == timedelta(seconds=60)
    assert settings.signing.max_archive_bytes == 20 * 1024 * 1024
    assert settings.server.public_url == "http://127.0.0.1:8000"
    assert settings.rate_limits.esia.rate == 10
    assert str(settings.notifications.default_quiet_hours) == "21:00-09:00"


def test_settings_are_frozen() -> None:
    settings = load_settings(env={})
    with pytest.raises(ValueError, match="frozen"):
        settings.runner.concurrency = 1


def test_medsign_toml_in_the_current_directory_is_read_by_default() -> None:
    write(DEFAULT_CONFIG_PATH, "[runner]\nconcurrency = 3\n")
    assert load_settings(env={}).runner.concurrency == 3


def test_medsign_config_variable_names_the_file(tmp_path: Path) -> None:
    other = write(tmp_path / "other.toml", "[runner]\nconcurrency = 5\n")
    assert load_settings(env={"MEDSIGN_CONFIG": str(other)}).runner.concurrency == 5


def test_an_explicit_file_that_does_not_exist_is_a_problem(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "missing.toml")
    assert problem.key == "" and problem.source.endswith("missing.toml")
    assert "missing.toml" in str(problem)


def test_file_values_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        '[runner]\nlease = "1h30m"\npoll_interval = 2\n'
        '[signing]\nmax_archive_bytes = "512KiB"\n'
        "[rate_limits.max]\nrate = 2.5\nburst = 5\n",
    )
    settings = load_settings(path, env={})
    assert settings.runner.lease == timedelta(hours=1, minutes=30)
    assert settings.runner.poll_interval == timedelta(seconds=2)
    assert settings.signing.max_archive_bytes == 512 * 1024
    assert (settings.rate_limits.max.rate, settings.rate_limits.max.burst) == (2.5, 5)


def test_env_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", '[runner]\nconcurrency = 3\n[logging]\nlevel = "DEBUG"\n')
    env = {"MEDSIGN_RUNNER__CONCURRENCY": "12", "MEDSIGN_PROFILE": "demo"}
    settings = load_settings(path, env=env)
    assert settings.runner.concurrency == 12
    assert settings.profile == "demo"
    assert settings.logging.level == "DEBUG"


def test_env_names_are_case_insensitive_and_values_are_parsed() -> None:
    env = {
        "medsign_database__echo": "true",
        "Medsign_Signing__Poll_Interval": "1m",
        "MEDSIGN_LOGGING__LEVEL": "warning",
        "MEDSIGN_GOSKEY__TOKEN": "t" * 20,
    }
    settings = load_settings(env=env)
    assert settings.database.echo is True
    assert settings.signing.poll_interval == timedelta(minutes=1)
    assert settings.logging.level == "WARNING"
    assert settings.goskey.token.get_secret_value() == "t" * 20


def test_one_env_variable_of_a_rate_limit_keeps_the_other_default() -> None:
    settings = load_settings(env={"MEDSIGN_RATE_LIMITS__GOSKEY__RATE": "5"})
    assert (settings.rate_limits.goskey.rate, settings.rate_limits.goskey.burst) == (5, 30)


def test_the_process_environment_is_read_by_default_and_never_by_direct_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDSIGN_RUNNER__CONCURRENCY", "3")
    assert load_settings().runner.concurrency == 3
    assert load_settings(env={}).runner.concurrency == 8
    assert Settings().runner.concurrency == 8


def test_a_type_error_in_one_section_does_not_hide_a_rule_broken_in_another() -> None:
    env = {"MEDSIGN_RUNNER__CONCURRENCY": "many", "MEDSIGN_SIGNING__POLL_INTERVAL_MAX": "10s"}
    found = by_key(problems_of(env=env))
    assert set(found) == {"runner.concurrency", "signing.poll_interval_max"}
    assert found["signing.poll_interval_max"].source == "MEDSIGN_SIGNING__POLL_INTERVAL_MAX"


def test_other_environment_variables_are_ignored() -> None:
    env = {"PATH": "/bin", "MEDSIGN_TEST_POSTGRES_URL": "postgresql://x/y", "MEDSIGNAL": "1"}
    assert load_settings(env=env) == load_settings(env={})


def test_postgresql_urls_are_normalised_to_psycopg() -> None:
    for url in ("postgresql://u:p@db/medsign", "postgresql+psycopg://u:p@db/medsign"):
        settings = load_settings(env={"MEDSIGN_DATABASE__URL": url})
        assert settings.database.url == "postgresql+psycopg://u:p@db/medsign"


def test_sqlite_paths_resolve_against_the_current_directory(tmp_path: Path) -> None:
    relative = load_settings(env={"MEDSIGN_DATABASE__URL": "sqlite:///data/x.db?timeout=5"})
    absolute = load_settings(env={"MEDSIGN_DATABASE__URL": "sqlite:////srv/x.db"})
    assert relative.database.url == f"sqlite:///{tmp_path}/data/x.db?timeout=5"
    assert absolute.database.url == "sqlite:////srv/x.db"


@pytest.mark.parametrize("url", ["mysql://db/x", "postgres://db/x", "sqlite:///", "db.sqlite"])
def test_other_database_urls_are_problems(url: str) -> None:
    (problem,) = problems_of(env={"MEDSIGN_DATABASE__URL": url})
    assert problem.key == "database.url" and "postgresql" in problem.expected


def test_public_url_is_derived_from_host_and_port() -> None:
    settings = load_settings(env={"MEDSIGN_SERVER__HOST": "::1", "MEDSIGN_SERVER__PORT": "9000"})
    assert settings.server.public_url == "http://[::1]:9000"
    given = load_settings(env={"MEDSIGN_SERVER__PUBLIC_URL": "https://medsign.example.ru/"})
    assert given.server.public_url == "https://medsign.example.ru"


def test_trusted_proxies_are_networks_from_a_list_or_a_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", '[server]\ntrusted_proxies = ["10.0.0.0/8", "127.0.0.1"]\n')
    from_file = load_settings(path, env={})
    variable = {"MEDSIGN_SERVER__TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"}
    assert from_file.server.trusted_proxies == load_settings(env=variable).server.trusted_proxies
    assert from_file.server.trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("127.0.0.1"))
    shown = dict(describe_settings(from_file))["server.trusted_proxies"]
    assert shown == "10.0.0.0/8, 127.0.0.1/32"
    (problem,) = problems_of(env={"MEDSIGN_SERVER__TRUSTED_PROXIES": "10.0.0.0/8, proxy"})
    assert "«proxy»" in problem.expected


def test_toml_syntax_error_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", '[runner]\nconcurrency = 4\nlease = "60s\n')
    (problem,) = problems_of(path)
    assert problem.key == "" and problem.source == str(path)
    assert "строка 3" in problem.value and "столбец" in problem.value
    assert "TOML" in problem.expected


def test_syntax_error_and_unknown_env_variables_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", "[runner\n")
    problems = problems_of(path, env={"MEDSIGN_RUNER__LEASE": "1s"})
    assert [p.key for p in problems] == ["", "runer.lease"]


def test_unknown_key_in_the_file_suggests_the_closest_known_one(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", "[runner]\nconcurency = 4\n[sining]\nsigner = 'pure'\n")
    found = by_key(problems_of(path))
    assert "«runner.concurrency»" in found["runner.concurency"].expected
    assert "«signing»" in found["sining"].expected
    assert found["runner.concurency"].value == "4"


def test_unknown_env_variable_suggests_the_right_name() -> None:
    found = by_key(problems_of(env={"MEDSIGN_DATABASE_URL": "sqlite:///x.db"}))
    problem = found["database_url"]
    assert problem.source == "MEDSIGN_DATABASE_URL"
    assert "MEDSIGN_DATABASE__URL" in problem.expected


def test_a_whole_section_cannot_be_set_from_env() -> None:
    (problem,) = problems_of(env={"MEDSIGN_RUNNER": "fast"})
    assert problem.source == "MEDSIGN_RUNNER"


def test_all_problems_are_reported_at_once_with_key_value_and_expectation(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        "[database]\npool_size = 0\n"
        '[runner]\nconcurrency = "many"\nlease = "1s"\nbackoff_cap = "1s"\n'
        '[signing]\ncountersign_mode = "xml"\nmax_archive_bytes = "20MB"\n'
        '[notifications]\ndefault_quiet_hours = "21:00"\n'
        "[server]\nport = 70000\n"
        "[rate_limits]\nmis = { rate = 0, burst = 0 }\n"
        "[logging]\nformat = 'yaml'\n",
    )
    found = by_key(problems_of(path, env={"MEDSIGN_DATABASE__BUSY_TIMEOUT": "soon"}))
    expected = {
        "database.pool_size": ("0", "целое число от 1 до 100"),
        "database.busy_timeout": ("soon", "длительность"),
        "runner.concurrency": ("many", "целое число от 1 до 256"),
        "signing.countersign_mode": ("xml", "одно из: «pdf», «pdf+xml», «zip»"),
        "signing.max_archive_bytes": ("20MB", "размер"),
        "notifications.default_quiet_hours": ("21:00", "ЧЧ:ММ-ЧЧ:ММ"),
        "server.port": ("70000", "от 1 до 65535"),
        "rate_limits.mis.rate": ("0", "больше 0"),
        "rate_limits.mis.burst": ("0", "не меньше 1"),
        "logging.format": ("yaml", "«json», «text»"),
    }
    for key, (value, text) in expected.items():
        assert found[key].value == value, key
        assert text in found[key].expected, key
    assert found["database.busy_timeout"].source == "MEDSIGN_DATABASE__BUSY_TIMEOUT"
    assert found["database.pool_size"].source == str(path)
    assert set(found) == set(expected)  # runner rules wait until its types are right


def test_error_message_lists_one_problem_per_line() -> None:
    env = {"MEDSIGN_RUNNER__CONCURRENCY": "0", "MEDSIGN_SERVER__PORT": "x"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    server, runner = str(caught.value).splitlines()  # in the order of the settings' sections
    assert runner == (
        "runner.concurrency = «0» (из MEDSIGN_RUNNER__CONCURRENCY): "
        "ожидается целое число от 1 до 256"
    )
    assert server.startswith("server.port = «x»")


def test_nonexistent_files_are_problems(tmp_path: Path) -> None:
    env = {"MEDSIGN_MAX__CA_BUNDLE": "certs/none.pem", "MEDSIGN_SIGNING__TRUST_STORE": "/"}
    found = by_key(problems_of(env=env))
    assert found["max.ca_bundle"].value == str(tmp_path / "certs/none.pem")
    assert "читаемому файлу" in found["signing.trust_store"].expected


def test_crl_sources_are_files_or_web_addresses(tmp_path: Path) -> None:
    (tmp_path / "crl").mkdir()
    write(tmp_path / "crl" / "uc.crl", "")
    toml = write(tmp_path / "m.toml", '[signing]\ncrls = ["crl/uc.crl", '
                                      '"http://uc.example.ru/cdp/uc.crl"]\ncrl_refresh = "15m"\n')
    signing = load_settings(toml, env={}).signing
    assert signing.crls == (str(tmp_path / "crl/uc.crl"), "http://uc.example.ru/cdp/uc.crl")
    assert signing.crl_refresh == timedelta(minutes=15)
    env = {"MEDSIGN_SIGNING__CRLS": "crl/uc.crl, https://uc.example.ru/a.crl"}
    assert load_settings(env=env).signing.crls[1] == "https://uc.example.ru/a.crl"


@pytest.mark.parametrize(("value", "phrase"), [
    ("crl/absent.crl", "не читается: "), ("ftp://uc.example.ru/uc.crl", "не подходит: ftp://"),
    ("http:///uc.crl", "не подходит: http:///uc.crl")])
def test_a_crl_source_that_cannot_be_read_is_a_problem(tmp_path: Path, value: str,
                                                       phrase: str) -> None:
    (found,) = problems_of(env={"MEDSIGN_SIGNING__CRLS": value})
    assert found.key == "signing.crls" and phrase in found.expected


def test_existing_files_are_accepted_and_resolved(tmp_path: Path) -> None:
    write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(env={"MEDSIGN_GOSKEY__CA_BUNDLE": "ca.pem"})
    assert settings.goskey.ca_bundle == tmp_path / "ca.pem"


def test_a_scalar_where_a_section_belongs_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", "runner = 5\n")
    (problem,) = problems_of(path, env={"MEDSIGN_RUNNER__LEASE": "2m"})
    assert problem.key == "runner" and "таблица" in problem.expected


def test_describe_settings_lists_every_leaf_as_text() -> None:
    shown = dict(describe_settings(load_settings(env={})))
    assert shown["runner.lease"] == "1m"
    assert shown["signing.max_uncompressed_bytes"] == "100MiB"
    assert shown["rate_limits.max_per_chat"] == "2"
    assert shown["signing.trust_store"] == ""
    assert shown["database.echo"] == "false"
    assert len(shown) == len(describe_settings(Settings()))


def test_toml_special_floats_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", "[runner]\nlease = inf\n[rate_limits]\nmax_per_chat = inf\n")
    found = by_key(problems_of(path))
    assert set(found) == {"runner.lease", "rate_limits.max_per_chat"}
    assert found["rate_limits.max_per_chat"].expected == "число больше 0"


def test_alert_emails_are_a_table_of_organisation_codes_to_addresses(tmp_path: Path) -> None:
    assert load_settings(env={}).console.alert_emails == {}
    path = write(tmp_path / "m.toml", '[console]\nalert_emails = { "*" = ["ops@region.example"],'
                                      ' "mo-1" = ["duty@mo1.example", "head@mo1.example"] }\n')
    assert load_settings(path, env={}).console.alert_emails == {
        "*": ["ops@region.example"], "mo-1": ["duty@mo1.example", "head@mo1.example"]}
    env = {"MEDSIGN_CONSOLE__ALERT_EMAILS": '{"mo-2": ["duty@mo2.example"]}'}
    assert load_settings(env=env).console.alert_emails == {"mo-2": ["duty@mo2.example"]}


@pytest.mark.parametrize("table", ['{ "mo-1" = ["duty"] }', '{ "mo-1" = ["a b@x.example"] }',
                                   '{ "" = ["ops@region.example"] }',
                                   '{ "mo-1" = "ops@region.example" }'])
def test_a_wrong_alert_email_or_code_is_a_problem(tmp_path: Path, table: str) -> None:
    path = write(tmp_path / "m.toml", f"[console]\nalert_emails = {table}\n")
    keys = [p.key for p in problems_of(path)]
    assert keys and all(k.startswith("console.alert_emails") for k in keys), keys
