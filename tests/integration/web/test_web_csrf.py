"""Every state-changing web route refuses a request without the session's CSRF token.

The routes are enumerated from the application itself, so a new form cannot be forgotten:
only the REST API (bearer tokens) and the MAX webhook (its own secret) are exempt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medsign.db.models import SigningRequestRow
from tests.integration.web import stand

EXEMPT_PREFIXES = ("/api/", "/max/")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def all_routes(app: FastAPI) -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, also of included routers (which this FastAPI keeps as
    lazy ``_IncludedRouter`` entries that flatten through ``effective_route_contexts``)."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route.path, set(route.methods or ())
        for context in getattr(route, "effective_route_contexts", lambda: ())():
            yield context.path, set(context.methods or ())


def state_changing_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for path, methods in all_routes(app):
        if not path.startswith(EXEMPT_PREFIXES):
            found += [(method, path) for method in sorted(methods & UNSAFE)]
    assert len(found) > 10  # the enumeration itself works
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "a1", path)


def test_the_enumeration_finds_the_forms(app: FastAPI) -> None:
    paths = {p for _, p in state_changing_routes(app)}
    assert {"/login", "/logout", "/doctor/organizations/{code}/appointments/{appointment_id}/sign",
            "/console/requests/{request_id}/retry", "/console/requests/{request_id}/cancel",
            "/console/support/{reference}/close", "/console/users", "/portal/login",
            "/portal/esia/start", "/portal/max/link", "/support"} <= paths


@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_every_state_changing_route_refuses_a_bad_token(
        app: FastAPI, seeded: stand.Seeded, new_client: Callable[[], TestClient],
        engine: Engine, token: str) -> None:
    admin = stand.logged_in(new_client(), "adm")
    other = stand.token_of(stand.logged_in(new_client(), "doc1"), "/doctor")
    for method, path in state_changing_routes(app):
        data = {"reason": "проверка", "resolution": "x", "message": "x", "login": "adm",
                "password": stand.PASSWORD, "patient": "p1"}
        if token == "wrong":
            data["csrf_token"] = "not-the-token"
        elif token == "another session's":
            data["csrf_token"] = other
        r = admin.request(method, concrete(path), data=data)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "Форма устарела" in r.text
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(SigningRequestRow)) == 0


def test_the_header_token_is_accepted_like_the_field(client: TestClient,
                                                     seeded: stand.Seeded) -> None:
    stand.logged_in(client, "doc1")
    token = stand.token_of(client, "/doctor")
    r = client.post("/logout", headers={"X-CSRF-Token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_without_any_session_a_form_is_refused(client: TestClient, seeded: stand.Seeded) -> None:
    r = client.post("/login", data={"login": "doc1", "password": stand.PASSWORD})
    assert r.status_code == 403
    r = client.post("/support", data={"message": "x", "csrf_token": "guess"})
    assert r.status_code == 403
