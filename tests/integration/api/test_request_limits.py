"""Bodies that are too large or not JSON are refused before any endpoint runs, with a
problem+json answer and nothing stored; unhandled errors still show up in the metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.api.guard import is_json
from medsign.app import create_app
from medsign.db.models import OrganizationRow
from tests import factories as f
from tests.identities import Identities

LIMIT = 4096


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, max_body_bytes=LIMIT, identities=Identities()),
                    raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {f.token(engine)}"
        yield c


def organizations(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(OrganizationRow)) or 0)


def padded_organization(size: int) -> bytes:
    body = f.organization()
    body["address"] = "д" * size  # far too long for the field too: the size check comes first
    return json.dumps(body, ensure_ascii=False).encode()


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(
        client: TestClient, engine: Engine) -> None:
    r = client.put("/api/v1/organizations/mo1", content=padded_organization(LIMIT),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "payload_too_large" and r.json()["limit"] == LIMIT
    assert organizations(engine) == 0


def test_a_chunked_body_is_counted_as_it_arrives(client: TestClient, engine: Engine) -> None:
    data = padded_organization(LIMIT)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start:start + 1000]
    r = client.put("/api/v1/organizations/mo1", content=chunks(),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert organizations(engine) == 0


def test_a_chunked_body_within_the_limit_goes_through(client: TestClient) -> None:
    data = json.dumps(f.organization(), ensure_ascii=False).encode()

    def chunks() -> Iterator[bytes]:
        yield data[:10]
        yield data[10:]
    r = client.put("/api/v1/organizations/mo1", content=chunks(),
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "", "application/xml"])
def test_a_body_that_is_not_json_gets_415(client: TestClient, engine: Engine,
                                         content_type: str) -> None:
    body = json.dumps(f.organization(), ensure_ascii=False).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.put("/api/v1/organizations/mo1", content=body, headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "unsupported_media_type"
    assert organizations(engine) == 0


def test_a_bad_content_length_is_refused(client: TestClient) -> None:
    # httpx sets Content-Length itself; a raw ASGI call shows what a broken client gets
    statuses: list[int] = []

    async def run() -> None:
        app = client.app
        scope = {"type": "http", "method": "PUT", "path": "/api/v1/organizations/mo1",
                 "raw_path": b"/api/v1/organizations/mo1", "query_string": b"",
                 "headers": [(b"content-length", b"-5"), (b"content-type", b"application/json")],
                 "http_version": "1.1", "scheme": "http", "server": ("test", 80),
                 "client": ("test", 1), "root_path": ""}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))  # type: ignore[call-overload]
        await app(scope, receive, send)  # type: ignore[arg-type]

    import anyio
    anyio.run(run)
    assert statuses == [400]


def test_bodiless_requests_and_json_variants_are_let_through(client: TestClient) -> None:
    assert client.get("/api/v1/signing-requests").status_code == 200
    assert is_json("application/json") and is_json("Application/JSON; charset=UTF-8")
    assert is_json("application/merge-patch+json")
    assert not is_json("text/json") and not is_json("application/jsonp")


def test_an_unhandled_error_is_counted_as_a_500(engine: Engine) -> None:
    app = create_app(engine, identities=Identities())

    @app.get("/api/v1/_boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/api/v1/_boom").status_code == 500
        metrics = c.get("/metrics").text
    assert 'medsign_http_requests_total{method="GET",route="/api/v1/_boom",status="500"} 1.0' \
        in metrics
