"""Log lines: one JSON object each (or readable text), with the correlation id of the request
or job step, and no personal data or secrets in the message, the extras or a traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from medsign.app import create_app
from medsign.logs import (
    JsonFormatter,
    TextFormatter,
    bind_correlation,
    configure_logging,
    correlation_id,
    mask,
)
from tests import factories as f

PHONES = ["+7 (999) 123-45-67", "+79991234567", "89991234567", "8 999 123 45 67",
          "8-999-123-45-67", "+7 999 123-45-67", "+7(999)123-45-67", "8 (999) 123-4567",
          "+7 999 1234567", "7 999 1234567", "+7 999 12 34 567", "+7 (999)-123-45-67",
          "+7\u00a0999\u00a0123\u201145\u201167"]  # no-break spaces, non-breaking hyphens
PASSPORTS = ["45 06 123456", "4506123456", "4506 123456", "45 06 № 123456", "4506 №123456",
             "4506 номер 123456"]
TOKENS = ["Bearer ms_Qx8vX1bYc9dZ0eF1gH2iJ3kL4mN5oP6q", "ms_Qx8vX1bYc9dZ0eF1gH2iJ3kL4mN5oP6q",
          "Authorization: Bearer abcDEF123456ghi", "token=abcDEF123456ghi",
          '{"token": "abcDEF123456ghi"}', "'Authorization': 'partner-secret-42'"]
SECRET_PARTS = ["Qx8vX1bYc9dZ0eF1gH2iJ3kL4mN5oP6q", "abcDEF123456ghi", "partner-secret-42"]
NAMES = ["Иванов Иван Иванович", "Петрова Анна Сергеевна", "Ёлкина Алёна Петровна",
         "Иван Иванович Иванов", "ИВАНОВ ИВАН ИВАНОВИЧ", "Салтыков-Щедрин Михаил Евграфович",
         "Мамедов Эльдар Рашидович оглы", "Кузнецова Мария Ильинична", "Иванов И. И.",
         "Иванов И.И.", "И. И. Иванов"]
NAME_PARTS = ["Иван", "Анна", "Алёна", "ИВАН", "Салтыков", "Щедрин", "Эльдар", "Мария",
              "Иванов", "Петрова", "Кузнецова"]
# Ordinary text that must survive: masking everything would make the log useless.
KEPT = ["ОГРН 1027700132195", "запись a1 перенесена на 2026-11-27 10:30:00+03:00",
        "транзакция 7f1c0d3e-0000-4000-8000-000000000001", "max_user_id=10000000001",
        "Запись на приём отменена клиникой.", "Приём врача-терапевта в 8 часов",
        "Медицинская организация «mo1» не найдена."]


def record(msg: str = "event", *args: Any, exc: BaseException | None = None,
           **extra: Any) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    rec = logging.LogRecord("medsign.test", logging.INFO, __file__, 1, msg, args, exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def as_json(rec: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def raised(message: str) -> BaseException:
    try:
        try:
            raise KeyError("inner " + message)
        except KeyError as inner:
            raise RuntimeError(message) from inner
    except RuntimeError as exc:
        return exc


# -- the shape of a line ------------------------------------------------------------------

def test_a_line_is_one_json_object_with_the_bound_correlation_id() -> None:
    with bind_correlation("req-1"):
        entry = as_json(record("создано %s", "a1\nвторая строка", kind="signing"))
    assert entry["correlation_id"] == "req-1" and entry["level"] == "info"
    assert entry["msg"] == "создано a1\nвторая строка" and entry["kind"] == "signing"
    assert entry["logger"] == "medsign.test" and entry["ts"].endswith("+00:00")
    assert as_json(record())["correlation_id"] is None


def test_correlation_ids_nest_and_are_restored() -> None:
    with bind_correlation("request"):
        with bind_correlation("step"):
            assert correlation_id() == "step"
        assert correlation_id() == "request"
    assert correlation_id() is None


def test_an_extra_cannot_replace_the_standard_fields() -> None:
    with bind_correlation("real"):
        entry = as_json(record("msg", correlation_id="spoofed", level="debug", logger="x"))
    assert (entry["correlation_id"], entry["level"], entry["logger"]) == (
        "real", "info", "medsign.test")


def test_uvicorns_coloured_copy_of_the_message_is_dropped() -> None:
    entry = as_json(record("Started server process [%d]", 42,
                           color_message="Started server process [\x1b[36m%d\x1b[0m]"))
    assert entry["msg"] == "Started server process [42]" and "color_message" not in entry


def test_the_text_format_carries_the_correlation_id_and_extras() -> None:
    with bind_correlation("req-7"):
        line = TextFormatter().format(record("готово", step="send"))
    assert "INFO" in line and "[req-7] medsign.test: готово step=send" in line
    assert "[-]" in TextFormatter().format(record("готово"))


def test_configure_logging_writes_json_lines_to_stderr(capsys: pytest.CaptureFixture[str],
                                                       restore_logging: None) -> None:
    configure_logging("INFO", "json")
    with bind_correlation("job-42"):
        logging.getLogger("medsign.runner").info("шаг %s для +7 999 123-45-67", "send")
        logging.getLogger("medsign.runner").debug("not at INFO")
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["correlation_id"] == "job-42" and entry["msg"] == "шаг send для +7******67"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# -- masking ------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", PHONES)
def test_phones_are_masked_in_message_extras_and_tracebacks(phone: str) -> None:
    text = f"Пациенту {phone}, отправлено"
    entry = as_json(record("%s", text, note=text, nested={"items": [text]},
                           exc=raised(text)))
    for part in (entry["msg"], entry["note"], entry["nested"]["items"][0], entry["exc"]):
        assert "+7******67" in part and "123" not in part and "999" not in part, part
    assert entry["msg"] == "Пациенту +7******67, отправлено"
    assert "123" not in TextFormatter().format(record(text, exc=raised(text)))


@pytest.mark.parametrize("passport", PASSPORTS)
def test_passport_numbers_are_masked(passport: str) -> None:
    entry = as_json(record(f"паспорт серия {passport} выдан", exc=raised(passport)))
    assert "123456" not in entry["msg"] and "** ** ******" in entry["msg"]
    assert "123456" not in entry["exc"]


@pytest.mark.parametrize("snils", ["112-233-445 95", "112-233-445-95", "112-233-445\u00a095"])
def test_snils_numbers_are_masked(snils: str) -> None:
    entry = as_json(record(f"СНИЛС пациента {snils} сохранён", exc=raised(snils),
                           details={"snils": snils}, value=snils))
    for part in (entry["msg"], entry["exc"], entry["value"]):
        assert "445" not in part and "233" not in part, part
    assert "***-***-*** **" in entry["msg"] and entry["details"]["snils"] == "***"


@pytest.mark.parametrize("token", TOKENS)
def test_tokens_are_masked(token: str) -> None:
    entry = as_json(record(f"запрос с {token}", header=token, exc=raised(token)))
    for part in (entry["msg"], entry["header"], entry["exc"]):
        assert not any(secret in part for secret in SECRET_PARTS), part
        assert "***" in part


@pytest.mark.parametrize("name", NAMES)
def test_full_russian_names_are_masked(name: str) -> None:
    entry = as_json(record(f"Пациент {name} подписал", who=name, exc=raised(name)))
    for part in (entry["msg"], entry["who"], entry["exc"]):
        assert not any(p in part for p in NAME_PARTS), part
    assert entry["msg"].endswith("*** подписал")  # "Пациент" itself may go with the name


@pytest.mark.parametrize("key", ["phone", "patient_phone", "token", "api_token", "last_name",
                                 "first_name", "middle_name", "passport", "snils", "password",
                                 "authorization", "webhook_secret"])
def test_sensitive_extra_fields_are_hidden_whatever_their_value(key: str) -> None:
    entry = as_json(record("event", **{key: "harmless-looking", "ok": "kept"}))
    assert entry[key] == "***" and entry["ok"] == "kept"
    assert f"{key}=***" in TextFormatter().format(record("event", **{key: "harmless"}))


def test_sensitive_fields_are_hidden_inside_nested_extras() -> None:
    entry = as_json(record("event", patient={"id": "p1", "phone": "+79991234567",
                                             "last_name": "Иванов",
                                             "contacts": [{"token": "x"}, "8 999 123 45 67"]}))
    assert entry["patient"] == {"id": "p1", "phone": "***", "last_name": "***",
                                "contacts": [{"token": "***"}, "+7******67"]}


@dataclass
class PatientDto:
    id: str
    phone: str
    last_name: str


def test_extras_that_are_not_strings_are_masked_too() -> None:
    """Objects, bytes and exceptions reach the line through str(): mask that text as well."""
    entry = as_json(record("event", patient=PatientDto("p1", "+79991234567", "Иванов"),
                           body=b'{"phone": "+7 999 123-45-67"}',
                           error=ValueError("bad +7 999 123-45-67, Иванов Иван Иванович"),
                           numbers={"+79991234567"}, count=3, ratio=0.5, flag=True, none=None))
    line = json.dumps(entry, ensure_ascii=False)
    assert "1234567" not in line and "123-45-67" not in line and "Иван Иванович" not in line
    assert (entry["count"], entry["ratio"], entry["flag"], entry["none"]) == (3, 0.5, True, None)
    text = TextFormatter().format(record("event", body=b"+79991234567",
                                         patient=PatientDto("p1", "+79991234567", "Иванов")))
    assert "1234567" not in text


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text) == text
    assert as_json(record(text, detail=text))["detail"] == text


# -- an API request, end to end -----------------------------------------------------------

@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON lines as the service writes them, formatted while the request's context is bound."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_an_api_request_logs_its_request_id_and_no_phone(engine: Engine,
                                                          log_lines: io.StringIO) -> None:
    app = create_app(engine)
    body = f.patient(phone="+7 (999) 123-45-67", birth_date="not a date",
                     last_name="Иванов Иван Иванович")
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {f.token(engine)}"
        assert client.put("/api/v1/organizations/mo1", json=f.organization()).status_code == 201
        # A МИС that uses the phone as the patient's id puts it into the logged path, too.
        r = client.put("/api/v1/organizations/mo1/patients/79991234567", json=body,
                       headers={"X-Request-ID": "req-phone-1"})
    assert r.status_code == 422 and r.headers["x-request-id"] == "req-phone-1"
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    mine = [x for x in lines if x["correlation_id"] == "req-phone-1"]
    assert mine and any(x["msg"].startswith("PUT /api/v1/organizations/mo1/patients/")
                        and x["msg"].endswith("-> 422") for x in mine), lines
    text = log_lines.getvalue()
    assert "1234567" not in text and "123-45-67" not in text and "Иванович" not in text

