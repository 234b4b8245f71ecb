"""``medsign demo``: the whole service on one machine, with demo data, in one command.

Everything it keeps is under one folder (``var/demo/`` or ``--state-dir``): its SQLite
database ``demo.db`` (unless ``--database``), the development keys, and the emulators' state.
It migrates the database, loads a demo
medical organisation with a doctor's appointments for tomorrow and issues a fresh API token,
makes the MO's development keys, creates the demo web accounts (staff ``doctor``, ``operator``,
``admin`` and the patient ``patient``, all with the password ``demo`` — allowed in the demo
profile only), then runs in one process until Ctrl+C: the web service, a worker, and the
emulators of the signing platform (whose operator CA the service trusts and which trusts the
MO's development CA), of MAX and of ESIA.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from sqlalchemy.orm import Session

from medsign import bootstrap
from medsign.accounts import api_clients, portal, staff
from medsign.bot import links as max_links
from medsign.clinic import appointments, patients
from medsign.clinic.appointments import AppointmentInput, ConsentInput
from medsign.clinic.patients import PatientInput
from medsign.config import Settings
from medsign.db import migrate
from medsign.demo_people import DEMO_PEOPLE
from medsign.domain.organizations import NO_QUIET_HOURS
from medsign.integrations.esia.emulator import DEFAULT_PERSONS
from medsign.integrations.esia.emulator import EmulatorConfig as EsiaConfig
from medsign.integrations.esia.emulator import create_emulator as create_esia
from medsign.integrations.goskey.emulator import EmulatorConfig as GoskeyConfig
from medsign.integrations.goskey.emulator import create_emulator as create_goskey
from medsign.integrations.max.emulator import EmulatorConfig as MaxConfig
from medsign.integrations.max.emulator import create_emulator as create_max
from medsign.notifications.service import NotificationPolicy
from medsign.records import appointments as appointment_records
from medsign.records import organizations
from medsign.records import patients as patient_records
from medsign.records.organizations import OrganizationInput
from medsign.records.scope import Scope
from medsign.signing.signers import development_keys

DEMO_ORG = "demo-mo"
SCOPE = Scope(actor="demo")
ORGANIZATION = OrganizationInput(
    name="ГБУЗ «Демонстрационная городская поликлиника № 1»",
    address="г. Москва, ул. Примерная, д. 1", ogrn="1027700132195", inn="7707083893",
    kpp="770701001", timezone="Europe/Moscow", quiet_hours=None,
    partner_department_id="00000000-0000-4000-8000-00000000d001",
    template_ids={"medical_intervention": "00000000-0000-4000-8000-0000000000a1",
                  "paid_services_contract": "00000000-0000-4000-8000-0000000000a2",
                  "personal_data": "00000000-0000-4000-8000-0000000000a3"})
# The demo patients as the МИС knows them (from ``demo_people``, which the emulators read too).
PATIENTS = {p.patient_id: (p.last_name, p.first_name, p.middle_name, p.birth_date.isoformat(),
                           p.phone) for p in DEMO_PEOPLE}


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
            patients.upsert(db, scope=SCOPE, organization=DEMO_ORG, external_id=pid,
                            now=now, data=PatientInput(
                organization=None, last_name=last, first_name=first, middle_name=middle,
                birth_date=datetime.fromisoformat(born).date(), phone=phone, max_user_id=None))
        policy = container.notification_policy()
        ids = [_appointment(db, pid, i, now, policy) for i, pid in enumerate(PATIENTS)]
        token = api_clients.create(db, name=f"demo-{now:%Y%m%d-%H%M%S}", organizations=None,
                                   actor="demo", now=now).token
        if container.settings.profile == "demo":  # the public password "demo": demo only
            _web_accounts(db, now)
        db.commit()
    return DemoInfo(token, ids)


def _appointment(db: Session, pid: str, index: int, now: datetime,
                 policy: NotificationPolicy) -> str:
    tomorrow = (now + timedelta(days=1)).astimezone(UTC).replace(hour=7 + index, minute=0,
                                                                 second=0, microsecond=0)
    aid = f"demo-a{index + 1}-{tomorrow:%Y%m%d}"
    org = organizations.get(db, scope=SCOPE, code=DEMO_ORG)
    if appointment_records.find(db, org.id, aid) is None:
        appointments.upsert(db, scope=SCOPE, organization=DEMO_ORG, external_id=aid, now=now,
                            policy=policy,
                            data=AppointmentInput(
            organization=DEMO_ORG, patient=pid, starts_at=tomorrow,
            doctor_name="Петрова Анна Сергеевна", doctor_external_id=DEMO_DOCTOR_ID,
            service_name="Приём врача-терапевта", status="scheduled",
            consents=[ConsentInput("medical_intervention", "electronic"),
                      ConsentInput("personal_data", "electronic")]))
    return aid


DEMO_DOCTOR_ID = "demo-doctor-1"  # the demo МИС's id of Петрова А. С. («Мои пациенты»)
STAFF = (("doctor", "doctor", "Петрова Анна Сергеевна", DEMO_ORG),
         ("operator", "operator", "Соколов Игорь Викторович", None),
         ("admin", "admin", "Администратор стенда", None))
DEMO_PASSWORD = "demo"


def _web_accounts(db: Session, now: datetime) -> None:
    """The demo's web users (created once; a restart keeps them as they are)."""
    for login, role, name, org in STAFF:
        if staff.find(db, login) is None:
            staff.create(db, user=staff.NewUser(login=login, full_name=name, role=role,
                                                organization=org, password=DEMO_PASSWORD),
                         allow_demo_password=True, actor="demo", now=now)
            if role == "doctor":
                staff.set_doctor_id(db, login=login, doctor_id=DEMO_DOCTOR_ID, actor="demo",
                                    now=now)
    if portal.find_by_login(db, "patient") is None:
        portal.create_password_account(
            db, login="patient", email="patient@example.org", password=DEMO_PASSWORD,
            organization=DEMO_ORG, patient_external_id="demo-p1", allow_demo_password=True,
            actor="demo", now=now)


