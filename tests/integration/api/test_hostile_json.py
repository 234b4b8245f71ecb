"""A JSON body nested deeper than any real request is refused with 400 ``malformed_json``
(problem+json, saying why) before an endpoint runs, whatever the path and however the body
arrives, and nothing is stored. Without the guard ``json.loads`` hits the recursion limit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.app import create_app
from medsign.db.models import OrganizationRow
from medsign.httpsafe.bodies import MAX_DEPTH
from tests import factories as f
from tests.identities import Identities

DEEP = b"[" * 100_000 + b"]" * 100_000  # ~200 KB: well under the size limit


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, identities=Identities()),
                    raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        yield c


def organizations(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(OrganizationRow)) or 0)


def nested_field(levels: int) -> bytes:
    """A valid organisation, except for one extra field nested ``levels`` deep."""
    body = json.dumps(f.organization(), ensure_ascii=False)[:-1]
    return (body + ', "extra": ' + "[" * levels + "]" * levels + "}").encode()


def assert_refused(response: object) -> None:
    r = response
    assert r.status_code == 400, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert r.json()["code"] == "malformed_json"  # type: ignore[attr-defined]
    assert str(MAX_DEPTH) in r.json()["detail"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [DEEP, nested_field(MAX_DEPTH)])
def test_deep_json_to_the_rest_api_is_a_400_and_stores_nothing(
        client: TestClient, engine: Engine, body: bytes) -> None:
    r = client.put("/api/v1/organizations/mo1", content=body,
                   headers={"Content-Type": "application/json"})
    assert_refused(r)
    assert organizations(engine) == 0


def test_deep_json_sent_in_chunks_is_refused_too(client: TestClient, engine: Engine) -> None:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(DEEP), 8192):
            yield DEEP[start:start + 8192]
    r = client.put("/api/v1/organizations/mo1", content=chunks(),
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert_refused(r)
    assert organizations(engine) == 0


def test_deep_json_on_any_path_is_refused_before_routing(client: TestClient) -> None:
    for path in ("/api/v1/no-such-thing", "/login", "/max/webhook"):
        assert_refused(client.post(path, content=DEEP,
                                   headers={"Content-Type": "application/json"}))


def test_nesting_within_the_limit_reaches_the_endpoint(client: TestClient,
                                                       engine: Engine) -> None:
    r = client.put("/api/v1/organizations/mo1", content=nested_field(MAX_DEPTH - 1),
                   headers={"Content-Type": "application/json"})
    # the endpoint's own validation answers: the guard let the body through
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["extra"]
    assert organizations(engine) == 0

