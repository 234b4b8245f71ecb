"""TEMPORARY (branch i14-shell only; the lead replaces this module at merge): ``/app/welcome``
is the quick-login helper's page (PIN, biometrics) and ``/app/home`` the patient helper's
start screen. Until they meet this branch, a login lands on a minimal start screen here."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from medsign.web import deps

router = APIRouter(prefix="/app", dependencies=[deps.Guard], include_in_schema=False)


@router.get("/welcome")
def welcome() -> Response:
    return RedirectResponse("/app/home", status_code=303)

