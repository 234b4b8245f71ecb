"""The example file and the reference describe exactly the settings the code has."""

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from medsign.config import Settings, describe_settings, load_settings
from medsign.config.sources import EnvironmentSource

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "medsign.example.toml"
REFERENCE = ROOT / "docs" / "configuration.md"
# | `key` | `MEDSIGN_...` | `default` | meaning |
ROW = re.compile(r"^\| `[^`]+` \| `(MEDSIGN_\w+)` \| `([^`]*)` \|", re.MULTILINE)


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def leaf_keys() -> list[str]:
    return [key for key, _ in describe_settings(Settings())]


def env_name(key: str) -> str:
    return "MEDSIGN_" + key.upper().replace(".", "__")


def flatten(table: dict[str, Any], prefix: str = "") -> set[str]:
    """The leaf keys of a TOML table; a key whose value is itself a table of the user's
    (``console.alert_emails``) is one leaf."""
    keys: set[str] = set()
    for name, value in table.items():
        if isinstance(value, dict) and prefix + name not in leaf_keys():
            keys |= flatten(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def reference_rows() -> dict[str, str]:
    return dict(ROW.findall(REFERENCE.read_text(encoding="utf-8")))


def test_the_example_file_loads_to_exactly_the_defaults() -> None:
    assert load_settings(EXAMPLE, env={}) == load_settings(env={})


def test_the_example_file_has_every_key_and_no_other() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert flatten(example) == set(leaf_keys())


def test_the_example_file_names_every_env_variable() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert [key for key in leaf_keys() if env_name(key) not in text] == []


def test_the_reference_has_a_row_for_every_key_and_no_other() -> None:
    assert set(reference_rows()) == {env_name(key) for key in leaf_keys()}


def test_the_reference_defaults_are_the_real_defaults(tmp_path: Path) -> None:
    defaults = dict(describe_settings(load_settings(env={})))
    rows = reference_rows()
    for key in leaf_keys():
        *sections, leaf = key.split(".")
        header = f"[{'.'.join(sections)}]\n" if sections else ""
        path = tmp_path / "one.toml"
        path.write_text(f"{header}{leaf} = {rows[env_name(key)]}\n", encoding="utf-8")
        assert dict(describe_settings(load_settings(path, env={})))[key] == defaults[key], key


def env_text(toml_value: str) -> str:
    """A documented default as a variable holds it: text without quotes, a list as words."""
    value = tomllib.loads(f"v = {toml_value}")["v"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # a table is JSON in a variable
        return json.dumps(value)
    return ", ".join(value) if isinstance(value, list) else str(value)


def test_every_documented_variable_is_read_from_the_environment() -> None:
    defaults = dict(describe_settings(load_settings(env={})))
    rows = reference_rows()
    for key in leaf_keys():
        variable, text = env_name(key), env_text(rows[env_name(key)])
        table: Any = EnvironmentSource(Settings, {variable: text})()
        for part in key.split("."):
            table = table[part]
        # a table's JSON is decoded by the source itself; the rest are texts for the model
        assert table == (json.loads(text) if text.startswith("{") else text), key
        assert dict(describe_settings(load_settings(env={variable: text})))[key] == defaults[key]
