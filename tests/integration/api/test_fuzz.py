"""Schema-driven fuzzing of REST API v1, plus hostile inputs a generator is unlikely to send.

Schemathesis generates requests for every operation of ``/api/openapi.json`` — boundary cases
(its coverage phase), then random valid and invalid ones (fuzzing) — against a seeded database
with a valid token (Hypothesis derandomized, no deadline, a fixed seed: a failure reproduces).
Many valid cases are steered to rows that exist and to requisites that pass the checksum rules,
some with a NUL byte appended to their text, so that generated text reaches the database.
Whatever is sent, no answer may be a 5xx, every error must be ``application/problem+json``
with a ``code``, and answers must match the documented schema.

The schemathesis pytest plugin (``schemathesis.pytest.from_fixture``) does not run under
pytest 9, so each operation's Hypothesis test is built here with the same builder it uses.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import derive_operation_seed, overrides
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session

from medsign.accounts import api_clients
from medsign.app import create_app
from medsign.bootstrap import Container
from medsign.config import load_settings
from medsign.db.models import OrganizationRow
from medsign.logs import JsonFormatter
from medsign.signing import service as signing_service
from medsign.signing.signers import development_keys
from tests import factories as f

PROBLEM = "application/problem+json"
MAX_EXAMPLES = 120  # per operation, on top of the coverage phase's boundary cases
SEED = 20261126
# Field values that pass the domain rules; a "realistic" case takes all of them at once.
REAL_FIELDS = {"organization": "mo1", "patient": "p1", "ogrn": f.ogrn(), "inn": f.inn10(),
               "kpp": "770701001", "timezone": "Europe/Moscow", "quiet_hours": "21:00-09:00",
               "phone": "+79991234567", "birth_date": "1980-05-17", "last_name": "Иванова",
               "first_name": "Анна", "url": "https://mis.example.org/medsign/events"}


def _operations() -> list[str]:
    # The OpenAPI document does not touch the database: an unconnected engine is enough.
    paths = create_app(create_engine("sqlite://")).openapi()["paths"]
    return [f"{method.upper()} {path}" for path, item in paths.items() for method in item]


OPERATIONS = _operations()


def test_the_fuzzer_sees_every_operation_of_the_api() -> None:
    core = {f"{m} /api/v1/{p}" for m, p in (
        ("PUT", "organizations/{code}"), ("GET", "organizations/{code}"),
        ("PUT", "organizations/{code}/patients/{patient_id}"),
        ("GET", "organizations/{code}/patients/{patient_id}"),
        ("PUT", "organizations/{code}/appointments/{appointment_id}"),
        ("GET", "organizations/{code}/appointments/{appointment_id}"),
        ("POST", "organizations/{code}/appointments/{appointment_id}/signing-requests"),
        ("GET", "signing-requests"), ("GET", "signing-requests/{request_id}"))}
    assert core <= set(OPERATIONS), sorted(core - set(OPERATIONS))


@dataclass(frozen=True)
class Seeded:
    app: FastAPI
    token: str
    ids: dict[str, list[str]]  # path parameter name -> ids that exist


@pytest.fixture(scope="session")
def trust_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA certificate for ``signing.trust_store``, as a production installation must have."""
    org = f.organization()
    ca, _, _ = development_keys(tmp_path_factory.mktemp("keys"), code="mo1", name=org["name"],
                                ogrn=org["ogrn"], inn=org["inn"])
    return ca


