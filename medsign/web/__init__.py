"""The server-rendered web: login, the doctor's workstation, the operators' console, the
patient portal and the support form (Jinja2 templates, one CSS file, a little JavaScript).

:func:`mount` adds it to the application made by ``medsign.app.create_app``. Pages::

    /                        start page                 /support        support form (anyone)
    /login, /logout          staff login; logout (all)  /portal/login   patient login, ESIA
    /doctor                  АРМ врача (doctor)         /portal         "Мои документы"
    /doctor/organizations/MO/appointments/ID  appointment, downloads (an id is unique
                             only within its МО)        /portal/max     linking MAX (QR)
    /doctor/organizations/MO/appointments/ID/sign   confirmation page, then POST starts it
    /doctor/appointments/ID  redirects to the doctor's own МО's appointment (old links)
    /console                 overview: states, health, queue (operator, admin)
    /console/requests[/ID]   signing requests, retry, cancel
    /console/notifications   /console/audit   /console/support   /console/users (admin)
    /app/                    the patient's app «К врачу» (PWA): start, /app/region, /app/login;
                             /app/manifest.webmanifest, /app/sw.js, /app/offline,
                             /app/api/health (docs/patient-app.md)
    /app/welcome, /app/unlock, /app/api/device/...   the app's quick login (PIN, biometrics)
    /console/patients        patient accounts (admin)   /portal/password/forgot, /reset/T

Live regions carry ``data-refresh-url``; ``/doctor/board``,
``/doctor/organizations/MO/appointments/ID/live``
and ``/console/overview`` are their fragments (send ``X-Requested-With: medsign-refresh``).
Key controls carry ``data-testid`` (``login-submit``, ``start-signing``, ``confirm-signing``,
``retry``, ``cancel``, ``esia-login``, ``issue-link``, ``support-submit``, ``logout``, …) for
browser tests (``tests/e2e/browser``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from medsign.web import errors, middleware
from medsign.web.app import assets as app_assets
from medsign.web.app import quick_login as app_quick_login
from medsign.web.app import routes as app_routes
from medsign.web.app import shell as app_shell
from medsign.web.config import WebSettings
from medsign.web.console import admin as console_admin
from medsign.web.console import patients as console_patients
from medsign.web.console import routes as console
from medsign.web.console import webhooks as console_webhooks
from medsign.web.doctor import routes as doctor
from medsign.web.login import routes as login
from medsign.web.patient import routes as patient
from medsign.web.portal import esia as portal_esia
from medsign.web.portal import password as portal_password
from medsign.web.portal import routes as portal
from medsign.web.support import routes as support
from medsign.web.templating import STATIC

__all__ = ["WebSettings", "mount"]


def mount(app: FastAPI, settings: WebSettings) -> None:
    app.state.web = settings
    app_shell.version()  # hash the app's cached files now, not under the first request
    for module in (login, doctor, console, console_admin, console_patients, console_webhooks,
                   portal, portal_esia,
                   portal_password, support, app_assets, app_routes, app_quick_login):
        app.include_router(module.router)
    app.include_router(patient.portal_router)
    app.include_router(patient.app_router)
    app.include_router(support.app_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    app.middleware("http")(middleware.web_middleware)
