"""The real ``medsign`` command, run as a subprocess in a scratch working directory.

Each test starts ``python -m medsign …`` exactly as an operator would, with a clean
environment (no inherited ``MEDSIGN_*`` settings) and the database chosen through
``MEDSIGN_DATABASE__URL``. Long-running commands (``serve``, ``worker``) are polled with
timeouts and stopped with SIGTERM.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from medsign.app import create_app
from medsign.cli import main
from medsign.db.engine import make_engine
from medsign.db.migrate import head_revision
from medsign.signing.signers import development_keys
from tests.dbs import scratch_pg_database
from tests.identities import Identities

TIMEOUT = 60.0  # generous: a loaded CI machine starts Python slowly


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    paths = [list(prefix)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append([*prefix, name])
    return paths


SUBCOMMANDS = _command_paths(main)
# Click's own English, which must not leak into the Russian help.
CLICK_ENGLISH = re.compile(r"\b(Usage|Options|Commands|Arguments|Show this message|default|"
                           r"required|TEXT|INTEGER|RANGE|FILE|PATH|OPTIONS|COMMAND|ARGS|CODE|"
                           r"NAME|TARGET|SOURCE|BOOLEAN|FLOAT)\b")


class Cli:
    """Runs ``python -m medsign`` in one working directory with one database."""

    def __init__(self, cwd: Path, database_url: str | None) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("MEDSIGN_") or k.startswith("MEDSIGN_TEST_")}
        if database_url is not None:
            self.env["MEDSIGN_DATABASE__URL"] = database_url

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "medsign", *args]

    def run(self, *args: str, input: str | None = None,  # noqa: A002 - subprocess's name
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=self.cwd, env={**self.env, **(env or {})},
                              input=input, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def start(self, *args: str, name: str) -> Background:
        out, err = self.cwd / f"{name}.out", self.cwd / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(self.argv(*args), cwd=self.cwd, env=self.env,
                                       stdout=stdout, stderr=stderr)
        return Background(process, out, err)


class Background:
    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.process, self.out, self.err = process, out, err

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit code (SIGKILL and a failure if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"did not stop on SIGTERM within {TIMEOUT} s:\n{self.stderr()}")


def wait_for(condition: Callable[[], Any], what: str, process: Background) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if process.process.poll() is not None:
            pytest.fail(f"exited with {process.process.returncode} before {what}:\n"
                        f"{process.stderr()}")
        time.sleep(0.05)
    pytest.fail(f"no {what} within {TIMEOUT} s:\n{process.stderr()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """No database configured: the embedded default (./var/medsign.db) would apply."""
    return Cli(tmp_path, None)


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty SQLite file, or the run's PostgreSQL database (migrated, tables emptied)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'medsign.db'}"
    url: str = request.getfixturevalue("db_url")
    return url


@pytest.fixture
def db_cli(tmp_path: Path, fresh_url: str) -> Cli:
    return Cli(tmp_path, fresh_url)


@pytest.fixture
def token(db_cli: Cli) -> str:
    db_cli.ok("migrate")
    return db_cli.ok("api-token", "create", "--name", "mis").stdout.strip()


@pytest.fixture
def api(fresh_url: str) -> Iterator[TestClient]:
    engine = make_engine(fresh_url)
    with TestClient(create_app(engine, identities=Identities()),
                    raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- help ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: " ".join(c) or "medsign")
def test_help_works_and_is_in_russian(cli: Cli, command: list[str]) -> None:
    assert len(SUBCOMMANDS) >= 12  # the walk found the commands
    done = cli.ok(*command, "--help")
    assert done.stdout.startswith("Использование: ") and "Параметры:" in done.stdout
    assert "-h, --help" in done.stdout and "Показать эту справку и выйти." in done.stdout
    words = re.sub(r"--?[\w-]+|medsign|" + "|".join(re.escape(c) for c in command),
                   "", done.stdout)
    assert not CLICK_ENGLISH.search(words), CLICK_ENGLISH.findall(words)
    assert done.stderr == ""
    assert not (cli.cwd / "var").exists()  # asking for help touches nothing


# -- configuration ------------------------------------------------------------------------

SECRETS = ("TopSecretGoskeyToken-0123456789", "Sup3rSecretPassw0rd", "short-1")
BAD_CONFIG = f"""
profile = "production"
[database]
url = "mysql://medsign:{SECRETS[1]}@db:3306/medsign"
pool_size = 0
[runner]
concurrency = "many"
lease = "soon"
[goskey]
token = "{SECRETS[0]}"
base_url = "ftp://platform"
[max]
token = "{SECRETS[2]}"
[logging]
level = "LOUD"
"""
# key, the value as shown, words of the expectation
EXPECTED_PROBLEMS = [
    ("database.url", "mysql://medsign:***@db:3306/medsign", "postgresql://"),
    ("database.pool_size", "0", "от 1 до 100"),
    ("runner.concurrency", "many", "от 1 до 256"),
    ("runner.lease", "soon", "длительность"),
    ("goskey.base_url", "ftp://platform", "https://"),
    ("logging.level", "LOUD", "«DEBUG»"),
    ("max.token", "***", "не короче 16 символов"),
]


def assert_lists_every_problem(output: str) -> None:
    assert "Ошибка в настройках" in output
    for key, value, expected in EXPECTED_PROBLEMS:
        line = next((x for x in output.splitlines() if f"{key} = «{value}»" in x), None)
        assert line is not None, f"{key} = «{value}» not reported:\n{output}"
        assert "ожидается" in line and expected in line, line
    for secret in SECRETS:
        assert secret not in output


def test_check_config_lists_every_problem_without_secrets_and_exits_2(cli: Cli) -> None:
    (cli.cwd / "bad.toml").write_text(BAD_CONFIG, encoding="utf-8")
    done = cli.run("check-config", "--config", "bad.toml")
    assert done.returncode == 2, done
    assert_lists_every_problem(done.stdout + done.stderr)


def test_check_config_accepts_a_good_file_and_hides_secrets_with_show(cli: Cli) -> None:
    (cli.cwd / "ok.toml").write_text(f'[goskey]\ntoken = "{SECRETS[0]}"\n', encoding="utf-8")
    done = cli.ok("check-config", "--config", "ok.toml", "--show")
    assert "goskey.token = ***" in done.stdout and SECRETS[0] not in done.stdout + done.stderr
    assert "Настройки в порядке" in done.stdout


def test_check_config_show_masks_passwords_in_a_urls_query(cli: Cli) -> None:
    (cli.cwd / "ok.toml").write_text(
        f'[database]\nurl = "postgresql://medsign:{SECRETS[0]}@db/m?password={SECRETS[0]}"\n',
        encoding="utf-8")
    done = cli.run("check-config", "--config", "ok.toml", "--show")
    assert "database.url = postgresql+psycopg://medsign:***@db/m?password=***" in done.stdout
    assert SECRETS[0] not in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_an_invalid_configuration(cli: Cli, command: str) -> None:
    (cli.cwd / "bad.toml").write_text(BAD_CONFIG, encoding="utf-8")
    done = cli.run(command, "--config", "bad.toml")
    assert done.returncode == 2, done
    assert_lists_every_problem(done.stdout + done.stderr)
    assert not (cli.cwd / "var").exists()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_an_unmigrated_database(tmp_path: Path, command: str) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    done = cli.run(command, "--port", str(free_port())) if command == "serve" else cli.run(
        command)
    assert done.returncode == 2, done
    assert "medsign migrate" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


# -- production signer: no silent downgrade -----------------------------------------------

PRODUCTION_TOKENS = ("max-bot-token-0123456789abcdef", "goskey-partner-token-0123456789")


def production_config(cli: Cli, signer: str, *extra: str, profile: str = "production") -> Path:
    """A file complete for production (real keys of a test CA) with ``signer`` chosen, run
    under ``profile``; SQLite, so that its warning comes along."""
    ca, _, _ = development_keys(cli.cwd / "keys", code="mo1", name="ГБУЗ «Поликлиника»",
                                ogrn="1027700132195", inn="7707083893")
    journal = cli.cwd / "journal"
    journal.mkdir(exist_ok=True)
    path = cli.cwd / "production.toml"
    path.write_text("\n".join([
        f'profile = "{profile}"',
        "[database]", 'url = "sqlite:///var/medsign.db"',
        "[server]", 'public_url = "https://medsign.region.example"',
        "[max]", f'token = "{PRODUCTION_TOKENS[0]}"', 'base_url = "https://127.0.0.1:9"',
        "[goskey]", f'token = "{PRODUCTION_TOKENS[1]}"',
        "[signing]", f'signer = "{signer}"', f'trust_store = "{ca}"',
        f'key_store = "{cli.cwd / "keys"}"', f'mo_trust_store = "{ca}"',
        f'transaction_journal = "{journal}"', *extra, ""]),
        encoding="utf-8")
    return path


@pytest.fixture
def no_gost_engine(cli: Cli) -> None:
    """An ``openssl`` first on PATH that has no GOST engine, as on a machine without
    libengine-gost-openssl."""
    folder = cli.cwd / "bin"
    folder.mkdir()
    fake = folder / "openssl"
    fake.write_text('#!/bin/sh\necho \'invalid engine "gost"\' >&2\nexit 1\n', encoding="utf-8")
    fake.chmod(0o755)
    cli.env["PATH"] = f"{folder}{os.pathsep}{cli.env.get('PATH', '')}"


def run_service(cli: Cli, command: str, config: Path) -> subprocess.CompletedProcess[str]:
    port = ("--port", str(free_port())) if command == "serve" else ()
    return cli.run(command, "--config", str(config), *port)


@pytest.mark.usefixtures("no_gost_engine")
@pytest.mark.parametrize("command", ["check-config", "serve", "worker"])
def test_production_openssl_without_the_gost_engine_does_not_start(cli: Cli,
                                                                   command: str) -> None:
    done = run_service(cli, command, production_config(cli, "openssl"))
    assert done.returncode == 2, done
    assert "Ошибка в настройках — сервис не запущен" in done.stderr
    [line] = [x for x in done.stderr.splitlines() if "signing.signer = «openssl»" in x]
    assert "движок ГОСТ для OpenSSL не установлен" in line
    assert "apt-get install libengine-gost-openssl" in line and "«external»" in line
    assert "Traceback" not in done.stderr and not (cli.cwd / "var").exists()


@pytest.mark.usefixtures("no_gost_engine")
def test_outside_production_openssl_without_the_engine_still_starts(cli: Cli) -> None:
    config = production_config(cli, "openssl", profile="development")
    done = cli.ok("check-config", "--config", str(config))
    assert "Настройки в порядке (профиль «development»)" in done.stdout


@pytest.mark.parametrize("command", ["check-config", "serve", "worker"])
def test_production_refuses_pure_without_the_setting(cli: Cli, command: str) -> None:
    done = run_service(cli, command, production_config(cli, "pure"))
    assert done.returncode == 2, done
    [line] = [x for x in done.stderr.splitlines() if "signing.signer = «pure»" in x]
    assert "signing.allow_pure_in_production = true" in line
    assert not (cli.cwd / "var").exists()


PURE_WARNING = "signing.signer = «pure»: ожидается «openssl» или «external»"


def test_production_pure_when_allowed_warns_at_every_start(cli: Cli) -> None:
    config = production_config(cli, "pure", "allow_pure_in_production = true")
    checked = cli.ok("check-config", "--config", str(config))
    assert f"Предупреждение: {PURE_WARNING}" in checked.stderr
    assert "не является сертифицированным средством" in checked.stderr
    cli.ok("migrate", "--config", str(config))
    worker = cli.start("worker", "--config", str(config), name="worker")
    try:
        wait_for(lambda: "Обработчик" in worker.stderr(), "the start-up line", worker)
    finally:
        assert worker.stop() == 0, worker.stderr()
    assert_logged_warning(worker.stderr())
    port = free_port()
    server = cli.start("serve", "--config", str(config), "--port", str(port), name="serve")
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, "/healthz", server)
    finally:
        server.stop()
    assert_logged_warning(server.stderr())


def assert_logged_warning(log: str) -> None:
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    [warning] = [x for x in lines if PURE_WARNING in x["msg"]]
    assert warning["level"] == "warning" and "постоянное время" in warning["msg"]
    assert "Traceback" not in log


# -- migrate and tokens (both back ends) --------------------------------------------------

def test_migrate_then_create_prints_only_a_working_token(db_cli: Cli, api: TestClient,
                                                         backend: str) -> None:
    head = head_revision()
    if backend == "sqlite":  # the PostgreSQL fixture database comes migrated
        assert api.get("/readyz").status_code == 503
        assert db_cli.ok("migrate").stdout == f"Схема базы данных: пусто → {head}.\n"
    assert db_cli.ok("migrate").stdout == f"Схема базы данных: {head} → {head}.\n"
    assert api.get("/readyz").status_code == 200
    created = db_cli.ok("api-token", "create", "--name", "mis-region")
    [token] = created.stdout.splitlines()
    assert created.stdout == token + "\n" and re.fullmatch(r"ms_[A-Za-z0-9_\-]{40,}", token)
    assert token not in created.stderr and "mis-region" in created.stderr
    assert api.get("/api/v1/signing-requests", headers=bearer(token)).status_code == 200
    assert api.get("/api/v1/signing-requests",
                   headers=bearer(token[:-1] + "x")).status_code == 401


def test_the_database_can_come_from_the_config_file(db_cli: Cli, token: str,
                                                    fresh_url: str) -> None:
    (db_cli.cwd / "site.toml").write_text(f'[database]\nurl = "{fresh_url}"\n',
                                          encoding="utf-8")
    from_file = Cli(db_cli.cwd, None)
    assert from_file.ok("api-token", "list", "--config", "site.toml").stdout.startswith("mis\t")
    assert from_file.ok("--config", "site.toml", "api-token", "list").stdout.startswith("mis\t")


def test_a_duplicate_token_name_is_refused(db_cli: Cli, token: str) -> None:
    done = db_cli.run("api-token", "create", "--name", "mis")
    assert done.returncode == 1 and done.stdout == "" and "уже существует" in done.stderr


def test_list_shows_clients_without_tokens_and_revoke_locks_one_out(
        db_cli: Cli, token: str, api: TestClient) -> None:
    other = db_cli.ok("api-token", "create", "--name", "lab", "--organization", "mo1").stdout
    listed = db_cli.ok("api-token", "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["lab", "mis"]
    assert all(line.endswith("действует") for line in listed)
    assert "mo1" in listed[0] and "все МО" in listed[1]
    assert token not in "\n".join(listed) and other.strip() not in "\n".join(listed)
    assert listed[1].split("\t")[1] == token[:10] + "…"

    revoked = db_cli.ok("api-token", "revoke", "mis")
    assert "mis" in revoked.stdout
    r = api.get("/api/v1/signing-requests", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    assert api.get("/api/v1/signing-requests", headers=bearer(other.strip())).status_code == 200
    assert "отозван" in db_cli.ok("api-token", "list").stdout.splitlines()[1]
    missing = db_cli.run("api-token", "revoke", "nobody")
    assert missing.returncode == 1 and "не найден" in missing.stderr


def test_backup_and_restore_round_trip(db_cli: Cli, token: str, api: TestClient) -> None:
    backup = db_cli.ok("backup", "copy.backup")
    assert "Набор: copy.backup" in backup.stdout, backup.stdout
    assert (db_cli.cwd / "copy.backup").stat().st_size > 0
    later = db_cli.ok("api-token", "create", "--name", "after-backup").stdout.strip()
    db_cli.ok("api-token", "revoke", "mis")

    restored = db_cli.run("restore", "copy.backup", "--yes")
    assert restored.returncode == 0, restored
    assert "контрольные суммы верны" in restored.stdout and "восстановлена" in restored.stdout
    # then at once the reconciliation with the platform (nothing open here: nothing to ask)
    assert "Сверка незавершённых транзакций с платформой" in restored.stdout
    assert "транзакций 0" in restored.stdout
    assert db_cli.ok("api-token", "list").stdout.splitlines() == [
        f"mis\t{token[:10]}…\tвсе МО\tдействует"]
    assert api.get("/api/v1/signing-requests", headers=bearer(token)).status_code == 200
    assert api.get("/api/v1/signing-requests", headers=bearer(later)).status_code == 401


def test_backup_writes_its_time_for_the_backup_age_alert(db_cli: Cli, token: str) -> None:
    metrics = db_cli.cwd / "textfile" / "medsign_backup.prom"
    metrics.parent.mkdir()
    before = time.time()
    db_cli.ok("backup", "copy.backup", "--metrics-file", str(metrics))
    samples = {line.split()[0]: float(line.split()[1]) for line in
               metrics.read_text().splitlines() if line and not line.startswith("#")}
    assert before - 5 <= samples["medsign_backup_last_success_timestamp_seconds"] <= time.time()
    assert samples["medsign_backup_size_bytes"] == (db_cli.cwd / "copy.backup").stat().st_size


def test_a_failed_backup_leaves_the_metrics_file_alone(db_cli: Cli, token: str) -> None:
    metrics = db_cli.cwd / "medsign_backup.prom"
    metrics.write_text("medsign_backup_last_success_timestamp_seconds 1\n")
    (db_cli.cwd / "a-file").write_text("not a folder")
    done = db_cli.run("backup", str(db_cli.cwd / "a-file" / "copy.backup"),
                      "--metrics-file", str(metrics))
    assert done.returncode == 1 and "файл, а не папка" in done.stderr, done
    assert "Traceback" not in done.stderr
    assert metrics.read_text() == "medsign_backup_last_success_timestamp_seconds 1\n"


def test_restore_refuses_a_damaged_copy(db_cli: Cli, token: str) -> None:
    db_cli.ok("backup", "copy.backup")
    copy = db_cli.cwd / "copy.backup"
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    copy.write_bytes(bytes(data))
    done = db_cli.run("restore", "copy.backup", "--yes")
    assert done.returncode == 1 and "контрольная сумма не совпадает" in done.stderr, done
    assert "Traceback" not in done.stderr
    assert db_cli.ok("api-token", "list").stdout.startswith("mis\t")


def test_restore_without_yes_asks_and_a_no_changes_nothing(db_cli: Cli, token: str) -> None:
    db_cli.ok("backup", "copy.backup")
    db_cli.ok("api-token", "revoke", "mis")
    done = db_cli.run("restore", "copy.backup", input="n\n")
    assert done.returncode == 1 and "Продолжить?" in done.stdout
    assert "уже есть данные" in done.stdout and "api_clients: 1" in done.stdout
    assert "отозван" in db_cli.ok("api-token", "list").stdout
    unanswered = db_cli.run("restore", "copy.backup", input="")
    assert unanswered.returncode == 1 and "ничего не изменено" in unanswered.stderr
    assert "Aborted" not in unanswered.stderr + unanswered.stdout
    assert "отозван" in db_cli.ok("api-token", "list").stdout


@pytest.mark.slow
def test_a_set_restores_on_a_new_machine_with_its_keys_and_configuration(
        db_cli: Cli, token: str, backend: str, tmp_path: Path) -> None:
    live = tmp_path / "live"
    development_keys(live / "keys", code="mo1", name="ГБУЗ Тест", ogrn="1027700132195",
                     inn="7707083893")
    (live / "mo-ca.pem").write_bytes((live / "keys" / "dev-ca.pem").read_bytes())
    config = live / "medsign.toml"
    config.write_text(f'[signing]\nkey_store = "{live / "keys"}"\n'
                      f'mo_trust_store = "{live / "mo-ca.pem"}"\n', encoding="utf-8")
    kept = {p.relative_to(live).as_posix(): p.read_bytes()
            for p in sorted(live.rglob("*")) if p.is_file()}
    made = db_cli.ok("backup", "--config", str(config), str(tmp_path / "sets") + "/")
    [copy] = (tmp_path / "sets").glob("medsign-*.tar")
    assert "key_store" in made.stdout and "config" in made.stdout
    verified = db_cli.run("backup", "--verify", str(copy))
    assert verified.returncode == 0, verified
    assert "Набор в порядке" in verified.stdout and "сертификатов проверено 2" in verified.stdout

    shutil.rmtree(live)  # the machine is gone
    new = Cli(tmp_path / "new", None)
    new.cwd.mkdir()
    with _empty_database(backend, new.cwd) as url:
        new.env["MEDSIGN_DATABASE__URL"] = url
        done = new.run("restore", str(copy))
        assert done.returncode == 0, done
        assert "Traceback" not in done.stderr
        assert {p.relative_to(live).as_posix(): p.read_bytes()
                for p in sorted(live.rglob("*")) if p.is_file()} == {
            name: data for name, data in kept.items() if name != "medsign.toml"}
        assert (new.cwd / "medsign.toml").read_bytes() == kept["medsign.toml"]
        assert (new.cwd / "medsign.toml").stat().st_mode & 0o777 == 0o600
        assert new.ok("api-token", "list").stdout.startswith("mis\t")
        assert new.ok("keys", "list").returncode == 0


@contextlib.contextmanager
def _empty_database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'var' / 'medsign.db'}"
        return
    with scratch_pg_database("medsign_new_machine") as url:
        yield url


def test_verify_names_a_changed_member_and_exits_1(db_cli: Cli, token: str) -> None:
    db_cli.ok("backup", "copy.tar")
    copy = db_cli.cwd / "copy.tar"
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    done = db_cli.run("backup", "--verify", "copy.tar")
    assert done.returncode == 1, done
    assert "«database/medsign." in done.stderr and "Traceback" not in done.stderr
    usage = db_cli.run("backup")
    assert usage.returncode == 2 and "--verify" in usage.stderr


def _process_rows(url: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(kind, pid) for kind, pid in conn.execute(
                sqlalchemy.text("SELECT kind, pid FROM service_processes"))]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_restore_is_refused_while_a_worker_runs_and_forced_with_force(
        db_cli: Cli, token: str, fresh_url: str) -> None:
    db_cli.ok("backup", "copy.tar")
    db_cli.ok("api-token", "revoke", "mis")
    worker = db_cli.start("worker", name="worker")
    try:
        wait_for(lambda: ("worker", worker.process.pid) in _process_rows(fresh_url),
                 "the worker's row", worker)
        refused = db_cli.run("restore", "copy.tar", "--yes")
        assert refused.returncode == 1, refused
        assert f"обработчик (worker) на {socket.gethostname()}, pid {worker.process.pid}" \
            in refused.stderr
        assert "--force" in refused.stderr and "ничего не изменено" in refused.stderr
        assert "отозван" in db_cli.ok("api-token", "list").stdout

        forced = db_cli.run("restore", "copy.tar", "--yes", "--force")
        assert forced.returncode == 0, forced
        assert "действует" in db_cli.ok("api-token", "list").stdout
        # the restored rows are gone; the live worker writes its own again
        wait_for(lambda: ("worker", worker.process.pid) in _process_rows(fresh_url),
                 "the worker's row after the restore", worker)
    finally:
        code = worker.stop()
    assert code == 0, worker.stderr()
    assert _process_rows(fresh_url) == []


@pytest.mark.slow
def test_serve_keeps_its_row_while_it_runs(db_cli: Cli, token: str, fresh_url: str) -> None:
    port = free_port()
    server = db_cli.start("serve", "--host", "127.0.0.1", "--port", str(port), name="serve")
    try:
        wait_for(lambda: ("serve", server.process.pid) in _process_rows(fresh_url),
                 "the server's row", server)
    finally:
        code = server.stop()
    assert code in (0, -signal.SIGTERM), server.stderr()  # uvicorn re-raises the signal
    assert "Application shutdown complete" in server.stderr()
    assert _process_rows(fresh_url) == []


def test_prune_keeps_the_newest_per_period_and_touches_nothing_else(
        db_cli: Cli, token: str) -> None:
    sets = db_cli.cwd / "sets"
    sets.mkdir()
    db_cli.ok("backup", "one.tar")
    original = (db_cli.cwd / "one.tar").read_bytes()
    names = []
    for day in (1, 2, 3, 4):  # four days of November: the newest two are kept
        stamp = datetime(2026, 11, day, 3, 0, tzinfo=UTC)
        name = f"medsign-{stamp:%Y%m%dT%H%M%SZ}.tar"
        (sets / name).write_bytes(_with_created_at(original, stamp))
        names.append(name)
    (sets / "medsign-20261101T000000Z.tar").write_bytes(b"not a set")  # named like one
    (sets / "notes.txt").write_text("mine")
    dry = db_cli.ok("backup", "prune", str(sets), "--daily", "2", "--weekly", "0",
                    "--monthly", "0", "--dry-run")
    assert "Будет удалён" in dry.stdout and len(list(sets.iterdir())) == 6
    db_cli.ok("backup", "prune", str(sets), "--daily", "2", "--weekly", "0", "--monthly", "0")
    assert sorted(p.name for p in sets.iterdir()) == sorted(
        [*names[2:], "medsign-20261101T000000Z.tar", "notes.txt"])


def _with_created_at(data: bytes, stamp: datetime) -> bytes:
    """The same set, its manifest dated ``stamp`` (the archive rewritten as the set was)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as new:
        for member in tar:
            body = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                raw = json.loads(body)
                raw["created_at"] = stamp.isoformat()
                body = json.dumps(raw).encode()
                member.size = len(body)
            new.addfile(member, io.BytesIO(body))
    return out.getvalue()


