"""Errors on web pages: an HTML page in Russian, never a traceback or an internal id.

The API's handlers (``medsign.api.problems``) stay in charge of the API: each handler is
wrapped so that a request for a page gets a page and every other request what it got before.
An unexpected error shows the fault message with the request id as the "номер обращения"
(the log lines carry the same id) and offers the support form.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from medsign.db.engine import RETRY_AFTER_S, unavailable
from medsign.domain.errors import DomainError
from medsign.errors import ServiceError
from medsign.logs import bind_correlation
from medsign.web.deps import AccessDenied, CsrfRejected, LoginRequired, WebError
from medsign.web.templating import render

log = logging.getLogger("medsign.web")
PAGE_PREFIXES = ("/login", "/logout", "/doctor", "/console", "/portal", "/support", "/static/",
                 "/app/")
NOT_PAGES = ("/api/", "/max/", "/healthz", "/readyz", "/metrics")
APP_API = "/app/api/"  # the app's JSON endpoints: errors as problem+json, never a page
Handler = Callable[[Request, Exception], Any]


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(APP_API):  # under /app/, yet JSON
        return False
    if path == "/" or path.startswith(PAGE_PREFIXES):
        return True
    if path.startswith(NOT_PAGES):
        return False
    return "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    for exc_class in (ServiceError, DomainError, RequestValidationError,
                      StarletteHTTPException, DBAPIError, Exception):
        original = app.exception_handlers.get(exc_class)
        app.add_exception_handler(exc_class, _either(original, _page_for))
    app.add_exception_handler(WebError, _web_error)


def _either(original: Handler | None, page: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Any:
        if wants_html(request) or original is None:
            return page(request, exc)
        result = original(request, exc)
        return await result if inspect.isawaitable(result) else result
    return handle


def error_page(request: Request, status: int, title: str, text: str, *,
               kind: str = "error") -> Response:
    try:
        return render(request, "error.html", status=status, title=title, message_text=text,
                      message_kind=kind)
    except Exception:  # the page itself broke: a plain one, still without internals
        log.error("error page failed", exc_info=True)
        return HTMLResponse(f"<!doctype html><html lang=ru><title>{status}</title>"
                            f"<main><h1>Ошибка {status}</h1></main></html>", status_code=status)


def _page_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ServiceError):
        return _service_error(request, exc)
    if isinstance(exc, DomainError):
        return error_page(request, 422, "Неверные данные", exc.message)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 422, "Неверные данные",
                          "Форма заполнена не полностью или неверно. Вернитесь и проверьте поля.")
    if isinstance(exc, StarletteHTTPException):
        return _http_error(request, exc)
    if isinstance(exc, IntegrityError):
        return error_page(request, 409, "Данные изменились",
                          "Данные одновременно изменил другой пользователь. Повторите действие.")
    if isinstance(exc, DBAPIError) and unavailable(exc):
        response = fault(request, exc, status=503, title="Сервис временно недоступен",
                         text="Сервис ненадолго недоступен: данные сейчас не сохранить и не "
                              "прочитать. Повторите действие через минуту; если это "
                              "повторяется, сообщите в службу поддержки.")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    return fault(request, exc)


def _service_error(request: Request, exc: ServiceError) -> Response:
    if exc.status == 404:
        return not_found(request)
    titles = {403: "Доступ запрещён", 409: "Действие невозможно", 422: "Неверные данные",
              503: "Сервис временно недоступен"}
    return error_page(request, exc.status, titles.get(exc.status, "Ошибка"), exc.message)


def not_found(request: Request) -> Response:
    return error_page(request, 404, "Страница не найдена",
                      "Такой страницы нет, или у вас нет к ней доступа. Проверьте адрес.")


def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        return not_found(request)
    if exc.status_code == 405:
        return error_page(request, 405, "Действие недоступно",
                          "Эта страница не поддерживает такое действие.")
    return error_page(request, exc.status_code, "Ошибка запроса",
                      "Запрос не может быть выполнен.")


def fault(request: Request, exc: Exception, *, status: int = 500,
          title: str = "Неисправность",
          text: str = "Произошла внутренняя ошибка. Мы уже записали её; если она мешает "
                      "работе, опишите проблему в службу поддержки.") -> Response:
    """A page for something that broke: the reference number (the request id, in the log with
    the error) and the way to the support form. 500, or 503 when the database is away."""
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    with bind_correlation(request_id):
        if status == 500:
            log.error("unhandled error on a page", exc_info=exc)
        else:
            log.warning("database unavailable on a page: %s", type(exc).__name__)
    request.state.request_id = request_id
    response = error_page(request, status, title, text, kind="fault")
    response.headers["X-Request-ID"] = request_id
    return response


async def _web_error(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(APP_API):
        return _app_api_error(exc)
    if isinstance(exc, LoginRequired):
        return _login_required(request, exc)
    if isinstance(exc, CsrfRejected):
        return error_page(request, 403, "Форма устарела",
                          "Не удалось подтвердить, что форму отправили вы (защита от подделки "
                          "запросов). Обновите страницу и повторите действие.")
    if isinstance(exc, AccessDenied):
        return error_page(request, 403, "Доступ запрещён",
                          "У вашей учётной записи нет доступа к этой странице.")
    return fault(request, exc)


def _app_api_error(exc: Exception) -> Response:
    """The app's pages call these with ``fetch``: JSON they can show, in Russian."""
    if isinstance(exc, LoginRequired):
        status, code, text = 401, "login_required", "Сеанс завершён. Войдите снова."
    elif isinstance(exc, CsrfRejected):
        status, code, text = 403, "csrf", "Форма устарела: обновите страницу и повторите."
    elif isinstance(exc, AccessDenied):
        status, code, text = 403, "forbidden", "Нет доступа."
    else:
        return fault_json(exc)
    return JSONResponse({"code": code, "detail": text, "status": status}, status_code=status,
                        media_type="application/problem+json")


def fault_json(exc: Exception) -> Response:
    log.error("unhandled error in the app's API", exc_info=exc)
    return JSONResponse({"code": "fault", "status": 500,
                         "detail": "Произошла внутренняя ошибка. Попробуйте позже."},
                        status_code=500, media_type="application/problem+json")


def _login_required(request: Request, exc: LoginRequired) -> Response:
    if request.headers.get("X-Requested-With") == "medsign-refresh":
        return HTMLResponse("<p>Сеанс завершён. Обновите страницу и войдите снова.</p>",
                            status_code=401)
    target = exc.login_path
    if request.method == "GET":
        target += "?" + urlencode({"next": request.url.path + (
            "?" + request.url.query if request.url.query else "")})
    return RedirectResponse(target, status_code=303)
