"""The test and demo side door, ``/_emulator/*`` (no auth): look inside, act as the patient,
inject faults, run the autopilot, keep the registry of people, reset.

People (``people.py``): ``GET /_emulator/people`` (the registry, substitutions and the rule for
unknown phones) · ``POST /_emulator/people`` (a person as JSON: register or replace the account
of that phone; 201 new, 200 replaced) · ``DELETE /_emulator/people/{phone}`` ·
``POST /_emulator/answer-as`` ``{"phone"?: "+7…", "person": {…}}`` (with a phone: answer that
phone with this person's profile until cleared; without: the next new transaction, once) ·
``DELETE /_emulator/answer-as`` (clear every substitution).

Patient actions answer JSON (the transaction's view) to programs, and redirect back to the page
when they come from its HTML forms.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from medsign.httpsafe import bodies
from medsign.integrations.goskey.emulator import page
from medsign.integrations.goskey.emulator.core import Emulator, PlatformError
from medsign.integrations.goskey.emulator.faults import parse_autopilot, parse_fault
from medsign.integrations.goskey.emulator.model import InvalidState, Transaction
from medsign.integrations.goskey.emulator.people import Person
from medsign.integrations.goskey.emulator.validation import PHONE, ValidationFailed

ROOT = "/_emulator"
Act = Callable[[Emulator, str], Awaitable[Transaction]]


def view(emulator: Emulator, transaction: Transaction) -> dict[str, Any]:
    patient = emulator.signer_of(transaction)
    body = transaction.to_dict()
    body["documents"] = [{**doc, "number": n, "pdf_url": _pdf_url(transaction.id, n)}
                         for n, doc in enumerate(body["documents"], start=1)]
    key = transaction.idempotency_key
    body.update(patient={"full_name": patient.full_name, "gender": patient.gender,
                         "birth_date": patient.birth_date.isoformat()},
                sends_for_key=emulator.store.sends_per_key.get(key, 0) if key else 0,
                duplicate_uploads=transaction.duplicate_uploads(),
                status_answer=transaction.status_json())
    return body


def routes(emulator: Emulator) -> list[Route]:
    async def listing(request: Request) -> Response:
        phone = request.query_params.get("phone")
        found = [view(emulator, t) for t in _transactions(emulator, phone)]
        return JSONResponse({"transactions": found, **emulator.store.counters()})

    async def one(request: Request) -> Response:
        return JSONResponse(view(emulator, emulator.transaction(request.path_params["tid"])))

    async def document(request: Request) -> Response:
        pdf = emulator.document_pdf(request.path_params["tid"], request.path_params["n"])
        return Response(pdf, media_type="application/pdf")

    async def ca(_: Request) -> Response:
        return Response(emulator.operator.ca_pem, media_type="application/x-pem-file")

    async def home(request: Request) -> Response:
        phone = request.query_params.get("phone") or None
        phones = sorted({t.phone for t in emulator.store.transactions.values()})
        return page.render(_transactions(emulator, phone), phone=phone, phones=phones,
                           notice=request.query_params.get("notice"))

    return [Route(f"{ROOT}/", home, methods=["GET"]),
            Route(f"{ROOT}/ca.pem", ca, methods=["GET"]),
            Route(f"{ROOT}/transactions", listing, methods=["GET"]),
            Route(f"{ROOT}/transactions/{{tid}}", one, methods=["GET"]),
            Route(f"{ROOT}/transactions/{{tid}}/documents/{{n:int}}.pdf", document,
                  methods=["GET"]),
            *_acts(emulator), *_switches(emulator), *_people(emulator)]


def _acts(emulator: Emulator) -> list[Route]:
    async def sign(e: Emulator, tid: str) -> Transaction:
        return await e.sign(tid)

    async def refuse(e: Emulator, tid: str) -> Transaction:
        return e.cancel(tid, "refused")

    async def expire(e: Emulator, tid: str) -> Transaction:
        return e.cancel(tid, "expired")

    async def fail(e: Emulator, tid: str) -> Transaction:
        return e.fail(tid)

    return [Route(f"{ROOT}/transactions/{{tid}}/{name}", _act_endpoint(emulator, act),
                  methods=["POST"])
            for name, act in (("sign", sign), ("refuse", refuse), ("expire", expire),
                              ("error", fail))]


def _act_endpoint(emulator: Emulator, act: Act) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        from_page = request.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded")
        try:
            transaction = await act(emulator, request.path_params["tid"])
        except (InvalidState, PlatformError) as exc:
            if not from_page:
                raise
            return _back(request, exc.message)
        if from_page:
            return _back(request, "Готово")
        return JSONResponse(view(emulator, transaction))
    return endpoint


def _back(request: Request, notice: str) -> Response:
    phone = request.query_params.get("phone", "")
    query = urllib.parse.urlencode({"phone": phone, "notice": notice} if phone else
                                   {"notice": notice})
    return RedirectResponse(f"{ROOT}/?{query}", status_code=303)


def _switches(emulator: Emulator) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            method, fault = parse_fault(await _json(request))
            emulator.faults.set(method, fault)
        elif request.method == "DELETE":
            emulator.faults.clear()
        return JSONResponse({"faults": emulator.faults.describe()})

    async def autopilot(request: Request) -> Response:
        if request.method == "POST":
            emulator.autopilot = parse_autopilot(await _json(request))
        elif request.method == "DELETE":
            emulator.autopilot = None
        pilot = emulator.autopilot
        return JSONResponse({"autopilot": pilot.describe() if pilot else None})

    async def reset(_: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    methods = ["GET", "POST", "DELETE"]
    return [Route(f"{ROOT}/faults", faults, methods=methods),
            Route(f"{ROOT}/autopilot", autopilot, methods=methods),
            Route(f"{ROOT}/reset", reset, methods=["POST"])]


def _people(emulator: Emulator) -> list[Route]:
    registry = emulator.people

    async def people(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(registry.to_json())
        person = Person.from_json(await _json(request))
        new = registry.register(person)
        emulator.people_changed()
        return JSONResponse(person.to_json(), status_code=201 if new else 200)

    async def one(request: Request) -> Response:
        if not registry.remove(request.path_params["phone"]):
            raise PlatformError(404, "person.not.found", "no account with this phone")
        emulator.people_changed()
        return JSONResponse({"removed": request.path_params["phone"]})

    async def answer_as(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            body = body if isinstance(body, dict) else {}
            person, phone = Person.from_json(body.get("person")), body.get("phone")
            if phone is None:
                registry.next_as = person
            elif isinstance(phone, str) and PHONE.fullmatch(phone):
                registry.answer_as[phone] = person
            else:
                raise ValidationFailed("phone: expected +7XXXXXXXXXX")
        else:
            registry.answer_as.clear()
            registry.next_as = None
        emulator.people_changed()
        return JSONResponse(registry.to_json())

    return [Route(f"{ROOT}/people", people, methods=["GET", "POST"]),
            Route(f"{ROOT}/people/{{phone}}", one, methods=["DELETE"]),
            Route(f"{ROOT}/answer-as", answer_as, methods=["POST", "DELETE"])]


def _transactions(emulator: Emulator, phone: str | None) -> list[Transaction]:
    found = [emulator.transaction(t.id) for t in list(emulator.store.transactions.values())
             if phone is None or t.phone == phone]
    return sorted(found, key=lambda t: t.created_at, reverse=True)


def _pdf_url(transaction_id: str, number: int) -> str:
    return f"{ROOT}/transactions/{urllib.parse.quote(transaction_id)}/documents/{number}.pdf"


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return bodies.loads(raw) if raw.strip() else {}
    except bodies.JsonRejected as exc:
        raise ValidationFailed(str(exc)) from None
    except ValueError:
        raise ValidationFailed("body: not valid JSON") from None

