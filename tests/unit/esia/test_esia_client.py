"""The ESIA client against ``httpx.MockTransport``: what it sends and how it reads answers."""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from medsign.crypto import (
    KeyPair,
    SignatureInvalid,
    SignerUnavailable,
    TrustStore,
    issue_certificate,
    make_ca,
    verify_detached,
)
from medsign.crypto.signers import PureSigner
from medsign.integrations.esia import (
    EsiaClient,
    EsiaRejected,
    EsiaTransient,
    Token,
    check_state,
    read_callback,
)
from medsign.integrations.esia.schemas import b64url_decode, b64url_encode

BASE = "https://esia.test"
REDIRECT = "https://portal.test/esia/callback"
SCOPE = "openid fullname birthdate mobile email snils"
MOSCOW = timezone(timedelta(hours=3))
# the test CA is made now, so the signatures are made (and checked) now too
NOW = datetime.now(MOSCOW).replace(microsecond=0)
FIXED = datetime(2026, 3, 2, 13, 0, 29, tzinfo=MOSCOW)
Handler = Callable[[httpx.Request], httpx.Response]
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return make_ca("УЦ системы (тест)", organization="Поликлиника")


@pytest.fixture(scope="module")
def signer(ca: KeyPair) -> PureSigner:
    keys = issue_certificate(ca, common_name="Портал", organization="Поликлиника")
    return PureSigner(keys)


def make_client(signer: Any, handler: Handler | None = None, *, now: datetime = NOW,
                **options: Any) -> EsiaClient:
    transport = httpx.MockTransport(handler or _unexpected)
    return EsiaClient(BASE, "MEDSIGN", REDIRECT, signer=signer, transport=transport,
                      clock=lambda: now, **options)


def _unexpected(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected call {request.url}")


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def access_token(oid: Any = 1000299654) -> str:
    payload = b64url_encode(json.dumps({"urn:esia:sbj_id": oid, "exp": 1}).encode())
    return f"eyJhbGciOiJHT1NUIn0.{payload}.c2ln"


# -- the authorization request -------------------------------------------------------------

async def test_the_url_goes_to_the_v1_authorize_endpoint_with_every_parameter(
        signer: PureSigner) -> None:
    request = make_client(signer).authorization_request()
    assert request.url.startswith(f"{BASE}/aas/oauth2/ac?")
    params = query(request.url)
    assert {k: v for k, v in params.items() if k != "client_secret"} == {
        "client_id": "MEDSIGN", "redirect_uri": REDIRECT, "scope": SCOPE,
        "response_type": "code", "state": request.state, "timestamp": request.timestamp,
        "access_type": "online"}


async def test_the_timestamp_is_esias_format_in_the_clocks_zone(signer: PureSigner) -> None:
    request = make_client(signer, now=FIXED).authorization_request()
    assert request.timestamp == "2026.03.02 13:00:29 +0300"
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}", request.timestamp)
    assert "timestamp=2026.03.02%2013%3A00%3A29%20%2B0300" in request.url


async def test_the_state_is_a_fresh_uuid4_each_time(signer: PureSigner) -> None:
    client = make_client(signer)
    first, second = client.authorization_request(), client.authorization_request()
    assert uuid.UUID(first.state).version == 4 and first.state != second.state


async def test_client_secret_is_a_detached_cms_over_exactly_the_four_values(
        signer: PureSigner, ca: KeyPair) -> None:
    request = make_client(signer).authorization_request()
    secret = query(request.url)["client_secret"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)  # base64url, no padding
    expected = f"{SCOPE}{request.timestamp}MEDSIGN{request.state}".encode()
    trust = TrustStore.from_certificates([ca.certificate_der])
    report = verify_detached(expected, b64url_decode(secret), trust=trust, at=NOW)
    assert report.signing_time == NOW.astimezone(UTC)
    with pytest.raises(SignatureInvalid):
        verify_detached(expected + b" ", b64url_decode(secret), trust=trust, at=NOW)


async def test_an_unavailable_signer_is_transient_and_a_broken_one_rejected() -> None:
    class Failing:
        name, certificate_der = "external", b""

        def __init__(self, error: Exception) -> None:
            self.error = error

        def sign(self, data: bytes, *, signing_time: datetime | None = None) -> bytes:
            raise self.error

    with pytest.raises(EsiaTransient):
        make_client(Failing(SignerUnavailable("signer_timeout"))).authorization_request()
    with pytest.raises(EsiaRejected) as caught:
        make_client(Failing(SignatureInvalid("malformed_cms"))).authorization_request()
    assert caught.value.code == "client_secret_failed" and caught.value.status is None


# -- check_state and the callback ----------------------------------------------------------