@pytest.fixture
def seeded(engine: Engine, trust_store: Path) -> Iterator[Seeded]:
    # Configured as an installation with every feature on: an unconfigured optional part
    # (evidence, MAX links) answers 503 by design.
    settings = load_settings(None, env={"MEDSIGN_SIGNING__TRUST_STORE": str(trust_store),
                                        "MEDSIGN_MAX__TOKEN": "max-bot-token-for-fuzzing",
                                        "MEDSIGN_MAX__BOT_DEEP_LINK_BASE": "https://max.ru/bot"})
    container = Container(settings=settings, engine=engine)
    app = container.app()  # wired as in production
    token = f.token(engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        # Both organisations use the same ids (each its own rows): every steered combination
        # of organisation and id exists, and the same id is reached in either.
        for org in ("mo1", "mo2"):
            _ok(client.put(f"/api/v1/organizations/{org}", json=f.organization()))
            _ok(client.put(f"/api/v1/organizations/{org}/patients/p1", json=f.patient(org)))
            for aid in ("a1", "a2"):
                _ok(client.put(f"/api/v1/organizations/{org}/appointments/{aid}",
                               json=f.appointment(org, "p1")))
        endpoint = _ok(client.post("/api/v1/webhook-endpoints", json={
            "url": REAL_FIELDS["url"],
            "event_types": ["signing_request.state_changed"]})).json()["id"]
        rid = _ok(client.post(  # its event leaves a delivery to the endpoint
            "/api/v1/organizations/mo1/appointments/a1/signing-requests")).json()["id"]
        delivery = _ok(client.get(f"/api/v1/webhook-endpoints/{endpoint}/deliveries")
                       ).json()["items"][0]["id"]
        yield Seeded(app, token, {"code": ["mo1", "mo2"], "patient_id": ["p1"],
                                  "appointment_id": ["a1", "a2"], "request_id": [rid],
                                  "endpoint_id": [endpoint], "delivery_id": [delivery]})
    container.close()


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response


def _schema(seeded: Seeded) -> Any:
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        # Through the security scheme, not a fixed header: the ignored_auth check must be
        # able to send its probes without the token.
        "auth": {"openapi": {"HTTPBearer": {"bearer": seeded.token}}},
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
    })
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", seeded.app, config=config)
    schema.hook(_steering(seeded.ids))
    return schema


def _steering(ids: dict[str, list[str]]) -> Any:
    def flatmap_case(_ctx: Any, case: schemathesis.Case) -> Any:
        """Point valid cases at existing rows and at requisites that pass the domain rules, so
        handlers get past 404 and 422 and the generated text reaches the database."""
        if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
            return st.just(case)
        rows = st.fixed_dictionaries({k: st.sampled_from([None, *ids[k]])
                                      for k in case.path_parameters if k in ids})
        body = st.sampled_from(["as generated", "realistic", "with NUL"])
        return st.tuples(rows, body).map(lambda drawn: _steer(case, *drawn))
    return flatmap_case


def _steer(case: schemathesis.Case, rows: dict[str, str | None], body: str) -> schemathesis.Case:
    # In place, and only what changes: schemathesis revalidates edited parts of a case (path
    # values are kept URL-encoded, so re-setting them unchanged would make them "invalid").
    chosen = {k: v for k, v in rows.items() if v is not None}
    if chosen:
        case.path_parameters = {**case.path_parameters, **chosen}
    if body != "as generated" and isinstance(case.body, dict):
        case.body = {k: REAL_FIELDS.get(k, v) for k, v in case.body.items()}
        if "code" in chosen and "organization" in case.body:  # agrees with the path
            case.body["organization"] = chosen["code"]
        if body == "with NUL":  # PostgreSQL text cannot store U+0000: must be a 422, not a 500
            case.body = {k: f"{v}\x00" if isinstance(v, str) and k not in REAL_FIELDS else v
                         for k, v in case.body.items()}
    return case


def problem_details(_ctx: Any, response: Any, _case: Any) -> bool:
    """Every error is problem+json with the stable ``code`` and the status it was sent with."""
    if response.status_code < 400:
        return True
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == PROBLEM, f"{response.status_code} answered as {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body.get("code"), str) and body["code"], body
    assert body["status"] == response.status_code, body
    return True


@pytest.mark.parametrize("operation", OPERATIONS)
def test_generated_requests_get_no_5xx_and_documented_answers(seeded: Seeded,
                                                               operation: str) -> None:
    schema = _schema(seeded)
    method, path = operation.split(" ")
    op = schema[path][method]
    project = schema.config
    seen: list[int] = []

    def check(case: schemathesis.Case) -> None:
        response = case.call()
        seen.append(response.status_code)
        # Valid by the schema is not valid by the domain (checksums, unknown ids): no
        # positive_data_acceptance. Every other built-in check applies.
        case.validate_response(response, excluded_checks=[positive_data_acceptance],
                               additional_checks=[problem_details])

    create_test(operation=op, test_func=check, config=HypothesisTestConfig(
        project=project, modes=list(HypothesisTestMode),
        settings=project.get_hypothesis_settings(operation=op, phase="fuzzing"),
        seed=derive_operation_seed(project.seed, op.label),
        override=overrides.with_config_headers(project, operation=op)))()
    assert len(seen) >= MAX_EXAMPLES // 2, f"only {len(seen)} requests were made"
    # A 2xx, or a 409 about the state of a row that exists: the handler's logic ran.
    assert any(s < 300 or s == 409 for s in seen), "no case got past validation to a row"