def banner(ports: Ports, info: DemoInfo) -> str:
    base, first = ports.url(ports.api), info.appointments[0]
    auth = f"-H 'Authorization: Bearer {info.token}'"
    return "\n".join([
        "", "medsign: демонстрационный стенд запущен.", "",
        f"  Телефон пациента (эмулятор MAX):  {ports.url(ports.max)}/_emulator/",
        f"  Госключ глазами пациента:         {ports.url(ports.goskey)}/_emulator/",
        f"  Документация API (OpenAPI):       {base}/api/docs",
        f"  Проверка работоспособности:       {base}/healthz   {base}/readyz",
        f"  Метрики Prometheus:               {base}/metrics", "",
        f"  Вход для сотрудников:             {base}/login",
        f"    АРМ врача:       {base}/doctor    (логин doctor, пароль demo)",
        f"    Консоль:         {base}/console   (operator / demo, admin / demo)",
        f"  Портал пациента:                  {base}/portal   (patient / demo,",
        "    или «Войти через портал Госуслуг РФ (ЕСИА)» → «Иванова Мария Петровна»",
        "    в эмуляторе ЕСИА)",
        f"  Приложение «К врачу» (PWA):       {base}/app/   (те же входы; PIN-код после входа)",
        f"  Эмулятор ЕСИА (Госуслуги):        {ports.url(ports.esia)}/_emulator/persons", "",
        "  Путь пациента: на телефоне выберите «Мария Иванова» — бот уже прислал",
        "  приглашение на завтрашний приём. Нажмите «Подписать онлайн», откройте страницу",
        "  Госключа, подпишите документы — в чате MAX придёт сообщение «документы подписаны».", "",
        f"  Токен API демо-МИС:               {info.token}",
        "  Врач отправляет документы на подписание сам (поток без MAX):",
        f"    curl -X POST {auth} "
        f"{base}/api/v1/organizations/{DEMO_ORG}/appointments/{first}/signing-requests",
        "  Транзакции подписания и пакет доказательств:",
        f"    curl {auth} {base}/api/v1/signing-requests",
        f"    curl -OJ {auth} {base}/api/v1/signing-requests/<id>/evidence",
        "", "  Остановка: Ctrl+C", ""])


