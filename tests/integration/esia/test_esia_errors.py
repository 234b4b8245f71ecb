"""Every way the ESIA login can fail, as the emulator answers it and the client raises it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from medsign.crypto import KeyPair, issue_certificate, make_ca
from medsign.crypto.signers import PureSigner
from medsign.integrations.esia import EsiaRejected, check_state, read_callback
from medsign.integrations.esia.schemas import b64url_encode, secret_payload
from tests.integration.esia.helpers import ANNA, CLIENT_ID, REDIRECT, Stand, redirect_query

pytestmark = pytest.mark.anyio


def with_params(url: str, **changes: str | None) -> str:
    """``url`` with some query parameters replaced (``None``: removed)."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update({k: v for k, v in changes.items() if v is not None})
    for gone in [k for k, v in changes.items() if v is None]:
        query.pop(gone, None)
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


async def rejected(call: Any) -> EsiaRejected:
    with pytest.raises(EsiaRejected) as caught:
        await call
    return caught.value


# -- the portal's own check of state -------------------------------------------------------

async def test_a_callback_with_another_state_is_refused_by_the_portal(stand: Stand) -> None:
    request, back = await stand.login()
    with pytest.raises(EsiaRejected) as caught:
        read_callback(back, expected_state=stand.client.authorization_request().state)
    assert caught.value.code == "invalid_state"
    with pytest.raises(EsiaRejected):
        check_state(request.state, None)


# -- the authorization endpoint ------------------------------------------------------------

async def test_an_unknown_client_gets_esias_error_page_not_a_redirect(stand: Stand) -> None:
    url = with_params(stand.client.authorization_request().url, client_id="STRANGER")
    page = await stand.browser.get(url)
    assert page.status_code == 400 and "invalid_client" in page.text
    assert "Location" not in page.headers


async def test_an_unregistered_redirect_uri_gets_the_error_page(stand: Stand) -> None:
    url = with_params(stand.client.authorization_request().url,
                      redirect_uri="https://evil.test/steal")
    page = await stand.browser.get(url)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "не зарегистрирован" in page.text


@pytest.mark.parametrize("missing", ["state", "scope", "timestamp", "client_secret",
                                     "access_type", "response_type"])
async def test_a_missing_parameter_comes_back_as_invalid_request(
        stand: Stand, missing: str) -> None:
    request = stand.client.authorization_request()
    back = redirect_query(await stand.browser.get(with_params(request.url, **{missing: None})))
    assert back["error"] == "invalid_request" and "ESIA-007014" in back["error_description"]
    assert back.get("state") == (None if missing == "state" else request.state)


async def test_a_forged_client_secret_is_invalid_client(stand: Stand) -> None:
    request = stand.client.authorization_request()
    other = stand.client.authorization_request()  # a real signature, over another state
    url = with_params(request.url, client_secret=_query(other.url)["client_secret"])
    back = redirect_query(await stand.browser.get(url))
    assert back["error"] == "invalid_client" and "digest_mismatch" in back["error_description"]


async def test_a_secret_that_is_not_a_signature_is_invalid_client(stand: Stand) -> None:
    url = with_params(stand.client.authorization_request().url, client_secret="bm90LWNtcw")
    assert redirect_query(await stand.browser.get(url))["error"] == "invalid_client"


async def test_a_certificate_from_another_ca_is_invalid_client(
        make_stand: Callable[..., Any]) -> None:
    stranger = _keys(make_ca("Чужой УЦ", organization="Не та организация"))
    stand = await make_stand(signer=PureSigner(stranger))
    back = redirect_query(await stand.browser.get(stand.client.authorization_request().url))
    assert back["error"] == "invalid_client" and "untrusted_certificate" in \
        back["error_description"]


async def test_without_a_trust_store_any_well_formed_signature_is_accepted(
        make_stand: Callable[..., Any]) -> None:
    stranger = _keys(make_ca("Чужой УЦ", organization="Не та организация"))
    stand = await make_stand(signer=PureSigner(stranger), trust=())
    code, state = await stand.code()
    assert (await stand.client.exchange_code(code, state=state)).oid == ANNA


async def test_the_secret_error_code_is_configurable(make_stand: Callable[..., Any]) -> None:
    stand = await make_stand(secret_error="access_denied")
    url = with_params(stand.client.authorization_request().url, client_secret="bm90LWNtcw")
    assert redirect_query(await stand.browser.get(url))["error"] == "access_denied"


async def test_a_stale_timestamp_is_invalid_request(stand: Stand) -> None:
    request = stand.client.authorization_request()
    stand.clock.advance(timedelta(minutes=6))
    back = redirect_query(await stand.browser.get(request.url))
    assert back["error"] == "invalid_request" and "timestamp" in back["error_description"]


async def test_a_state_that_is_not_a_uuid_is_invalid_request(stand: Stand) -> None:
    url = with_params(stand.client.authorization_request().url, state="12345")
    assert redirect_query(await stand.browser.get(url))["error"] == "invalid_request"


async def test_an_unknown_scope_is_invalid_scope(make_stand: Callable[..., Any]) -> None:
    stand = await make_stand(client={"scope": "openid fullname passport_photo"})
    back = redirect_query(await stand.browser.get(stand.client.authorization_request().url))
    assert back["error"] == "invalid_scope"


