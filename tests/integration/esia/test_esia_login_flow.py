"""The whole ESIA login through the emulator: authorization URL → ESIA's page → choose a
person → back with code and state → exchange → the person's data."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medsign.integrations.esia import EsiaRejected, Person, read_callback
from medsign.integrations.esia.schemas import SBJ_ID_CLAIM, jwt_claims
from tests.integration.esia.helpers import ANNA, REDIRECT, Stand, redirect_query

pytestmark = pytest.mark.anyio


async def test_a_person_logs_in_and_the_portal_reads_the_account(stand: Stand) -> None:
    request = stand.client.authorization_request()
    page = await stand.browser.get(request.url)
    assert page.status_code == 200, page.headers.get("Location")
    assert "Госуслуги" in page.text and "эмулятор" in page.text
    assert "Иванова Анна Сергеевна" in page.text

    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id
    back = redirect_query(await stand.choose(request_id.group(1), ANNA))
    assert back["state"] == request.state

    code = read_callback(back, expected_state=request.state)
    token = await stand.client.exchange_code(code, state=request.state)
    assert token.oid == ANNA and token.expires_in == 3600
    assert token.id_token and token.refresh_token

    person = await stand.client.person(token)
    assert person == Person(oid=ANNA, last_name="Иванова", first_name="Анна",
                            middle_name="Сергеевна", birth_date=date(1985, 3, 14),
                            snils="112-233-445 95", phone="+79161234567",
                            email="anna.ivanova@example.org", trusted=True,
                            phone_verified=True)
    assert person.full_name == "Иванова Анна Сергеевна"


async def test_optional_fields_stay_empty_for_a_person_without_them(stand: Stand) -> None:
    code, state = await stand.code("1000299656")
    person = await stand.client.person(await stand.client.exchange_code(code, state=state))
    assert (person.last_name, person.middle_name, person.email) == ("Ахмедова", None, None)
    assert person.phone == "+79261112233"


async def test_the_access_token_is_jwt_shaped_and_signed_by_the_emulator(stand: Stand) -> None:
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    claims = jwt_claims(token.access_token)
    assert claims[SBJ_ID_CLAIM] == int(ANNA)
    assert claims["client_id"] == "MEDSIGN" and claims["iss"] == "http://esia.gosuslugi.ru/"
    assert f"fullname?oid={ANNA}" in claims["scope"].split()
    assert stand.emulator.signer.verify(token.access_token) == claims
    assert token.id_token and jwt_claims(token.id_token)["aud"] == "MEDSIGN"
    header, payload, signature = token.access_token.split(".")
    assert stand.emulator.signer.verify(f"{header}.{payload}x.{signature}") is None


async def test_the_token_answer_echoes_the_new_state_not_the_authorization_one(
        stand: Stand) -> None:
    code, state = await stand.code()
    await stand.client.exchange_code(code, state=state)
    issued = (await stand.control("/codes"))["codes"][0]
    assert issued["state"] == state and issued["status"] == "used"


async def test_cancel_on_esias_page_comes_back_as_access_denied(stand: Stand) -> None:
    request = stand.client.authorization_request()
    answer = await stand.choose(await stand.open_login(request.url), action="cancel")
    back = redirect_query(answer)
    assert back["error"] == "access_denied" and back["state"] == request.state
    assert back["error_description"].startswith("ESIA-007004")
    with pytest.raises(EsiaRejected) as caught:
        read_callback(back, expected_state=request.state)
    assert caught.value.code == "access_denied"


async def test_login_without_choosing_a_person_shows_the_page_again(stand: Stand) -> None:
    request_id = await stand.open_login(stand.client.authorization_request().url)
    again = await stand.choose(request_id, oid="")
    assert again.status_code == 422 and 'role="alert"' in again.text
    assert redirect_query(await stand.choose(request_id, ANNA))["code"]


async def test_a_login_page_is_good_for_one_choice_only(stand: Stand) -> None:
    request_id = await stand.open_login(stand.client.authorization_request().url)
    redirect_query(await stand.choose(request_id))
    twice = await stand.choose(request_id)
    assert twice.status_code == 400 and "Сеанс входа" in twice.text


async def test_the_v2_and_v3_paths_take_the_same_requests(make_stand: Callable[..., Any]
                                                          ) -> None:
    stand = await make_stand(client={"authorize_path": "/aas/oauth2/v2/ac",
                                     "token_path": "/aas/oauth2/v3/te"})
    request = stand.client.authorization_request()
    assert "/aas/oauth2/v2/ac?" in request.url
    code, state = await stand.code()
    assert (await stand.client.exchange_code(code, state=state)).oid == ANNA


async def test_the_url_carries_every_parameter_esia_expects(stand: Stand) -> None:
    request = stand.client.authorization_request()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    assert query == {"client_id": "MEDSIGN", "client_secret": query["client_secret"],
                     "redirect_uri": REDIRECT,
                     "scope": "openid fullname birthdate mobile email snils",
                     "response_type": "code", "state": request.state,
                     "timestamp": request.timestamp, "access_type": "online"}


async def test_a_restarted_emulator_keeps_codes_and_its_signing_key(
        make_stand: Callable[..., Any], tmp_path: Path) -> None:
    first = await make_stand(state_dir=tmp_path)
    code, state = await first.code()
    second = await make_stand(state_dir=tmp_path)
    second.clock.set(first.clock.now())
    token = await second.client.exchange_code(code, state=state)
    assert first.emulator.signer.verify(token.access_token) is not None
    assert (await second.client.person(token)).oid == ANNA


async def test_an_unconfirmed_account_is_refused_when_the_system_requires_confirmed(
        make_stand: Callable[..., Any]) -> None:
    stand = await make_stand(require_trusted=True)
    person = {"oid": "1000300001", "last_name": "Сидоров", "first_name": "Олег",
              "birth_date": "1990-01-01", "gender": "M", "trusted": False}
    assert (await stand.browser.post("/_emulator/persons", json=person)).status_code == 201
    request, back = await stand.login("1000300001")
    assert back["error"] == "access_denied" and "ESIA-007055" in back["error_description"]