def test_check_state_accepts_only_the_same_state() -> None:
    state = str(uuid.uuid4())
    check_state(state, state)
    for given in (None, "", state.upper(), state + "x", str(uuid.uuid4())):
        with pytest.raises(EsiaRejected) as caught:
            check_state(state, given)
        assert caught.value.code == "invalid_state"
    with pytest.raises(EsiaRejected):
        check_state("", "")


def test_read_callback_returns_the_code_or_raises_esias_error() -> None:
    assert read_callback({"code": "c-1", "state": "s"}, expected_state="s") == "c-1"
    with pytest.raises(EsiaRejected) as caught:
        read_callback({"error": "access_denied", "error_description": "ESIA-007004: нет",
                       "state": "s"}, expected_state="s")
    assert (caught.value.code, caught.value.message) == ("access_denied", "ESIA-007004: нет")
    with pytest.raises(EsiaRejected, match="invalid_state"):
        read_callback({"code": "c-1", "state": "other"}, expected_state="s")
    with pytest.raises(EsiaRejected, match="invalid_request"):
        read_callback({"state": "s"}, expected_state="s")


# -- the exchange --------------------------------------------------------------------------

async def test_the_exchange_posts_a_new_state_timestamp_and_secret(
        signer: PureSigner, ca: KeyPair) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/aas/oauth2/te")
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        seen.append(form)
        return httpx.Response(200, json={"access_token": access_token(), "id_token": "i.d.t",
                                         "expires_in": 3600, "state": form["state"],
                                         "token_type": "Bearer", "refresh_token": "r"})

    client = make_client(signer, handler)
    login = client.authorization_request()
    token = await client.exchange_code("the-code", state=login.state)
    assert token == Token(access_token(), "i.d.t", 3600, "1000299654", "r")
    form = seen[0]
    assert form["state"] != login.state and uuid.UUID(form["state"]).version == 4
    assert {k: form[k] for k in ("client_id", "code", "grant_type", "redirect_uri", "scope",
                                 "timestamp", "token_type")} == {
        "client_id": "MEDSIGN", "code": "the-code", "grant_type": "authorization_code",
        "redirect_uri": REDIRECT, "scope": SCOPE,
        "timestamp": NOW.strftime("%Y.%m.%d %H:%M:%S +0300"), "token_type": "Bearer"}
    signed = f"{SCOPE}{form['timestamp']}MEDSIGN{form['state']}".encode()
    verify_detached(signed, b64url_decode(form["client_secret"]),
                    trust=TrustStore.from_certificates([ca.certificate_der]), at=NOW)
    assert "access_token" not in repr(token) and token.access_token not in repr(token)


@pytest.mark.parametrize("oid", [1000299654, "1000299654"])
async def test_the_oid_comes_from_the_access_token(signer: PureSigner, oid: Any) -> None:
    client = make_client(signer, lambda r: httpx.Response(200, json={
        "access_token": access_token(oid), "expires_in": 60}))
    token = await client.exchange_code("c", state="s")
    assert (token.oid, token.id_token, token.refresh_token) == ("1000299654", None, None)


@pytest.mark.parametrize("body", [
    {"expires_in": 60},
    {"access_token": "not-a-jwt", "expires_in": 60},
    {"access_token": "a.bm90LWpzb24.c", "expires_in": 60},
    {"access_token": access_token(None), "expires_in": 60},
    {"access_token": access_token(), "expires_in": "60"},
    [1, 2],
])
async def test_an_unreadable_token_answer_is_malformed(signer: PureSigner, body: Any) -> None:
    client = make_client(signer, lambda r: httpx.Response(200, json=body))
    with pytest.raises(EsiaRejected) as caught:
        await client.exchange_code("c", state="s")
    assert caught.value.code == "malformed_response"


async def test_a_token_answer_with_another_state_is_refused(signer: PureSigner) -> None:
    client = make_client(signer, lambda r: httpx.Response(200, json={
        "access_token": access_token(), "expires_in": 60, "state": str(uuid.uuid4())}))
    with pytest.raises(EsiaRejected, match="invalid_state"):
        await client.exchange_code("c", state="s")


async def test_exchanging_without_a_checked_state_is_refused(signer: PureSigner) -> None:
    with pytest.raises(EsiaRejected, match="invalid_state"):
        await make_client(signer).exchange_code("c", state="")


async def test_esias_oauth_error_becomes_rejected_with_its_code(signer: PureSigner) -> None:
    client = make_client(signer, lambda r: httpx.Response(400, json={
        "error": "invalid_grant", "error_description": "Код истёк"}))
    with pytest.raises(EsiaRejected) as caught:
        await client.exchange_code("c", state="s")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400, "invalid_grant", "Код истёк")
    assert str(caught.value) == "400 invalid_grant: Код истёк"


