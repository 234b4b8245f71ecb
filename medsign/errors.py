"""Errors of the application services, each with a stable code and an HTTP status.

    ServiceError
    ├── NotFound          404 — the object does not exist *or* is outside the caller's scope
    ├── Conflict          409 — the request clashes with the object's current state
    ├── Unprocessable     422 — well-formed but semantically wrong input
    ├── Forbidden         403 — authenticated, but not allowed to do this
    ├── TooManyRequests   429 — the same again is welcome later (a rate limit)
    └── ServiceUnavailable 503 — a part this process needs is not configured or reachable

``DomainError`` from ``medsign.domain`` is mapped to ``Unprocessable`` by the API layer.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unprocessable(ServiceError):
    status = 422


class Forbidden(ServiceError):
    status = 403


class TooManyRequests(ServiceError):
    status = 429


class ServiceUnavailable(ServiceError):
    status = 503
