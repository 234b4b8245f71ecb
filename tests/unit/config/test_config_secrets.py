"""A secret given to medsign never comes back out: not in errors, listings, or reprs."""

from pathlib import Path

import pytest

from medsign.config import ConfigError, describe_settings, load_settings
from medsign.config.fields import mask_url_password

TOKEN = "super-secret-token-value-42"
WEBHOOK = "webhook_secret_value_42"
DB_PASSWORD = "db-password-value-42"
SECRETS = (TOKEN, WEBHOOK, DB_PASSWORD)


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def assert_no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def secret_env() -> dict[str, str]:
    return {
        "MEDSIGN_MAX__TOKEN": TOKEN,
        "MEDSIGN_GOSKEY__TOKEN": TOKEN,
        "MEDSIGN_MAX__UPDATES": "webhook",
        "MEDSIGN_MAX__WEBHOOK_SECRET": WEBHOOK,
        "MEDSIGN_DATABASE__URL": f"postgresql://medsign:{DB_PASSWORD}@db/medsign",
    }


def test_secrets_are_masked_in_describe_settings_and_repr() -> None:
    settings = load_settings(env=secret_env())
    shown = dict(describe_settings(settings))
    assert shown["max.token"] == shown["goskey.token"] == shown["max.webhook_secret"] == "***"
    assert shown["database.url"] == "postgresql+psycopg://medsign:***@db/medsign"
    assert_no_secret_in(repr(describe_settings(settings)))
    assert_no_secret_in(repr(settings))
    assert_no_secret_in(str(settings))
    assert_no_secret_in(settings.model_dump_json())
    assert settings.max.token.get_secret_value() == TOKEN


def test_empty_secrets_show_as_empty() -> None:
    assert dict(describe_settings(load_settings(env={})))["max.token"] == ""


def test_secrets_are_masked_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        f'[max]\ntoken = "{TOKEN}"\nwebhook_secret = "{WEBHOOK} !"\nupdates = "webhook"\n'
        f'[goskey]\ntoken = ["{TOKEN}"]\ntokn = "{TOKEN}"\n'
        f'[database]\nurl = "mysql://root:{DB_PASSWORD}@db/x"\n',
        encoding="utf-8",
    )
    env = {"MEDSIGN_PROFILE": "production", "MEDSIGN_ESIA__SECRET": TOKEN}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env)
    keys = {problem.key for problem in caught.value.problems}
    assert {"max.webhook_secret", "goskey.token", "goskey.tokn", "database.url"} <= keys
    assert "esia.secret" in keys
    assert_no_secret_in(str(caught.value))
    assert_no_secret_in(repr(caught.value.problems))


def test_placeholder_token_in_production_is_masked_too() -> None:
    env = {"MEDSIGN_PROFILE": "production", "MEDSIGN_MAX__TOKEN": "short-but-secret"[:15]}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    problem = next(p for p in caught.value.problems if p.key == "max.token")
    assert problem.value == "***"
    assert "short-but-secre" not in str(caught.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://medsign:pw-1@db/medsign", "postgresql+psycopg://medsign:***@db/medsign"),
    ("postgresql://u:p@ss/w?rd@db:5432/m", "postgresql://u:***@db:5432/m"),
    ("postgresql://db/m?user=u&password=pw-2&sslmode=require",
     "postgresql://db/m?user=u&password=***&sslmode=require"),
    ("postgresql://u:pw-1@db/m?sslpassword=pw-3", "postgresql://u:***@db/m?sslpassword=***"),
    ("https://api.example/v1?Token=t-1&access_token=t-2;secret=s-1&api_key=k-1&x=1",
     "https://api.example/v1?Token=***&access_token=***;secret=***&api_key=***&x=1"),
    ("https://u@api.example/v1?page=2", "https://u@api.example/v1?page=2"),
    ("sqlite:///var/medsign.db", "sqlite:///var/medsign.db"),
    ("", ""),
])
def test_a_url_shows_no_password_in_its_user_info_or_its_query(url: str, shown: str) -> None:
    assert mask_url_password(url) == shown


def test_check_config_show_masks_a_password_in_the_database_urls_query() -> None:
    env = {"MEDSIGN_DATABASE__URL": f"postgresql://db/medsign?user=m&password={DB_PASSWORD}",
           "MEDSIGN_ESIA__BASE_URL": f"https://esia.example/?token={TOKEN}"}
    shown = dict(describe_settings(load_settings(env=env)))
    assert shown["database.url"].endswith("?user=m&password=***")
    assert shown["esia.base_url"] == "https://esia.example/?token=***"
    assert_no_secret_in(repr(describe_settings(load_settings(env=env))))
