"""``medsign demo``: the whole service on one machine, with demo data, in one command.

It uses its own SQLite database (``var/demo.db`` by default), migrates it, loads a demo
medical organisation with a doctor's appointments for tomorrow and issues a fresh API token,
makes the MO's development keys, then runs in one process until Ctrl+C: the web service, a
worker, and the emulator of the signing platform (whose operator CA the service trusts and
which trusts the MO's development CA).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from sqlalchemy.orm import Session

from medsign import bootstrap
from medsign.config import Settings
from medsign.db import migrate
from medsign.flows.signers import development_keys
from medsign.integrations.goskey.emulator import EmulatorConfig, create_emulator
from medsign.services import api_clients, appointments, organizations, patients
from medsign.services.appointments import AppointmentInput, ConsentInput
from medsign.services.organizations import OrganizationInput
from medsign.services.patients import PatientInput
from medsign.services.scope import Scope

DEMO_ORG = "demo-mo"
SCOPE = Scope(actor="demo")
ORGANIZATION = OrganizationInput(
    name="ГБУЗ «Демонстрационная городская поликлиника № 1»",
    address="г. Москва, ул. Примерная, д. 1", ogrn="1027700132195", inn="7707083893",
    kpp="770701001", timezone="Europe/Moscow", quiet_hours="21:00-09:00",
    partner_department_id="00000000-0000-4000-8000-00000000d001",
    template_ids={"medical_intervention": "00000000-0000-4000-8000-0000000000a1",
                  "paid_services_contract": "00000000-0000-4000-8000-0000000000a2",
                  "personal_data": "00000000-0000-4000-8000-0000000000a3"})
PATIENTS = {
    "demo-p1": ("Иванова", "Мария", "Петровна", "1985-03-14", "+79990000001"),
    "demo-p2": ("Смирнов", "Алексей", "Игоревич", "1972-11-02", "+79990000002"),
    "demo-p3": ("Кузнецова", "Ольга", None, "1990-07-25", "+79990000003"),
}


@dataclass(frozen=True)
class DemoInfo:
    token: str
    appointments: list[str]


def seed(container: bootstrap.Container) -> DemoInfo:
    """Load (or refresh) the demo data; appointments are always for tomorrow."""
    now = container.clock.now()
    with Session(container.engine, expire_on_commit=False) as db:
        organizations.upsert(db, scope=SCOPE, code=DEMO_ORG, data=ORGANIZATION, now=now)
        for pid, (last, first, middle, born, phone) in PATIENTS.items():
            patients.upsert(db, scope=SCOPE, external_id=pid, now=now, data=PatientInput(
                organization=DEMO_ORG, last_name=last, first_name=first, middle_name=middle,
                birth_date=datetime.fromisoformat(born).date(), phone=phone, max_user_id=None))
        ids = [_appointment(db, pid, i, now) for i, pid in enumerate(PATIENTS)]
        token = api_clients.create(db, name=f"demo-{now:%Y%m%d-%H%M%S}", organizations=None,
                                   actor="demo", now=now).token
        db.commit()
    return DemoInfo(token, ids)


def _appointment(db: Session, pid: str, index: int, now: datetime) -> str:
    tomorrow = (now + timedelta(days=1)).astimezone(UTC).replace(hour=7 + index, minute=0,
                                                                 second=0, microsecond=0)
    aid = f"demo-a{index + 1}-{tomorrow:%Y%m%d}"
    if appointments.find(db, aid) is None:
        appointments.upsert(db, scope=SCOPE, external_id=aid, now=now, data=AppointmentInput(
            organization=DEMO_ORG, patient=pid, starts_at=tomorrow,
            doctor_name="Петрова Анна Сергеевна", service_name="Приём врача-терапевта",
            status="scheduled",
            consents=[ConsentInput("medical_intervention", "electronic"),
                      ConsentInput("personal_data", "electronic")]))
    return aid


def banner(base: str, goskey: str, info: DemoInfo) -> str:
    first = info.appointments[0]
    return "\n".join([
        "", "medsign: демонстрационный стенд запущен.", "",
        f"  Документация API (OpenAPI):  {base}/api/docs",
        f"  Госключ глазами пациента:    {goskey}/_emulator/  (эмулятор платформы подписания)",
        f"  Проверка работоспособности:  {base}/healthz   {base}/readyz",
        f"  Метрики Prometheus:          {base}/metrics", "",
        f"  Токен API демо-МИС:          {info.token}", "",
        "  Отправить документы записи на подписание:",
        f"    curl -X POST -H 'Authorization: Bearer {info.token}' "
        f"{base}/api/v1/appointments/{first}/signing-requests",
        "  Затем откройте страницу эмулятора Госключа и подпишите документы как пациент;",
        "  через несколько секунд транзакция станет «подписано». Посмотреть транзакции:",
        f"    curl -H 'Authorization: Bearer {info.token}' {base}/api/v1/signing-requests",
        "  Пакет доказательств завершённой транзакции:",
        f"    curl -OJ -H 'Authorization: Bearer {info.token}' "
        f"{base}/api/v1/signing-requests/<id>/evidence",
        "", "  Остановка: Ctrl+C", ""])


GOSKEY_TOKEN = "demo-goskey-partner-token"
GOSKEY_STATE = Path("var/demo-goskey")


def demo_settings(settings: Settings, *, database: str, host: str, goskey_port: int) -> Settings:
    """The demo profile: its own database, the local emulator, short polling intervals."""
    def section(name: str, **values: Any) -> Any:
        return getattr(settings, name).model_copy(update=values)
    return settings.model_copy(update={
        "profile": "demo",
        "database": section("database", url=database),
        "goskey": section("goskey", base_url=f"http://{host}:{goskey_port}/gov/pep",
                          token=SecretStr(GOSKEY_TOKEN)),
        "signing": section("signing", poll_interval=timedelta(seconds=3),
                           poll_interval_max=timedelta(seconds=10)),
        "runner": section("runner", poll_interval=timedelta(milliseconds=500)),
    })


def _server(app: Any, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                         access_log=False))


async def run(container: bootstrap.Container, *, host: str, port: int, goskey_port: int,
              announce: Any) -> None:
    migrate.upgrade(container.engine)
    info = seed(container)
    org = ORGANIZATION
    dev_ca, _, _ = development_keys(container.keys_dir, code=DEMO_ORG, name=org.name,
                                    ogrn=org.ogrn, inn=org.inn)
    emulator = create_emulator(EmulatorConfig(token=GOSKEY_TOKEN, state_dir=GOSKEY_STATE,
                                              mo_trust=(dev_ca,)))
    container.operator_ca = GOSKEY_STATE / "operator-ca.pem"
    servers = [_server(container.app(), host, port), _server(emulator, host, goskey_port)]
    stop = asyncio.Event()
    worker = asyncio.create_task(container.worker().run(stop))
    serving = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers) and not any(t.done() for t in serving):
        await asyncio.sleep(0.05)
    if all(s.started for s in servers):
        announce(banner(f"http://{host}:{port}", f"http://{host}:{goskey_port}", info))
    await asyncio.wait(serving, return_when=asyncio.FIRST_COMPLETED)
    for s in servers:
        s.should_exit = True
    await asyncio.gather(*serving, return_exceptions=True)
    stop.set()
    await worker
