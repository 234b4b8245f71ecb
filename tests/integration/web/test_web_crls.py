"""The console's «Списки отозванных сертификатов» and the CRL gauges on /metrics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medsign.clock import FakeClock
from medsign.crypto import make_ca
from medsign.crypto.keys import make_crl
from medsign.integrations.crl import CrlSources
from medsign.web.config import WebSettings
from medsign.web.templating import age
from tests.integration.web import stand


@pytest.fixture
def crl_files(tmp_path: Path, clock: FakeClock) -> tuple[Path, Path]:
    ca = make_ca("УЦ областной", organization="Минздрав области")
    fresh = tmp_path / "fresh.crl"
    fresh.write_bytes(make_crl(ca, this_update=clock.now() - timedelta(hours=26, minutes=5),
                               next_update=clock.now() + timedelta(days=2)))
    return fresh, tmp_path / "missing.crl"


@pytest.fixture
def web_settings(tmp_path: Path, clock: FakeClock,
                 crl_files: tuple[Path, Path]) -> WebSettings:
    crls = CrlSources([str(p) for p in crl_files], cache_dir=tmp_path / "cache",
                      refresh=timedelta(hours=1), clock=clock)
    return WebSettings(cookie_secure=False, crls=crls)


def test_the_overview_lists_each_crl_source_with_its_dates_age_and_error(
        client: TestClient, seeded: stand.Seeded, crl_files: tuple[Path, Path]) -> None:
    stand.logged_in(client, "op")
    fragment = client.get("/console/overview",
                          headers={"X-Requested-With": "medsign-refresh"}).text
    assert "Списки отозванных сертификатов" in fragment
    rows = fragment.split('data-testid="crl"')[1:]
    assert len(rows) == 2
    fresh, missing = (row.split("</tr>")[0] for row in rows)
    assert str(crl_files[0]) in fresh and "CN=УЦ областной" in fresh
    assert "1 день 2 часа" in fresh and "просрочен" not in fresh and "ошибка" not in fresh
    assert str(crl_files[1]) in missing and "файл не читается" in missing


def test_a_stale_list_is_marked(client: TestClient, seeded: stand.Seeded, clock: FakeClock) -> None:
    clock.advance(timedelta(days=3))
    stand.logged_in(client, "op")
    page = client.get("/console").text
    fresh = page.split('data-testid="crl"')[1].split("</tr>")[0]
    assert "просрочен" in fresh and "4 дня 2 часа" in fresh


def test_metrics_give_each_list_s_age(client: TestClient, crl_files: tuple[Path, Path]) -> None:
    text = client.get("/metrics").text
    assert text.count("medsign_crl_age_seconds{") == 0  # nothing read before anyone asked
    client.app.state.web.crls.refresh()  # type: ignore[attr-defined]
    text = client.get("/metrics").text
    assert f'medsign_crl_age_seconds{{source="{crl_files[0]}"}} 93900.0' in text
    assert f'medsign_crl_next_update_seconds{{source="{crl_files[0]}"}} 172800.0' in text
    assert f'medsign_crl_error{{source="{crl_files[0]}"}} 0.0' in text
    assert f'medsign_crl_error{{source="{crl_files[1]}"}} 1.0' in text


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(seconds=59), "меньше минуты"), (timedelta(minutes=1), "1 минута"),
    (timedelta(minutes=35), "35 минут"), (timedelta(hours=2, minutes=3), "2 часа 3 минуты"),
    (timedelta(days=1, hours=2, minutes=5), "1 день 2 часа"),
    (timedelta(days=11, minutes=5), "11 дней 5 минут"), (timedelta(days=22), "22 дня"),
    (timedelta(hours=-1), "в будущем"), (None, "—")])
def test_an_age_reads_as_words(delta: timedelta | None, words: str) -> None:
    assert age(delta) == words