# -- hostile inputs a schema-driven generator is unlikely to produce ------------------------

@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(seeded.app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {seeded.token}"
        yield c


def assert_problem(response: Any, *statuses: int, case: object = None) -> dict[str, Any]:
    assert response.status_code in statuses, (case, response.status_code, response.text[:500])
    assert response.headers["content-type"] == PROBLEM, case
    body: dict[str, Any] = response.json()
    assert body["code"] and body["status"] == response.status_code, body
    return body


def _put_json(client: TestClient, url: str, raw: bytes,
              content_type: str | None = "application/json") -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    return client.put(url, content=raw, headers=headers)


def test_a_huge_body_is_refused_quickly_with_a_4xx(client: TestClient) -> None:
    raw = json.dumps(f.organization(name="я" * 4_000_000)).encode()  # 8 MB of UTF-8
    assert_problem(_put_json(client, "/api/v1/organizations/mo1", raw), 413, 422)
    assert client.get("/api/v1/organizations/mo1").json()["name"] == f.organization()["name"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml", "image/png",
                                          "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_declared_json_is_refused(client: TestClient,
                                                     content_type: str | None) -> None:
    raw = json.dumps(f.organization(name="Не JSON по заголовку")).encode()
    assert_problem(_put_json(client, "/api/v1/organizations/mo9", raw, content_type), 415, 422)
    assert_problem(client.get("/api/v1/organizations/mo9"), 404)


@pytest.mark.parametrize("raw", [
    b'{"name": "\xff\xfe\xfd"}',                            # invalid UTF-8
    b'{"name": "\xd0"}',                                    # a truncated two-byte sequence
    b"[" * 100_000 + b"]" * 100_000,                        # deeper than json can recurse
    b'{"name": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
    b"\x00\x00\x00",
], ids=["invalid-utf8", "truncated-utf8", "deep-array", "deep-object", "nul-bytes"])
def test_unparseable_bodies_are_400_malformed_json(client: TestClient, raw: bytes) -> None:
    body = assert_problem(_put_json(client, "/api/v1/organizations/mo1", raw), 400)
    assert body["code"] == "malformed_json" and "error" not in body["detail"], body


def test_nested_json_within_the_parser_limits_is_a_validation_error(client: TestClient) -> None:
    nested: Any = "x"
    for _ in range(60):  # the guard refuses deeper than 64 levels (test_hostile_json.py)
        nested = {"a": nested}
    raw = json.dumps(f.organization(partner={"templates": nested})).encode()
    assert assert_problem(_put_json(client, "/api/v1/organizations/mo1", raw),
                          422)["code"] == "validation_failed"


# Each list below is walked in one test: one seeded database, not one per case.
NUL_FIELDS = [
    ("/api/v1/organizations/mo1", f.organization(name="Поликлиника\x00")),
    ("/api/v1/organizations/mo1", f.organization(address="ул. Ленина\x00, д. 1")),
    ("/api/v1/organizations/mo1", f.organization(partner={
        "department_id": "dep\x00", "templates": {"personal_data": "tpl"}})),
    ("/api/v1/organizations/mo1", f.organization(partner={
        "templates": {"personal_data": "tpl\x00"}})),
    ("/api/v1/organizations/mo1/patients/p1", f.patient(last_name="Ива\x00нов")),
    ("/api/v1/organizations/mo1/patients/p1", f.patient(middle_name="\x00")),
    ("/api/v1/organizations/mo1/patients/p1", f.patient(phone="+7 999 123-45-67\x00")),
    ("/api/v1/organizations/mo1/appointments/a2", f.appointment(service_name="Приём\x00")),
    ("/api/v1/organizations/mo1/appointments/a2", f.appointment(doctor={"name": "Петрова\x00"})),
]


def test_nul_in_any_text_field_is_a_422_on_every_back_end(client: TestClient) -> None:
    for url, body in NUL_FIELDS:
        before = client.get(url).json()
        assert_problem(client.put(url, json=body), 422, case=body)
        assert client.get(url).json() == before  # nothing was half-written


def _cursor(created: str, request_id: str) -> str:
    raw = json.dumps({"c": created, "i": request_id}).encode()
    return base64.urlsafe_b64encode(raw).decode()


HOSTILE_FILTERS = [
    {"organization": "mo1\x00"},
    {"cursor": _cursor("2026-11-26T10:00:00+00:00", "x\x00")},
    {"created_from": "0001-01-01T00:00:00+05:00"},   # no UTC equivalent: year 0
    {"appointment_to": "9999-12-31T23:59:59-05:00"},  # past year 9999 in UTC
    {"cursor": _cursor("0001-01-01T00:00:00+05:00", "x")},
    {"created_from": "20261126"},  # not Unix time: 23 August 1970 would be a silent surprise
    {"created_to": "1700000000.5"},
    {"created_from": "2026-11-26T10:00:00"},  # no time zone
    {"state": "nonsense"},
    {"limit": "0"}, {"limit": "201"}, {"limit": "1e3"},
]


def test_hostile_list_filters_are_4xx(client: TestClient) -> None:
    for params in HOSTILE_FILTERS:
        assert_problem(client.get("/api/v1/signing-requests", params=params), 422, case=params)


def test_a_start_time_out_of_range_or_given_as_a_number_is_a_422(client: TestClient) -> None:
    for starts_at in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", 1_800_000_000,
                      "1800000000"):
        assert_problem(client.put("/api/v1/organizations/mo1/appointments/a9", json=f.appointment(
            starts_at=starts_at)), 422, case=starts_at)


