"""Request-scoped dependencies: database sessions, the clock, the calling client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from medsign.accounts import api_clients
from medsign.accounts.api_clients import Principal
from medsign.db.engine import reading
from medsign.errors import ServiceError
from medsign.notifications.service import NotificationPolicy
from medsign.serving import now, state


class Unauthorized(ServiceError):
    status = 401


# At most this many requests use the database at once. A request keeps its pooled connection
# from its first query until after its answer is validated, and that validation needs one of
# the 40 worker threads: without a limit, all of them can end up waiting for connections held
# by requests that wait for a thread — a deadlock under load. 10 is below both the pool
# (SQLite 15, PostgreSQL 2 × database.pool_size) and the thread pool; waiting for a slot
# takes no thread.
DATABASE_SLOTS = 10


async def _database_slot() -> AsyncIterator[None]:
    yield


# One Depends object, so that the limit is shared; a request takes its slot only once.
Slot = Annotated[None, Depends(_database_slot, max_concurrency=DATABASE_SLOTS,
                               scope="function")]


def write_session(request: Request, _slot: Slot) -> Iterator[Session]:
    """A session whose transaction the request commits when the endpoint returns normally."""
    with Session(state(request).engine, expire_on_commit=False) as db:
        yield db
        db.commit()


def read_session(request: Request, _slot: Slot) -> Iterator[Session]:
    """A read-only session: on SQLite it does not take the write lock.

    Like the write session it takes its pooled connection at the first query, so a request
    never holds two connections at once (``principal`` has returned its own by then).
    """
    with Session(bind=reading(state(request).engine)) as db:
        yield db


_bearer = HTTPBearer(auto_error=False, description="Токен клиента: `medsign api-token create`")


def principal(request: Request,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
              _slot: Slot) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("unauthorized", "Нужен заголовок Authorization: Bearer <токен>.")
    with Session(bind=reading(state(request).engine)) as db:
        found = api_clients.authenticate(db, creds.credentials)
    if found is None:
        raise Unauthorized("invalid_token", "Токен неизвестен или отозван.")
    return found


def policy(request: Request) -> NotificationPolicy | None:
    bot = state(request).bot
    return bot.policy if bot else None


Now = Annotated[datetime, Depends(now)]
Policy = Annotated[NotificationPolicy | None, Depends(policy)]
# scope="function": close (and commit) before the answer is sent, not after. A client must not
# get 201 for a write that is not committed yet — its next request would not see it, and a
# failing commit would come too late to change the answer.
WriteDb = Annotated[Session, Depends(write_session, scope="function")]
ReadDb = Annotated[Session, Depends(read_session, scope="function")]
Caller = Annotated[Principal, Depends(principal)]
