"""Rows and values that the schema guarantees, read so that their absence is named.

A foreign key (or a row inserted a moment ago in the same transaction, or a column that a
state makes mandatory) promises that something is there. When it is not, the data or the code
is broken and no caller can recover; :class:`IntegrityBroken` says what was missing instead of
a ``None`` failing somewhere later (and, unlike an ``assert``, it is not stripped by
``python -O``).
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


class IntegrityBroken(LookupError):
    """A row or value that the schema guarantees is missing; the message names it."""


def get_existing(db: Session, model: type[T], key: object, *,
                 with_for_update: bool = False) -> T:
    """The row of ``model`` with primary key ``key``, which the schema guarantees to exist."""
    row = db.get(model, key, with_for_update=with_for_update)
    if row is None:
        raise IntegrityBroken(f"{model.__name__} with key {key!r} is missing, although the "
                              "schema guarantees it")
    return row