ODD_IDS = ["%00", "a%00b", "..", "a%2Fb", "%D1%8B", "%20", "x" * 101, "a%0Ab", "-a", "%FF%FE",
           "a;b", "a'--", "%E2%80%AE", "💉"]


def test_odd_characters_in_path_ids_are_404_or_422(client: TestClient) -> None:
    for raw_id in ODD_IDS:
        urls = [f"/api/v1/organizations/{raw_id}", f"/api/v1/signing-requests/{raw_id}"]
        if raw_id != "..":  # httpx resolves it: …/mo1/patients/.. would be …/mo1 itself
            urls += [f"/api/v1/organizations/mo1/patients/{raw_id}",
                     f"/api/v1/organizations/{raw_id}/patients/p1",
                     f"/api/v1/organizations/mo1/appointments/{raw_id}"]
        for url in urls:
            assert_problem(client.get(url), 404, 422, case=url)
        # httpx resolves ".." itself: the POST then goes to another path (404 or 405).
        for url in (f"/api/v1/organizations/mo1/appointments/{raw_id}/signing-requests",
                    f"/api/v1/organizations/{raw_id}/appointments/a1/signing-requests"):
            assert_problem(client.post(url), 404, 405, 422, case=url)


BAD_KEYS = [b"", b" ", b"a b", "ключ".encode(), b"x" * 201, b"a\tb", b"\x7f", b"\xff"]


def test_invalid_idempotency_keys_are_422_and_start_nothing(client: TestClient) -> None:
    for key in BAD_KEYS:
        r = client.post("/api/v1/organizations/mo1/appointments/a2/signing-requests",
                        headers={"Idempotency-Key": key})
        assert assert_problem(r, 422, case=key)["code"] == "validation_failed"
    listed = client.get("/api/v1/signing-requests").json()["items"]
    assert [item["appointment"] for item in listed] == ["a1"]