GOSKEY_TOKEN = "demo-goskey-partner-token"
MAX_TOKEN = "demo-max-bot-token"
BOT_USERNAME = "medsign_demo_bot"
STATE_DIR = Path("var/demo")
# Ctrl+C must end the demo within a few seconds: the worker's steps get one second, then open
# connections (the pages' live refresh, a browser's keep-alive) one more.
GRACEFUL_S = 1
WORKER_GRACE = timedelta(seconds=1)
ESIA_CLIENT_ID = "MEDSIGN_DEMO"
# The demo patients as ESIA knows them, so that «Войти через Госуслуги» finds them.
ESIA_PERSONS = (*DEFAULT_PERSONS, *(p.esia() for p in DEMO_PEOPLE))
# ... and as the signing platform knows them: their Госуслуги profiles fill the documents.
GOSKEY_PEOPLE = tuple(p.goskey() for p in DEMO_PEOPLE)


@dataclass(frozen=True)
class Ports:
    host: str
    api: int
    goskey: int
    max: int
    esia: int = 8300

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def named(self) -> list[tuple[str, int, str]]:
        """(what, port, the option that changes it), for the messages about a taken port."""
        return [("веб-сервис", self.api, "--port"), ("эмулятор Госключа", self.goskey,
                                                      "--goskey-port"),
                ("эмулятор MAX", self.max, "--max-port"), ("эмулятор ЕСИА", self.esia,
                                                           "--esia-port")]


def port_problems(ports: Ports) -> list[str]:
    """Every port the demo needs that is taken or repeated, each with the option to change it
    (checked before anything starts, so that nothing half-starts)."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for what, port, option in ports.named():
        if port in seen:
            problems.append(f"порт {port} указан и для «{seen[port]}», и для «{what}»: "
                            f"задайте другой через {option}")
            continue
        seen[port] = what
        with socket.socket(socket.AF_INET6 if ":" in ports.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((ports.host, port))
            except OSError as exc:
                reason = "занят" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
                problems.append(f"порт {port} ({what}) {reason}: задайте другой через "
                                f"{option} {port + 1000 if port + 1000 <= 65535 else port - 1000}")
    return problems


@dataclass(frozen=True)
class State:
    """Where the demo keeps everything: one folder."""

    folder: Path

    @property
    def database(self) -> str:
        return f"sqlite:///{self.folder / 'demo.db'}"

    @property
    def keys(self) -> Path:
        return self.folder / "keys"

    @property
    def goskey(self) -> Path:
        return self.folder / "goskey"

    @property
    def max(self) -> Path:
        return self.folder / "max"

    @property
    def esia(self) -> Path:
        return self.folder / "esia"

    @property
    def crl(self) -> Path:
        return self.folder / "crl"


def demo_settings(settings: Settings, *, database: str, ports: Ports) -> Settings:
    """The demo profile: its own database, the local emulators, short intervals, no quiet
    hours and a 36-hour notification offset, so tomorrow's visits are announced at once."""
    def section(name: str, **values: Any) -> Any:
        return getattr(settings, name).model_copy(update=values)
    return settings.model_copy(update={
        "profile": "demo",
        "database": section("database", url=database),
        "server": section("server", public_url=ports.url(ports.api)),
        "goskey": section("goskey", base_url=f"{ports.url(ports.goskey)}/gov/pep",
                          token=SecretStr(GOSKEY_TOKEN)),
        "max": section("max", base_url=ports.url(ports.max), token=SecretStr(MAX_TOKEN),
                       updates="polling", bot_deep_link_base=f"https://max.ru/{BOT_USERNAME}"),
        "notifications": section("notifications", offset=timedelta(hours=36),
                                 default_quiet_hours=NO_QUIET_HOURS,
                                 # the demo's visits are tomorrow morning: invite at once
                                 min_lead=timedelta(hours=1)),
        "signing": section("signing", poll_interval=timedelta(seconds=3),
                           poll_interval_max=timedelta(seconds=10)),
        "runner": section("runner", poll_interval=timedelta(milliseconds=500),
                          shutdown_grace=WORKER_GRACE),
        "esia": section("esia", base_url=ports.url(ports.esia), client_id=ESIA_CLIENT_ID,
                        redirect_url=esia_redirect(ports)),
    })