# -- long-running processes ---------------------------------------------------------------

def test_serve_serves_and_stops_cleanly_on_sigterm(db_cli: Cli, token: str) -> None:
    port = free_port()
    server = db_cli.start("serve", "--host", "127.0.0.1", "--port", str(port), name="serve")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(f"{base}/healthz") == 200, "/healthz", server)
        assert _get(f"{base}/readyz") == 200
        with httpx.Client(base_url=base, timeout=10) as http:
            r = http.get("/api/v1/signing-requests", headers=bearer(token))
            assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}
            r = http.get("/api/v1/signing-requests", headers={"X-Request-ID": "cli-req-1"})
            assert r.status_code == 401 and r.headers["x-request-id"] == "cli-req-1"
    finally:
        code = server.stop()
    log = server.stderr()
    # uvicorn re-raises SIGTERM once it has shut down, so that the parent sees the signal
    assert code in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log and "Traceback" not in log
    assert token not in log
    lines = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    [access] = [x for x in lines if x["correlation_id"] == "cli-req-1"]
    assert access["msg"] == "GET /api/v1/signing-requests -> 401"
    assert "\x1b" not in json.dumps(lines)  # no terminal colours in a machine log


def _get(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


def test_worker_runs_until_sigterm_and_stops_cleanly(db_cli: Cli, token: str) -> None:
    worker = db_cli.start("worker", "--concurrency", "2", name="worker")
    try:
        wait_for(lambda: "Обработчик" in worker.stderr(), "the start-up line", worker)
        assert worker.process.poll() is None
    finally:
        code = worker.stop()
    assert code == 0, worker.stderr()
    assert "Traceback" not in worker.stderr()