def test_a_revoked_token_is_refused_everywhere(seeded: Seeded, engine: Engine) -> None:
    token = f.token(engine, "soon-revoked")
    with Session(engine) as db:
        api_clients.revoke(db, name="soon-revoked", actor="test", now=datetime.now(UTC))
        db.commit()
    with TestClient(seeded.app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        for method, url in _every_operation(seeded):
            r = c.request(method, url, json=_body_for(url))
            assert assert_problem(r, 401)["code"] == "invalid_token", (method, url)
            assert r.headers["www-authenticate"] == "Bearer"


def test_a_token_of_another_organization_sees_only_not_found(seeded: Seeded,
                                                             engine: Engine) -> None:
    token = f.token(engine, "mo2-only", ["mo2"])
    with TestClient(seeded.app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        for method, url in _every_operation(seeded):
            r = c.request(method, url, json=_body_for(url))
            if url == "/api/v1/signing-requests":
                assert r.status_code == 200 and r.json()["items"] == []
            else:  # mo2 has its own p1 and a1: nothing of mo1's is shown, taken or changed
                assert_problem(r, 404)
        with Session(engine) as db:
            assert db.scalar(select(OrganizationRow.name).where(
                OrganizationRow.code == "mo1")) == f.organization()["name"]


def _every_operation(seeded: Seeded) -> list[tuple[str, str]]:
    rid = seeded.ids["request_id"][0]
    return [("PUT", "/api/v1/organizations/mo1"), ("GET", "/api/v1/organizations/mo1"),
            ("PUT", "/api/v1/organizations/mo1/patients/p1"),
            ("GET", "/api/v1/organizations/mo1/patients/p1"),
            ("PUT", "/api/v1/organizations/mo1/appointments/a1"),
            ("GET", "/api/v1/organizations/mo1/appointments/a1"),
            ("POST", "/api/v1/organizations/mo1/appointments/a2/signing-requests"),
            ("GET", "/api/v1/signing-requests"), ("GET", f"/api/v1/signing-requests/{rid}")]


def _body_for(url: str) -> dict[str, Any] | None:
    if "/patients/" in url:
        return f.patient(None, last_name="Захватов")
    if url.endswith("/a1"):
        return f.appointment(None, "p1")
    if "/organizations/" in url and "/appointments/" not in url:
        return f.organization(name="Захват")
    return None


def test_an_unexpected_error_is_a_500_problem_with_the_request_id(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom: +7 999 123-45-67")
    monkeypatch.setattr(signing_service, "get", broken)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # formats while the request's context is bound
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("medsign.api")
    logger.addHandler(handler)
    try:
        r = client.get("/api/v1/signing-requests/x1", headers={"X-Request-ID": "req-500"})
    finally:
        logger.removeHandler(handler)
    body = assert_problem(r, 500)
    assert body["code"] == "internal_error" and "boom" not in r.text
    assert body["request_id"] == r.headers["x-request-id"] == "req-500"
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["correlation_id"] == "req-500" and line["level"] == "error"
    assert "RuntimeError: boom" in line["exc"] and "123-45-67" not in line["exc"]


def test_many_concurrent_reads_do_not_deadlock_the_connection_pool(seeded: Seeded) -> None:
    """More simultaneous requests than pooled connections: each holds at most one at a time.

    (A read session that took its connection before the token check took a second one
    deadlocked here until the pool's 30-second timeout, then answered 500.)
    """
    rid = seeded.ids["request_id"][0]
    urls = [f"/api/v1/signing-requests/{rid}", "/api/v1/organizations/mo1/patients/p1",
            "/api/v1/organizations/mo1/appointments/a1", "/api/v1/organizations/mo1",
            "/api/v1/signing-requests"]

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=seeded.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://medsign.test",
                                     headers={"Authorization": f"Bearer {seeded.token}"},
                                     timeout=20) as http:
            responses = await asyncio.wait_for(asyncio.gather(
                *(http.get(urls[i % len(urls)]) for i in range(60))), timeout=20)
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 60


def test_a_write_is_committed_before_its_answer_is_sent(seeded: Seeded, engine: Engine) -> None:
    """Otherwise the client's next request may not see its own write, and a failing commit
    comes too late to turn the 200 into an error."""
    events: list[str] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        async def observed(message: Any) -> None:
            if message["type"] == "http.response.start":
                events.append("answer")
            await send(message)
        await seeded.app(scope, receive, observed)

    event.listen(engine, "commit", lambda _conn: events.append("commit"))
    with TestClient(spy) as client:
        r = client.put("/api/v1/organizations/mo1", json=f.organization(name="Новое имя"),
                       headers={"Authorization": f"Bearer {seeded.token}"})
    assert r.status_code == 200 and events == ["commit", "answer"]
