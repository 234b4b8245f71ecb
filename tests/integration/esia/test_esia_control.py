"""The emulator's side door (``/_emulator/*``) and its login page as a person meets it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from medsign.integrations.esia.emulator import DEFAULT_PERSONS
from tests.integration.esia.helpers import ANNA, Stand

pytestmark = pytest.mark.anyio

SEMYON: dict[str, Any] = {
    "oid": "1000300002", "last_name": "Соколов", "first_name": "Семён",
    "middle_name": "Ильич", "birth_date": "1958-05-09", "gender": "M",
    "snils": "154-298-763 00", "mobile": "+79995550011", "email": "s.sokolov@example.org",
    "trusted": True}


async def test_the_configured_people_are_listed(stand: Stand) -> None:
    persons = (await stand.control("/persons"))["persons"]
    assert [p["oid"] for p in persons] == [p.oid for p in DEFAULT_PERSONS]
    assert persons[0]["birth_date"] == "1985-03-14"


async def test_an_added_person_can_log_in(stand: Stand) -> None:
    added = await stand.browser.post("/_emulator/persons", json=SEMYON)
    assert added.status_code == 201 and added.json() == {**SEMYON, "mobile_verified": True}
    code, state = await stand.code("1000300002")
    person = await stand.client.person(await stand.client.exchange_code(code, state=state))
    assert (person.full_name, person.phone) == ("Соколов Семён Ильич", "+79995550011")


async def test_a_taken_oid_and_an_invalid_person_are_refused(stand: Stand) -> None:
    taken = await stand.browser.post("/_emulator/persons", json={**SEMYON, "oid": ANNA})
    assert taken.status_code == 409
    for bad in ({**SEMYON, "mobile": "8 999"}, {**SEMYON, "last_name": 5},
                {"oid": "1"}, [1, 2]):
        answer = await stand.browser.post("/_emulator/persons", json=bad)
        assert answer.status_code == 422, bad
    assert (await stand.browser.post("/_emulator/persons", content=b"{")).status_code == 422


async def test_codes_and_tokens_are_listed_with_their_status(stand: Stand) -> None:
    code, state = await stand.code()
    assert [c["status"] for c in (await stand.control("/codes"))["codes"]] == ["active"]
    token = await stand.client.exchange_code(code, state=state)
    assert (await stand.control("/codes"))["codes"][0]["status"] == "used"
    tokens = (await stand.control("/tokens"))["tokens"]
    assert [(t["access_token"], t["oid"], t["expired"], t["revoked"]) for t in tokens] == [
        (token.access_token, ANNA, False, False)]


async def test_pending_logins_are_listed(stand: Stand) -> None:
    request = stand.client.authorization_request()
    request_id = await stand.open_login(request.url)
    logins = (await stand.control("/logins"))["logins"]
    assert [(r["id"], r["state"]) for r in logins] == [(request_id, request.state)]


async def test_reset_forgets_everything_but_the_configured_people(stand: Stand) -> None:
    await stand.browser.post("/_emulator/persons", json=SEMYON)
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    assert (await stand.browser.post("/_emulator/reset")).json() == {"reset": True}
    assert len((await stand.control("/persons"))["persons"]) == 3
    assert (await stand.control("/codes"))["codes"] == []
    assert (await stand.browser.get(f"/rs/prns/{ANNA}", headers={
        "Authorization": f"Bearer {token.access_token}"})).status_code == 401


async def test_the_token_signing_certificate_is_published(stand: Stand) -> None:
    answer = await stand.browser.get("/_emulator/certificate.pem")
    assert answer.text.startswith("-----BEGIN CERTIFICATE-----")


async def test_unknown_paths_and_methods_answer_json(stand: Stand) -> None:
    assert (await stand.browser.get("/nowhere")).json()["error"] == "not_found"
    assert (await stand.browser.delete("/_emulator/reset")).status_code == 405


async def test_the_login_page_is_accessible(stand: Stand) -> None:
    page = (await stand.browser.get(stand.client.authorization_request().url)).text
    assert '<html lang="ru">' in page and 'name="viewport"' in page
    assert "<title>Вход — Госуслуги (эмулятор)</title>" in page
    radios = re.findall(r'<input type="radio" id="([^"]+)" name="oid"', page)
    assert len(radios) == 3
    for radio in radios:
        assert f'<label for="{radio}">' in page
    assert "<fieldset" in page and "<legend>" in page
    assert re.search(r'<button type="submit" name="action" value="login">Войти</button>', page)
    assert re.search(r'value="cancel"[^>]*formnovalidate>Отмена</button>', page)
    assert "фамилия, имя и отчество" in page and "СНИЛС" in page


async def test_the_login_page_escapes_what_it_shows(stand: Stand) -> None:
    await stand.browser.post("/_emulator/persons", json={
        **SEMYON, "oid": "1000300003", "last_name": "<script>alert(1)</script>"})
    page = (await stand.browser.get(stand.client.authorization_request().url)).text
    assert "<script>" not in page and "&lt;script&gt;" in page
