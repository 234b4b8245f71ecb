"""``medsign patient-account …``, run as an administrator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.accounts import passwords, portal
from medsign.clock import FakeClock
from medsign.db.models import AuditRow, PortalAccountRow, WorkItemRow
from medsign.serving import BotSettings
from tests.integration.web import stand

IVANOVA = ("--last-name", "Иванова", "--first-name", "Мария", "--middle-name", "Петровна",
           "--birth-date", "14.03.1985", "--phone", "+79990000001")
MAIL = {"MEDSIGN_EMAIL__SMTP_HOST": "127.0.0.1", "MEDSIGN_EMAIL__SMTP_PORT": "2525",
        "MEDSIGN_EMAIL__STARTTLS": "false", "MEDSIGN_EMAIL__SENDER": "noreply@example.ru"}


def medsign(db_url: str, cwd: Path, *args: str, stdin: str = "",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    clean.update(MEDSIGN_DATABASE__URL=db_url, MEDSIGN_PROFILE="development", **(env or {}))
    return subprocess.run([sys.executable, "-m", "medsign", "patient-account", *args],
                          input=stdin, text=True, capture_output=True, cwd=cwd, env=clean,
                          timeout=120, check=False)


@pytest.fixture
def org(engine: Engine, clock: FakeClock, bot: BotSettings) -> None:
    stand.seed(engine, clock.now(), bot.policy)


def test_create_list_disable_enable_link(db_url: str, engine: Engine, tmp_path: Path,
                                         org: None) -> None:
    r = medsign(db_url, tmp_path, "create", "--login", "Ivanova", "--email",
                "ivanova@example.org", *IVANOVA, "--password-stdin",
                stdin="Очень-Длинный-Пароль-1\n")
    assert r.returncode == 0, r.stderr
    assert "Учётная запись «ivanova» создана; привязано карт: 1." in r.stdout
    with Session(engine) as db:
        row = db.scalars(select(PortalAccountRow).where(PortalAccountRow.login == "ivanova")).one()
        assert passwords.verify(row.password_hash, "Очень-Длинный-Пароль-1")
        assert [p.external_id for p, _ in portal.patients_of(db, row.id)] == ["p1"]
    listing = medsign(db_url, tmp_path, "list", "--search", "ivanova")
    assert listing.stdout.startswith("ivanova\tivanova@example.org\tдействует\t"
                                     "Поликлиника mo1 (p1)\t-\tИванова Мария Петровна")
    assert medsign(db_url, tmp_path, "disable", "ivanova@example.org").returncode == 0
    assert "отключена" in medsign(db_url, tmp_path, "list").stdout
    again = medsign(db_url, tmp_path, "disable", "ivanova")
    assert again.returncode == 1 and "уже отключена" in again.stderr
    assert medsign(db_url, tmp_path, "enable", "ivanova").returncode == 0
    linked = medsign(db_url, tmp_path, "link", "ivanova", *IVANOVA)
    assert linked.returncode == 0 and "карт добавлено 0, отвязано 0" in linked.stdout
    with Session(engine) as db:
        actions = set(db.scalars(select(AuditRow.action).where(AuditRow.actor == "cli")))
    assert {"portal_account.created", "portal_account.disabled", "portal_account.enabled",
            "portal_account.relinked"} <= actions


def test_refusals_exit_with_1_and_say_why(db_url: str, tmp_path: Path, org: None) -> None:
    nobody = medsign(db_url, tmp_path, "create", "--login", "x1", *IVANOVA[:-1], "+79990000999",
                     "--password-stdin", stdin="Очень-Длинный-Пароль-1\n")
    assert nobody.returncode == 1 and "Ни одна карта пациента" in nobody.stderr
    bad_date = medsign(db_url, tmp_path, "create", "--login", "x2", "--last-name", "Иванова",
                       "--first-name", "Мария", "--birth-date", "1985/03/14",
                       "--password-stdin", stdin="Очень-Длинный-Пароль-1\n")
    assert bad_date.returncode == 1 and "ДД.ММ.ГГГГ" in bad_date.stderr
    no_mail = medsign(db_url, tmp_path, "reset", "pat1")
    assert no_mail.returncode == 1 and "Отправка писем не настроена" in no_mail.stderr
    unknown = medsign(db_url, tmp_path, "disable", "nobody")
    assert unknown.returncode == 1 and "не найдена" in unknown.stderr


def test_reset_and_create_without_password_queue_a_link(db_url: str, engine: Engine,
                                                         tmp_path: Path, org: None) -> None:
    r = medsign(db_url, tmp_path, "create", "--login", "ivanova", "--email",
                "ivanova@example.org", *IVANOVA, "--send-link", env=MAIL)
    assert r.returncode == 0, r.stderr
    assert "Ссылка для пароля отправлена на почту." in r.stdout
    assert medsign(db_url, tmp_path, "reset", "pat1", env=MAIL).returncode == 0
    with Session(engine) as db:
        to = [i.data["to"] for i in db.scalars(select(WorkItemRow).where(
            WorkItemRow.kind == "mail.send").order_by(WorkItemRow.id))]
        pat1 = db.scalars(select(PortalAccountRow).where(PortalAccountRow.login == "pat1")).one()
    assert to == ["ivanova@example.org", "pat1@example.org"]
    assert pat1.password_hash is None  # the old password stopped working