async def test_a_non_json_error_keeps_the_status_as_code(signer: PureSigner) -> None:
    client = make_client(signer, lambda r: httpx.Response(403, text="<html>нет</html>"))
    with pytest.raises(EsiaRejected) as caught:
        await client.exchange_code("c", state="s")
    assert (caught.value.code, caught.value.message) == ("http_403", "<html>нет</html>")


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_overload_and_server_errors_are_transient(signer: PureSigner,
                                                        status: int) -> None:
    client = make_client(signer, lambda r: httpx.Response(status, json={"error": "x"}))
    with pytest.raises(EsiaTransient) as caught:
        await client.exchange_code("c", state="s")
    assert caught.value.status == status


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_network_failures_are_transient(signer: PureSigner, error: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(EsiaTransient):
        await make_client(signer, handler).exchange_code("c", state="s")


# -- the person ----------------------------------------------------------------------------

PRNS = {"firstName": "Анна", "lastName": "Иванова", "middleName": "Сергеевна",
        "birthDate": "14.03.1985", "snils": "112-233-445 95", "trusted": True}
CTTS = {"size": 3, "elements": [
    {"type": "MBT", "vrfStu": "NOT_VERIFIED", "value": "+7(900)0000000"},
    {"type": "EML", "vrfStu": "VERIFIED", "value": "anna@example.org"},
    {"type": "MBT", "vrfStu": "VERIFIED", "value": "+7(916)1234567"}]}


def person_handler(calls: list[str], prns: Any = None, ctts: Any = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.raw_path.decode())
        assert request.headers["Authorization"] == f"Bearer {access_token()}"
        if request.url.path.endswith("/ctts"):
            return httpx.Response(200, json=CTTS if ctts is None else ctts)
        return httpx.Response(200, json=PRNS if prns is None else prns)
    return handler


def token() -> Token:
    return Token(access_token(), None, 3600, "1000299654")


async def test_the_person_is_read_with_verified_contacts_first(signer: PureSigner) -> None:
    calls: list[str] = []
    person = await make_client(signer, person_handler(calls)).person(token())
    assert calls == ["/rs/prns/1000299654", "/rs/prns/1000299654/ctts?embed=%28elements%29"]
    assert (person.last_name, person.first_name, person.middle_name) == (
        "Иванова", "Анна", "Сергеевна")
    assert person.birth_date == date(1985, 3, 14) and person.trusted
    assert (person.phone, person.email) == ("+79161234567", "anna@example.org")
    assert person.phone_verified is True


async def test_an_unverified_mobile_number_is_read_but_marked_unverified(
        signer: PureSigner) -> None:
    ctts = {"elements": [{"type": "MBT", "vrfStu": "NOT_VERIFIED", "value": "+7(916)1234567"}]}
    person = await make_client(signer, person_handler([], ctts=ctts)).person(token())
    assert (person.phone, person.phone_verified) == ("+79161234567", False)
    no_status = {"elements": [{"type": "MBT", "value": "+7(916)1234567"}]}
    person = await make_client(signer, person_handler([], ctts=no_status)).person(token())
    assert person.phone_verified is False


async def test_contacts_are_not_asked_for_without_a_contact_scope(signer: PureSigner) -> None:
    calls: list[str] = []
    client = make_client(signer, person_handler(calls), scope="openid fullname")
    person = await client.person(token())
    assert len(calls) == 1 and (person.phone, person.email) == (None, None)


async def test_a_foreign_phone_is_kept_as_esia_spelled_it(signer: PureSigner) -> None:
    ctts = {"elements": [{"type": "MBT", "value": "+375(29)1234567"}]}
    person = await make_client(signer, person_handler([], ctts=ctts)).person(token())
    assert person.phone == "+375(29)1234567"


async def test_missing_optional_fields_are_none_and_untrusted_is_false(
        signer: PureSigner) -> None:
    prns = {"firstName": "Лейла", "lastName": "Ахмедова"}
    person = await make_client(signer, person_handler([], prns, {"elements": []})).person(
        token())
    assert (person.middle_name, person.birth_date, person.snils, person.trusted) == (
        None, None, None, False)


@pytest.mark.parametrize("prns, ctts", [
    ({**PRNS, "lastName": ""}, CTTS),
    ({**PRNS, "birthDate": "1985-03-14"}, CTTS),
    (PRNS, {"size": 0}),
])
async def test_an_unreadable_person_is_malformed(signer: PureSigner, prns: Any,
                                                 ctts: Any) -> None:
    client = make_client(signer, person_handler([], prns, ctts))
    with pytest.raises(EsiaRejected, match="malformed_response"):
        await client.person(token())


async def test_an_oid_cannot_add_a_path_level(signer: PureSigner) -> None:
    calls: list[str] = []
    client = make_client(signer, person_handler(calls), scope="openid")
    await client.person(Token(access_token(), None, 1, "../../admin"))
    assert calls == ["/rs/prns/..%2F..%2Fadmin"]
