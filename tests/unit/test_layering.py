"""Queries live in repositories; endpoints and runner steps call them, services never commit.

Read from the source with ``ast``, so that a query written into an endpoint or a step fails
here with its file and line, before any review. What counts as writing SQL: importing a
statement builder of SQLAlchemy (``select``, ``update``, ``text``…), calling ``execute``,
``scalars``, ``scalar``… on anything, or ``get``/``get_one`` with a mapped row class
(``db.get(PatientRow, id)``). Committing is allowed there (the request or the step commits)
and so is ``ctx.read(lambda conn: repository.x(conn))``. A page's read model
(``web/<area>/queries.py``) is that page's repository and may query.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "medsign"
# SQLAlchemy's statement builders: whoever imports one is writing a query.
BUILDERS = frozenset({"select", "update", "delete", "insert", "text", "func", "and_", "or_",
                      "exists", "bindparam", "union", "literal_column"})
# Calls that run a statement, on a session, a connection or a result.
RUNNERS = frozenset({"execute", "exec_driver_sql", "scalars", "scalar", "scalar_one",
                     "scalar_one_or_none", "query"})
# A session's look-up by primary key, recognised by its first argument: a mapped row class.
GETTERS = frozenset({"get", "get_one"})
# What a service or a repository must leave to its caller.
ENDINGS = frozenset({"commit", "rollback"})


def boundary_modules() -> list[Path]:
    """Endpoints (the REST API, the pages but their read models) and the runner's steps."""
    api = PACKAGE.glob("api/**/*.py")
    web = (p for p in PACKAGE.glob("web/**/*.py") if p.name != "queries.py")
    flows = PACKAGE.glob("*/flow.py")
    return sorted({*api, *web, *flows})


def service_modules() -> list[Path]:
    """The subjects' services and repositories (their runner steps excluded)."""
    packages = ("accounts", "bot", "clinic", "housekeeping", "mail", "notifications",
                "records", "signing")
    return sorted(p for name in packages for p in PACKAGE.glob(f"{name}/**/*.py")
                  if p.name != "flow.py")


def _is_row_class(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else \
        node.attr if isinstance(node, ast.Attribute) else ""
    return name.endswith("Row")


def sql_written(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for every place in ``tree`` that writes or runs a query itself."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in BUILDERS:
                    yield node.lineno, f"imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in ("sqlalchemy", "sa") and node.attr in BUILDERS:
            yield node.lineno, f"uses {node.value.id}.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in RUNNERS:
                yield node.lineno, f"calls .{name}()"
            elif name in GETTERS and node.args and _is_row_class(node.args[0]):
                yield node.lineno, f"calls .{name}() on a mapped row"


def transaction_ended(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ENDINGS:
            yield node.lineno, f"calls .{node.func.attr}()"


Check = Callable[[ast.AST], Iterator[tuple[int, str]]]


def offences(paths: Iterable[Path], check: Check) -> list[str]:
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, what in sorted(check(tree)):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {what}")
    return found


def test_the_scopes_hold_the_modules_they_name() -> None:
    names = {str(p.relative_to(PACKAGE)) for p in boundary_modules()}
    assert {"api/v1/signing.py", "web/console/routes.py", "web/deps.py", "signing/flow.py",
            "bot/flow.py"} <= names
    assert "web/console/queries.py" not in names
    services = {str(p.relative_to(PACKAGE)) for p in service_modules()}
    assert {"signing/service.py", "signing/repository.py", "bot/updates.py"} <= services
    assert "signing/flow.py" not in services


def test_endpoints_and_steps_write_no_sql_of_their_own() -> None:
    found = offences(boundary_modules(), sql_written)
    assert not found, ("a query outside its repository (move it to the subject's "
                       "repository or service, or the page's queries.py):\n" + "\n".join(found))


def test_services_and_repositories_leave_the_commit_to_their_caller() -> None:
    found = offences(service_modules(), transaction_ended)
    assert not found, "the request or the runner step commits, not:\n" + "\n".join(found)


@pytest.mark.parametrize(("source", "expected"), [
    ("from sqlalchemy import Connection, select\n", [(1, "imports select from sqlalchemy")]),
    ("from sqlalchemy.dialects.postgresql import insert\n",
     [(1, "imports insert from sqlalchemy.dialects.postgresql")]),
    ("import sqlalchemy\nq = sqlalchemy.update(T)\n", [(2, "uses sqlalchemy.update")]),
    ("ctx.read(lambda conn: conn.execute(q).scalar())\n",
     [(1, "calls .execute()"), (1, "calls .scalar()")]),
    ("rows = db.scalars(q)\n", [(1, "calls .scalars()")]),
    ("row = db.get(PatientRow, 1)\nrow = session.get_one(models.PatientRow, 1)\n",
     [(1, "calls .get() on a mapped row"), (2, "calls .get_one() on a mapped row")]),
    ("found = mismatches.get(request_id)\n", []),
    ("with Session(bind=conn) as db:\n    repository.x(db)\n    db.commit()\n", []),
])
def test_the_check_names_what_writes_sql(source: str, expected: list[tuple[int, str]]) -> None:
    assert sorted(sql_written(ast.parse(source))) == sorted(expected)


def test_the_check_names_a_commit() -> None:
    source = "def save(db):\n    db.add(row)\n    db.commit()\n"
    assert list(transaction_ended(ast.parse(source))) == [(3, "calls .commit()")]
