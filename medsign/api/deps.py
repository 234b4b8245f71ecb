"""Request-scoped dependencies: database sessions, the clock, the calling client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsign.clock import Clock
from medsign.db.engine import READ_ONLY
from medsign.services import api_clients
from medsign.services.api_clients import Principal
from medsign.services.errors import ServiceError
from medsign.services.evidence import EvidenceConfig
from medsign.services.notifications import NotificationPolicy


@dataclass
class AppState:
    engine: Engine
    clock: Clock
    evidence: EvidenceConfig | None = None
    bot: BotSettings | None = None


@dataclass(frozen=True)
class BotSettings:
    """What the web side of the MAX bot needs: notification policy, deep links, webhook."""

    policy: NotificationPolicy
    deep_link_base: str
    link_ttl: timedelta
    webhook_secret: str | None


class Unauthorized(ServiceError):
    status = 401


def state(request: Request) -> AppState:
    value: AppState = request.app.state.medsign
    return value


def write_session(request: Request) -> Iterator[Session]:
    """A session whose transaction the request commits when the endpoint returns normally."""
    with Session(state(request).engine, expire_on_commit=False) as db:
        yield db
        db.commit()


def read_session(request: Request) -> Iterator[Session]:
    """A read-only session: on SQLite it does not take the write lock."""
    with state(request).engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        with Session(bind=conn) as db:
            yield db


_bearer = HTTPBearer(auto_error=False, description="Токен клиента: `medsign api-token create`")


def principal(request: Request,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
              ) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("unauthorized", "Нужен заголовок Authorization: Bearer <токен>.")
    with state(request).engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        with Session(bind=conn) as db:
            found = api_clients.authenticate(db, creds.credentials)
    if found is None:
        raise Unauthorized("invalid_token", "Токен неизвестен или отозван.")
    return found


def policy(request: Request) -> NotificationPolicy | None:
    bot = state(request).bot
    return bot.policy if bot else None


def now(request: Request) -> datetime:
    return state(request).clock.now()


Now = Annotated[datetime, Depends(now)]
Policy = Annotated[NotificationPolicy | None, Depends(policy)]
WriteDb = Annotated[Session, Depends(write_session)]
ReadDb = Annotated[Session, Depends(read_session)]
Caller = Annotated[Principal, Depends(principal)]
