"""Column types shared by both back ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Boolean, ColumnElement, DateTime, Dialect, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` in Python, a naive UTC timestamp in the database.

    SQLite has no time zones and PostgreSQL's ``timestamptz`` would return the session zone;
    storing naive UTC everywhere keeps comparisons and ``ORDER BY`` identical on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL paths on SQLite
            value = datetime.fromisoformat(value)
        result: datetime = value.replace(tzinfo=UTC)
        return result


def matching(column: Any, *values: str) -> ColumnElement[bool]:
    """``column = 'value'`` (or ``IN`` of several) with the values written into the SQL, not
    bound: SQLite uses a partial index (``… WHERE status = 'scheduled'``) only for a query
    whose condition names the same constants, never for bound parameters. The values are the
    code's own constants (states, statuses), never input."""
    for value in values:
        if not value.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"not a constant: {value!r}")
    literals: list[Any] = [literal_column(f"'{value}'") for value in values]
    if len(literals) == 1:
        return cast(ColumnElement[bool], column == literals[0])
    return cast(ColumnElement[bool], column.in_(literals))


class _OnSqlite(ColumnElement[bool]):
    """A condition SQLite reads one way and every other back end another (``on_sqlite``)."""

    type = Boolean()
    inherit_cache = True  # the statement cache keys on both conditions (the internals below)
    _is_implicitly_boolean = True  # written as is in WHERE, not compared with 1 on SQLite
    _traverse_internals = [("generic", InternalTraversal.dp_clauseelement),
                           ("sqlite", InternalTraversal.dp_clauseelement)]

    def __init__(self, generic: ColumnElement[bool], sqlite: ColumnElement[bool]) -> None:
        self.generic, self.sqlite = generic, sqlite


def on_sqlite(generic: ColumnElement[bool], *, sqlite: ColumnElement[bool]) -> ColumnElement[bool]:
    """``generic``, written as ``sqlite`` when the statement runs on SQLite: for an index only
    one back end has (SQLite's full-text tables, PostgreSQL's trigram index)."""
    return _OnSqlite(generic, sqlite)


@compiles(_OnSqlite)
def _generic(element: _OnSqlite, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.generic, **kw)


@compiles(_OnSqlite, "sqlite")
def _sqlite(element: _OnSqlite, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.sqlite, **kw)