def esia_redirect(ports: Ports) -> str:
    return f"{ports.url(ports.api)}/portal/esia/callback"


def _server(app: Any, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                         access_log=False,
                                         timeout_graceful_shutdown=GRACEFUL_S))


def container_for(settings: Settings, state: State) -> bootstrap.Container:
    """The demo's container, with every folder of its own under ``state``."""
    container = bootstrap.build(settings)
    container.keys_dir = state.keys
    container.crl_cache = state.crl
    container.operator_ca = state.goskey / "operator-ca.pem"
    return container


def emulators(container: bootstrap.Container, ports: Ports,
              state: State) -> tuple[Any, Any, Any]:
    """The signing platform (trusting the demo MO's development CA), MAX and ESIA."""
    org = ORGANIZATION
    dev_ca, _, _ = development_keys(container.key_store(), code=DEMO_ORG, name=org.name,
                                    ogrn=org.ogrn, inn=org.inn)
    goskey = create_goskey(GoskeyConfig(token=GOSKEY_TOKEN, state_dir=state.goskey,
                                        mo_trust=(dev_ca,), people=GOSKEY_PEOPLE,
                                        unknown_phones="refuse"))
    messenger = create_max(MaxConfig(token=MAX_TOKEN, state_dir=state.max,
                                     bot_username=BOT_USERNAME, insecure_webhooks=True))
    esia = create_esia(EsiaConfig(client_id=ESIA_CLIENT_ID, redirect_urls=(esia_redirect(ports),),
                                  persons=ESIA_PERSONS, state_dir=state.esia))
    return goskey, messenger, esia


async def link_demo_patients(container: bootstrap.Container, max_url: str) -> None:
    """Give the first two demo patients a MAX account in the emulator and link it the way a
    patient does: by opening the portal's one-time deep link (``bot_started``)."""
    async with httpx.AsyncClient(base_url=max_url, timeout=10) as emulator:
        for pid in list(PATIENTS)[:2]:
            token = _link_token_if_unlinked(container, pid)
            if token is None:
                continue
            last, first, middle, _born, phone = PATIENTS[pid]
            user = (await emulator.post("/_emulator/users", json={
                "name": f"{first} {last}", "phone": phone})).json()
            await emulator.post(f"/_emulator/users/{user['user_id']}/start",
                                json={"payload": token})


def _link_token_if_unlinked(container: bootstrap.Container, pid: str) -> str | None:
    with Session(container.engine) as db:
        org = organizations.get(db, scope=SCOPE, code=DEMO_ORG)
        patient = patient_records.find(db, org.id, pid)
        if patient is None or patient.max_user_id is not None:
            return None
        link = max_links.issue(db, patient=patient, link_base=f"https://max.ru/{BOT_USERNAME}",
                               ttl=timedelta(hours=1), actor="demo",
                               organization_code=DEMO_ORG, now=container.clock.now())
        db.commit()
    return link.token


async def run(container: bootstrap.Container, *, ports: Ports, state: State,
              announce: Any) -> None:
    migrate.upgrade(container.engine)
    info = seed(container)
    goskey, messenger, esia = emulators(container, ports, state)
    container.ensure_background_work()
    servers = [_server(container.app(), ports.host, ports.api),
               _server(goskey, ports.host, ports.goskey),
               _server(messenger, ports.host, ports.max),
               _server(esia, ports.host, ports.esia)]
    serving = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers) and not any(t.done() for t in serving):
        await asyncio.sleep(0.05)
    stop = asyncio.Event()
    worker = asyncio.create_task(container.worker().run(stop))  # once the emulators listen
    if all(s.started for s in servers):
        await link_demo_patients(container, ports.url(ports.max))
        announce(banner(ports, info))
    # Ctrl+C (or SIGTERM) is the demo's to handle, not each server's: taken here, after the
    # servers installed theirs, it stops everything in the order below.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await asyncio.wait([*serving, asyncio.create_task(stopping.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    # The worker first: its bot poller holds a long poll open on the MAX emulator, which ends
    # when the worker hangs up; the servers then have no connection left to wait for.
    stop.set()
    await worker
    await container.close_clients()
    for s in servers:
        s.should_exit = True
    await asyncio.gather(*serving, return_exceptions=True)
