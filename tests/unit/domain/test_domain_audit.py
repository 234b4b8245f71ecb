"""Audit events: immutable evidence of who did what, when."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from medsign.domain.audit import AuditEvent
from medsign.domain.errors import DomainError

AT = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=10)))


def create(**overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "at": AT,
        "actor": "doctor:petrov",
        "action": "signing.started",
        "subject_type": "signing_request",
        "subject_id": "sr-1",
        "organization_code": "mo-1",
        "details": {"consents": ["medical_intervention"]},
    }
    return AuditEvent.create(**{**fields, **overrides})


def test_an_audit_event_stores_its_moment_in_utc() -> None:
    event = create()
    assert event.at == AT and event.at.tzinfo is UTC


def test_an_audit_event_cannot_be_changed() -> None:
    event = create()
    with pytest.raises(FrozenInstanceError):
        event.actor = "someone else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.details["consents"] = []  # type: ignore[index]


def test_changing_the_callers_details_later_does_not_rewrite_the_event() -> None:
    details: dict[str, object] = {"attempt": 1}
    event = create(details=details)
    details["attempt"] = 2
    assert event.details == {"attempt": 1}


def test_details_default_to_empty_and_the_organisation_may_be_unknown() -> None:
    event = create(details=None, organization_code=None)
    assert (dict(event.details), event.organization_code) == ({}, None)


@pytest.mark.parametrize(("field", "value"), [("actor", ""), ("action", "  ")])
def test_an_audit_event_needs_an_actor_and_an_action(field: str, value: str) -> None:
    with pytest.raises(DomainError) as caught:
        create(**{field: value})
    assert (caught.value.code, caught.value.field) == ("required", field)


def test_an_audit_event_needs_an_aware_moment() -> None:
    with pytest.raises(DomainError) as caught:
        create(at=datetime(2025, 6, 1, 12, 0))
    assert (caught.value.code, caught.value.field) == ("naive_datetime", "at")


def test_equal_events_compare_equal_and_can_be_hashed() -> None:
    assert create() == create()
    assert hash(create()) == hash(create())
