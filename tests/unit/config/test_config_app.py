"""``[app]``: the region list of «К врачу» from the file and from the environment."""

from pathlib import Path

import pytest

from medsign.config import ConfigError, load_settings
from medsign.domain.app_regions import Region, Service

FILE = """
[app]
name = "Запись к врачу"

[[app.regions]]
name = "Тульская область"
url = "https://medsign.tula.example"
services = ["signing", "esia"]

[[app.regions]]
name = "Орловская область"
url = "https://medsign.orel.example"
"""


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_the_file_lists_the_regions(tmp_path: Path) -> None:
    path = tmp_path / "medsign.toml"
    path.write_text(FILE, encoding="utf-8")
    app = load_settings(path, env={}).app
    assert app.name == "Запись к врачу"
    assert app.regions == (
        Region("Тульская область", "https://medsign.tula.example",
               (Service.signing, Service.esia)),
        Region("Орловская область", "https://medsign.orel.example", ()))


def test_a_bad_region_is_refused_naming_the_key_and_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "medsign.toml"
    path.write_text(FILE.replace('"esia"]', '"sms"]'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    (problem,) = caught.value.problems
    assert problem.key == "app.regions" and "регион № 1" in problem.expected
    assert "Подписание документов онлайн" in problem.expected


def test_the_environment_gives_the_list_as_json() -> None:
    env = {"MEDSIGN_APP__REGIONS": '[{"name": "Тула", "url": "https://t.example"}]'}
    assert load_settings(env=env).app.regions == (Region("Тула", "https://t.example"),)
