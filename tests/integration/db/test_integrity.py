"""A row that the schema guarantees is read with ``get_existing``: its absence is an
``IntegrityBroken`` naming the model and the key, not a ``None`` failing later (both back ends).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign.db.integrity import IntegrityBroken, get_existing
from medsign.db.models import OrganizationRow
from medsign.demo import ORGANIZATION
from medsign.records import organizations
from medsign.records.scope import SYSTEM

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def test_an_existing_row_is_returned_also_under_a_row_lock(engine: Engine) -> None:
    with Session(engine) as db:
        organizations.upsert(db, scope=SYSTEM, code="mo1", now=NOW, data=ORGANIZATION)
        db.commit()
        org_id = organizations.get(db, scope=SYSTEM, code="mo1").id
    with Session(engine) as db:
        assert get_existing(db, OrganizationRow, org_id).code == "mo1"
        assert get_existing(db, OrganizationRow, org_id, with_for_update=True).code == "mo1"


def test_a_missing_row_is_named_in_the_error(engine: Engine) -> None:
    with Session(engine) as db, pytest.raises(IntegrityBroken) as caught:
        get_existing(db, OrganizationRow, 424242)
    assert str(caught.value) == ("OrganizationRow with key 424242 is missing, although the "
                                 "schema guarantees it")
    assert isinstance(caught.value, LookupError)
