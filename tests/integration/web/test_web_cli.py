"""``medsign user`` create, list, disable, enable and role, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medsign.accounts import passwords
from medsign.clock import FakeClock
from medsign.db.models import AuditRow, StaffUserRow
from medsign.serving import BotSettings
from tests.integration.web import stand


def medsign(db_url: str, cwd: Path, *args: str, stdin: str = "",
            profile: str = "development") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    env.update(MEDSIGN_DATABASE__URL=db_url, MEDSIGN_PROFILE=profile)
    return subprocess.run([sys.executable, "-m", "medsign", *args], input=stdin, text=True,
                          capture_output=True, cwd=cwd, env=env, timeout=120, check=False)


@pytest.fixture
def org(engine: Engine, clock: FakeClock, bot: BotSettings) -> None:
    stand.seed(engine, clock.now(), bot.policy)


def test_create_and_list_users(db_url: str, engine: Engine, tmp_path: Path, org: None) -> None:
    r = medsign(db_url, tmp_path, "user", "create", "--login", "Petrova", "--role", "doctor",
                "--organization", "mo1", "--full-name", "Петрова Анна Сергеевна",
                "--password-stdin", stdin="Очень-Длинный-Пароль-1\n")
    assert r.returncode == 0, r.stderr
    assert "Пользователь «petrova» создан." in r.stdout
    with Session(engine) as db:
        row = db.scalars(select(StaffUserRow).where(StaffUserRow.login == "petrova")).one()
        entry = db.scalars(select(AuditRow).where(AuditRow.action == "staff_user.created",
                                                  AuditRow.subject_id == "petrova")).one()
    assert passwords.verify(row.password_hash, "Очень-Длинный-Пароль-1")
    assert entry.actor == "cli" and entry.organization_code == "mo1"
    listing = medsign(db_url, tmp_path, "user", "list")
    assert "petrova\tdoctor\tmo1\tПетрова Анна Сергеевна" in listing.stdout
    assert "op\toperator\t-\t" in listing.stdout


def test_a_weak_password_or_a_missing_organisation_is_refused(
        db_url: str, tmp_path: Path, org: None) -> None:
    r = medsign(db_url, tmp_path, "user", "create", "--login", "x1", "--role", "operator",
                "--full-name", "Оператор", "--password-stdin", stdin="demo\n")
    assert r.returncode == 1 and "Пароль не подходит" in r.stderr
    r = medsign(db_url, tmp_path, "user", "create", "--login", "x2", "--role", "doctor",
                "--full-name", "Врач", "--password-stdin", stdin="Очень-Длинный-Пароль-1\n")
    assert r.returncode == 1 and "укажите код его МО" in r.stderr


def test_the_demo_profile_accepts_demo(db_url: str, tmp_path: Path, org: None) -> None:
    r = medsign(db_url, tmp_path, "user", "create", "--login", "viewer", "--role", "operator",
                "--full-name", "Демо", "--password-stdin", stdin="demo\n", profile="demo")
    assert r.returncode == 0, r.stderr


def test_without_stdin_the_password_is_asked_twice(db_url: str, tmp_path: Path,
                                                   org: None) -> None:
    r = medsign(db_url, tmp_path, "user", "create", "--login", "x3", "--role", "admin",
                "--full-name", "Админ", stdin="Очень-Длинный-Пароль-1\nОчень-Длинный-Пароль-1\n")
    assert r.returncode == 0, r.stderr
    assert "Пароль ещё раз" in r.stderr  # asked on the terminal (getpass), never echoed
    assert "Очень-Длинный" not in r.stdout + r.stderr


def test_disable_enable_and_change_a_role(db_url: str, engine: Engine, tmp_path: Path,
                                          org: None) -> None:
    r = medsign(db_url, tmp_path, "user", "disable", "--login", "doc1")
    assert r.returncode == 0, r.stderr
    assert "Пользователь «doc1» отключён." in r.stdout
    r = medsign(db_url, tmp_path, "user", "disable", "--login", "adm")
    assert r.returncode == 1 and "последний действующий администратор" in r.stderr
    r = medsign(db_url, tmp_path, "user", "role", "--login", "doc1", "--role", "operator",
                "--organization", "mo1")
    assert r.returncode == 1 and "МО указывается только для врача" in r.stderr
    r = medsign(db_url, tmp_path, "user", "role", "--login", "doc1", "--role", "operator")
    assert r.returncode == 0, r.stderr
    r = medsign(db_url, tmp_path, "user", "enable", "--login", "doc1")
    assert r.returncode == 0, r.stderr
    with Session(engine) as db:
        row = db.scalars(select(StaffUserRow).where(StaffUserRow.login == "doc1")).one()
        actions = list(db.scalars(select(AuditRow.action).where(
            AuditRow.subject_id == "doc1", AuditRow.actor == "cli").order_by(AuditRow.id)))
    assert (row.role, row.organization_id, row.disabled_at) == ("operator", None, None)
    assert actions == ["staff_user.disabled", "staff_user.changed", "staff_user.enabled"]