async def test_response_type_token_is_unsupported(stand: Stand) -> None:
    url = with_params(stand.client.authorization_request().url, response_type="token")
    assert redirect_query(await stand.browser.get(url))["error"] == "unsupported_response_type"


async def test_a_login_page_left_open_too_long_expires(stand: Stand) -> None:
    request_id = await stand.open_login(stand.client.authorization_request().url)
    stand.clock.advance(timedelta(minutes=16))
    assert (await stand.choose(request_id)).status_code == 400


# -- the token endpoint --------------------------------------------------------------------

async def test_an_expired_code_is_invalid_grant(stand: Stand) -> None:
    code, state = await stand.code()
    stand.clock.advance(timedelta(seconds=301))
    error = await rejected(stand.client.exchange_code(code, state=state))
    assert (error.status, error.code) == (400, "invalid_grant")
    assert "истёк" in error.message


async def test_a_code_is_good_for_one_exchange_and_a_replay_voids_its_token(
        stand: Stand) -> None:
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    error = await rejected(stand.client.exchange_code(code, state=state))
    assert error.code == "invalid_grant" and "использован" in error.message
    assert (await rejected(stand.client.person(token))).status == 401


async def test_an_unknown_code_is_invalid_grant(stand: Stand) -> None:
    error = await rejected(stand.client.exchange_code("made-up", state="s"))
    assert error.code == "invalid_grant"


async def test_another_redirect_uri_at_the_exchange_is_invalid_grant(stand: Stand) -> None:
    code, state = await stand.code()
    async with stand.other_client(redirect="https://portal.test/other") as other:
        error = await rejected(other.exchange_code(code, state=state))
    assert error.code == "invalid_grant" and "redirect_uri" in error.message
    assert (await stand.client.exchange_code(code, state=state)).oid == ANNA  # still usable


async def test_another_client_id_at_the_exchange_is_invalid_client(stand: Stand) -> None:
    code, state = await stand.code()
    async with stand.other_client(client_id="OTHER") as other:
        error = await rejected(other.exchange_code(code, state=state))
    assert (error.status, error.code) == (400, "invalid_client")


async def test_a_forged_secret_at_the_exchange_is_invalid_client(stand: Stand) -> None:
    code, state = await stand.code()
    form = _token_form(stand, code)
    form["client_secret"] = b64url_encode(stand.signer.sign(b"something else"))
    answer = await stand.browser.post("/aas/oauth2/te", data=form)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client"


async def test_the_exchange_must_use_a_new_state(stand: Stand) -> None:
    code, state = await stand.code()
    form = _token_form(stand, code, state=state)
    answer = await stand.browser.post("/aas/oauth2/te", data=form)
    assert answer.json() == {"error": "invalid_request",
                             "error_description": "Для получения маркера нужен новый «state»"}


async def test_another_grant_type_is_unsupported(stand: Stand) -> None:
    code, _ = await stand.code()
    form = {**_token_form(stand, code), "grant_type": "refresh_token"}
    answer = await stand.browser.post("/aas/oauth2/te", data=form)
    assert answer.json()["error"] == "unsupported_grant_type"


# -- the person's data ---------------------------------------------------------------------

async def test_an_expired_token_is_401(stand: Stand) -> None:
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    stand.clock.advance(timedelta(hours=1, seconds=1))
    error = await rejected(stand.client.person(token))
    assert (error.status, error.code) == (401, "invalid_token")


async def test_an_altered_token_is_401(stand: Stand) -> None:
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    answer = await stand.browser.get(f"/rs/prns/{ANNA}", headers={
        "Authorization": f"Bearer {token.access_token}x"})
    assert answer.status_code == 401 and "invalid_token" in answer.headers["WWW-Authenticate"]
    assert (await stand.browser.get(f"/rs/prns/{ANNA}")).status_code == 401


async def test_another_persons_data_is_403(stand: Stand) -> None:
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    for path in ("/rs/prns/1000299655", "/rs/prns/1000299655/ctts"):
        answer = await stand.browser.get(path, headers={
            "Authorization": f"Bearer {token.access_token}"})
        assert answer.status_code == 403, path


async def test_contacts_are_links_unless_embedded(stand: Stand) -> None:
    code, state = await stand.code()
    token = await stand.client.exchange_code(code, state=state)
    auth = {"Authorization": f"Bearer {token.access_token}"}
    listed = (await stand.browser.get(f"/rs/prns/{ANNA}/ctts", headers=auth)).json()
    assert listed["size"] == 2 and all(isinstance(e, str) for e in listed["elements"])
    one = (await stand.browser.get(listed["elements"][0], headers=auth)).json()
    assert one["type"] == "MBT" and one["value"] == "+7(916)1234567"


def _keys(ca: KeyPair) -> KeyPair:
    return issue_certificate(ca, common_name="Чужая система", organization="Не та организация")


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def _token_form(stand: Stand, code: str, *, state: str | None = None) -> dict[str, str]:
    """A correct token request by hand (a fresh state unless one is given)."""
    fresh = stand.client.authorization_request()
    state = state or fresh.state
    secret = stand.signer.sign(secret_payload(stand.client.scope, fresh.timestamp,
                                                      CLIENT_ID, state))
    return {"client_id": CLIENT_ID, "code": code, "grant_type": "authorization_code",
            "client_secret": b64url_encode(secret), "state": state, "redirect_uri": REDIRECT,
            "scope": stand.client.scope, "timestamp": fresh.timestamp, "token_type": "Bearer"}
