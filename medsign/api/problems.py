"""Errors as ``application/problem+json`` (RFC 9457), each with a stable machine ``code``.

Every error leaving the API goes through here: service errors, domain rule violations,
request validation, unknown routes, and — as a last resort — unexpected exceptions, which get a
500 with no internals in the body (the log has them, under the request's correlation id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from medsign.db.engine import RETRY_AFTER_S, unavailable
from medsign.domain.errors import DomainError
from medsign.errors import ServiceError
from medsign.logs import bind_correlation, correlation_id

log = logging.getLogger("medsign.api")
MEDIA_TYPE = "application/problem+json"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# FastAPI raises 400 only when it cannot parse the body (not UTF-8, nested too deep for json).
_HTTP_CODES = {400: ("malformed_json", "Тело запроса не является корректным JSON в UTF-8."),
               401: ("unauthorized", "Требуется авторизация."),
               403: ("forbidden", "Доступ запрещён."),
               404: ("not_found", "Ресурс не найден."),
               405: ("method_not_allowed", "Метод не поддерживается для этого адреса."),
               406: ("not_acceptable", "Запрошенный формат ответа не поддерживается."),
               413: ("payload_too_large", "Слишком большой запрос."),
               415: ("unsupported_media_type", "Тело запроса должно быть в формате JSON.")}


def problem(status: int, code: str, detail: str, *, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title or detail,
                            "status": status, "detail": detail, "code": code}
    if correlation_id():
        body["request_id"] = correlation_id()
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _service_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ServiceError):
        raise TypeError(f"ServiceError handler got {type(exc).__name__}")
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.code, exc.message, headers=headers, **exc.extra)


def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, DomainError):
        raise TypeError(f"DomainError handler got {type(exc).__name__}")
    errors = [{"field": exc.field, "code": exc.code, "message": exc.message}]
    return problem(422, exc.code, exc.message, errors=errors)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise TypeError(f"RequestValidationError handler got {type(exc).__name__}")
    errors = [_describe(e) for e in exc.errors()]
    if any(e["code"] == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "Тело запроса не является корректным JSON.",
                       errors=errors)
    return problem(422, "validation_failed", "Запрос не прошёл проверку: см. errors.",
                   errors=errors)


def _describe(error: Any) -> dict[str, Any]:
    location = [str(p) for p in error.get("loc", ()) if p != "body"]
    return {"field": ".".join(location) or None, "code": error.get("type", "invalid"),
            "message": str(error.get("msg", ""))}


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise TypeError(f"StarletteHTTPException handler got {type(exc).__name__}")
    code, text = _HTTP_CODES.get(exc.status_code, ("http_error", "Ошибка запроса."))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in (
        "Not Found", "Method Not Allowed", "There was an error parsing the body") else text
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, code, detail, headers=headers or None)


def _allowed_methods(request: Request) -> str:
    """Every method the address supports (RFC 9110 §15.5.6). Starlette names only those of the
    first route it tried, but GET and PUT of ``/organizations/{code}`` are two routes."""
    routes = request.app.router.routes
    return ", ".join(method for method in _METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes))


def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # A uniqueness race between two concurrent requests; the loser may simply retry.
    log.warning("integrity error: %s", type(exc).__name__)
    return problem(409, "concurrent_modification",
                   "Данные одновременно изменил другой запрос; повторите запрос.")


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError):
        return _integrity_error(request, exc)
    if not unavailable(exc):
        return _unexpected(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem(503, "database_unavailable",
                   "База данных временно недоступна; повторите запрос через несколько секунд.",
                   headers={"Retry-After": str(RETRY_AFTER_S)})


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette runs this handler outermost, after the correlation middleware has unwound:
    # bind the request's id again, so that the log line and the answer carry it.
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    with bind_correlation(request_id):
        log.error("unhandled error", exc_info=exc)  # not log.exception: no active `except`
        response = problem(500, "internal_error",
                           "Внутренняя ошибка сервиса. Обратитесь в поддержку, указав request_id.")
    response.headers["X-Request-ID"] = request_id
    return response


def install(app: FastAPI) -> None:
    _document_media_type(app)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)


def _document_media_type(app: FastAPI) -> None:
    """Document error bodies as ``application/problem+json``, the type they are sent with.

    FastAPI files every documented response model under the route's media type (JSON); a
    client generated from the schema would otherwise not recognise our error answers.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()  # FastAPI caches it in app.openapi_schema
        if fresh:
            for operation in (op for item in schema.get("paths", {}).values()
                              for op in item.values()):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[:1] in ("4", "5") and "application/json" in content:
                        content[MEDIA_TYPE] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
