"""The ``medsign`` command: serve, worker, migrate, check-config, api-token, backup, restore.

Every subcommand takes ``--config PATH`` (default ``./medsign.toml``; without the file the
embedded defaults apply: SQLite under ``./var/``). Messages are in Russian; exit code 2 means
a problem with the configuration or the arguments, 1 a failure of the operation.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from medsign import bootstrap
from medsign.config import (
    ConfigError,
    Settings,
    describe_settings,
    load_settings,
    settings_warnings,
)
from medsign.logs import configure_logging

CONFIG_HELP = "Файл настроек (по умолчанию ./medsign.toml; без файла — встроенные значения)."
_HEADINGS = {"Options": "Параметры", "Commands": "Команды", "Arguments": "Аргументы"}


# Click's own words in usage lines, placeholders and the "[default: …]" notes.
_PLACEHOLDERS = {"OPTIONS": "ПАРАМЕТРЫ", "COMMAND": "КОМАНДА", "ARGS": "АРГУМЕНТЫ",
                 "TEXT": "ТЕКСТ", "INTEGER RANGE": "ЧИСЛО", "INTEGER": "ЧИСЛО",
                 "FLOAT RANGE": "ЧИСЛО", "FLOAT": "ЧИСЛО", "FILE": "ФАЙЛ", "PATH": "ПУТЬ",
                 "DIRECTORY": "ПАПКА", "BOOLEAN": "ДА|НЕТ", "CODE": "КОД", "NAME": "ИМЯ",
                 "TARGET": "ФАЙЛ", "SOURCE": "ФАЙЛ"}
_PLACEHOLDER = re.compile(r"\b(" + "|".join(sorted(_PLACEHOLDERS, key=len, reverse=True))
                          + r")\b")
_NOTE = re.compile(r"\[[^\[\]]*\]$")
_NOTE_WORDS = {"default:": "по умолчанию:", "required": "обязательно"}


def _russian_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: _PLACEHOLDERS[m.group(1)], text)


def _russian_note(text: str) -> str:
    def translate(match: re.Match[str]) -> str:
        note = match.group(0)
        for english, russian in _NOTE_WORDS.items():
            note = note.replace(english, russian)
        return note
    return _NOTE.sub(translate, text)


class RussianHelpFormatter(click.HelpFormatter):
    """Click's help text in Russian: headings, usage, placeholders and notes (the rest of the
    text is ours)."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, _russian_placeholders(args), prefix="Использование: ")

    def write_heading(self, heading: str) -> None:
        super().write_heading(_HEADINGS.get(heading, heading))

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30,
                 col_spacing: int = 2) -> None:
        super().write_dl([(_russian_placeholders(term), _russian_note(text))
                          for term, text in rows], col_max, col_spacing)


click.Context.formatter_class = RussianHelpFormatter
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
HELP_TEXT = "Показать эту справку и выйти."


class RussianCommand(click.Command):
    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_TEXT
        return option


class RussianGroup(RussianCommand, click.Group):
    command_class = RussianCommand
    group_class = type


def _settings(ctx: click.Context) -> Settings:
    path: Path | None = ctx.obj.get("config")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        click.echo("Ошибка в настройках — сервис не запущен:", err=True)
        for problem in exc.problems:
            click.echo(f"  • {problem}", err=True)
        ctx.exit(2)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


def _container(ctx: click.Context) -> bootstrap.Container:
    return bootstrap.build(_settings(ctx))


def _require_emulators() -> None:
    """``emulate`` and ``demo`` run the emulators, whose packages come with the ``emulators``
    extra: without them, say what to install rather than fail on an import."""
    missing = _missing_from_extra("emulators")
    if missing:
        click.echo(f"Эмуляторы не установлены: нет пакетов {', '.join(missing)}. Установите "
                   "дополнение emulators: pip install 'medsign[emulators]'", err=True)
        click.get_current_context().exit(1)


def _missing_from_extra(extra: str) -> list[str]:
    """The distributions of medsign's ``extra`` that are not installed."""
    try:
        requirements = metadata.requires("medsign") or []
    except metadata.PackageNotFoundError:  # run from a bare source tree: the imports will tell
        return []
    wanted = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    names = [re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
             for requirement in requirements if wanted.search(requirement.partition(";")[2])]
    return [name for name in names if not _installed(name)]


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def config_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--config`` on every subcommand (and on the group), stored in the context."""
    def remember(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            ctx.ensure_object(dict)["config"] = value
    with_config = click.option("--config", "-c", expose_value=False, is_eager=True,
                               type=click.Path(path_type=Path, dir_okay=False),
                               callback=remember, help=CONFIG_HELP)(fn)
    return with_config


@click.group(cls=RussianGroup, context_settings=CONTEXT,
             help="medsign — подписание медицинских согласий и договоров через мессенджер MAX "
                  "и Госключ.")
@config_option
@click.pass_context
def main(ctx: click.Context) -> None:
    ctx.ensure_object(dict)


@main.command("check-config", help="Проверить файл настроек и показать все найденные проблемы.")
@config_option
@click.option("--show", is_flag=True, help="Показать итоговые значения (секреты скрыты).")
@click.pass_context
def check_config(ctx: click.Context, show: bool) -> None:
    settings = _settings(ctx)
    for warning in settings_warnings(settings):
        click.echo(f"Предупреждение: {warning}", err=True)
    if show:
        for key, value in describe_settings(settings):
            click.echo(f"{key} = {value}")
    click.echo(f"Настройки в порядке (профиль «{settings.profile}»).")


@main.command(help="Применить миграции базы данных (создать или обновить схему).")
@config_option
@click.pass_context
def migrate(ctx: click.Context) -> None:
    from medsign.db import migrate as db_migrate
    container = _container(ctx)
    before = db_migrate.current_revision(container.engine)
    db_migrate.upgrade(container.engine)
    after = db_migrate.current_revision(container.engine)
    click.echo(f"Схема базы данных: {before or 'пусто'} → {after}.")


def _require_schema(ctx: click.Context, container: bootstrap.Container) -> None:
    from medsign.db import migrate as db_migrate
    if not db_migrate.is_current(container.engine):
        click.echo("Схема базы данных не соответствует версии программы: выполните "
                   "«medsign migrate».", err=True)
        ctx.exit(2)


@main.command(help="Запустить веб-сервис: REST API, вебхук MAX, страницы, /metrics.")
@config_option
@click.option("--host", help="Адрес (по умолчанию server.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Порт (по умолчанию server.port).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    import uvicorn
    container = _container(ctx)
    _require_schema(ctx, container)
    server = container.settings.server
    uvicorn.run(container.app(), host=host or server.host, port=port or server.port,
                log_config=None, access_log=False)


@main.command(help="Запустить обработчик фоновой работы (можно запускать несколько).")
@config_option
@click.option("--concurrency", type=click.IntRange(1, 256),
              help="Сколько шагов выполнять одновременно (по умолчанию runner.concurrency).")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Отдавать метрики Prometheus обработчика на этом порту.")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, metrics_port: int | None) -> None:
    container = _container(ctx)
    _require_schema(ctx, container)
    container.ensure_background_work()
    runner = container.worker(concurrency)
    if metrics_port:
        from prometheus_client import start_http_server
        start_http_server(metrics_port, registry=runner.metrics.registry)
    started = (f"Обработчик {runner.worker_id}: виды работ {', '.join(runner.kinds) or 'нет'}, "
               f"параллельно {runner.config.concurrency}.")

    async def work(stop: asyncio.Event) -> None:
        try:
            await runner.run(stop)
        finally:
            await container.close_clients()
    asyncio.run(_run_until_signal(work, lambda: click.echo(started, err=True)))


async def _run_until_signal(run: Callable[[asyncio.Event], Any],
                            announce: Callable[[], None]) -> None:
    """Run until SIGTERM or SIGINT; then stop claiming and finish or release in-flight work.

    The start is announced only once the handlers are in place: a supervisor that stops the
    process as soon as it reports for duty must get a clean stop, not Python's default death.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    announce()
    await run(stop)


@main.command(help="Демонстрационный стенд: сервис, обработчик и демо-данные на SQLite.")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Адрес веб-сервиса.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Порт веб-сервиса.")
@click.option("--goskey-port", default=8100, show_default=True,
              type=click.IntRange(1, 65535), help="Порт эмулятора платформы подписания.")
@click.option("--max-port", default=8200, show_default=True, type=click.IntRange(1, 65535),
              help="Порт эмулятора MAX.")
@click.option("--database", default="sqlite:///var/demo.db", show_default=True,
              help="База данных демо-стенда.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, goskey_port: int, max_port: int,
         database: str) -> None:
    _require_emulators()
    from medsign import demo as demo_mod
    ports = demo_mod.Ports(host=host, api=port, goskey=goskey_port, max=max_port)
    settings = demo_mod.demo_settings(_settings(ctx), database=database, ports=ports)
    container = bootstrap.build(settings)
    asyncio.run(demo_mod.run(container, ports=ports,
                             announce=lambda text: click.echo(text, err=True)))


@main.group(help="Эмуляторы внешних систем для разработки, тестов и демонстрации (нужно "
                 "дополнение emulators: pip install 'medsign[emulators]').")
def emulate() -> None:
    pass


@emulate.command("goskey", help="Эмулятор платформы подписания (ПЭП Госключ): API по адресу "
                 "http://H:P/gov/pep, страница пациента — /_emulator/.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Адрес.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535),
              help="Порт.")
@click.option("--token", required=True, help="Токен партнёра, который эмулятор примет.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Папка состояния: ключи оператора, operator-ca.pem, транзакции "
                   "(без неё — всё в памяти).")
@click.option("--mo-trust", multiple=True, type=click.Path(path_type=Path, dir_okay=False,
                                                           exists=True),
              help="PEM с УЦ медицинских организаций для проверки их подписей (можно "
                   "несколько раз).")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True),
              help="Отвечать 429 сверх этого числа запросов в секунду.")
@click.option("--expire-after", type=click.FloatRange(min=0, min_open=True),
              help="Через сколько секунд неподписанная транзакция истекает.")
@click.option("--people", "people_file", type=click.Path(path_type=Path, dir_okay=False,
                                                         exists=True),
              help="JSON со списком людей (учётные записи Госуслуг по телефонам), из профилей "
                   "которых платформа заполняет документы.")
@click.option("--unknown-phones", type=click.Choice(["refuse", "invent"]), default="refuse",
              show_default=True,
              help="Телефон без учётной записи: refuse — send отвечает 404 person.not.found, "
                   "как настоящая платформа; invent — выдуманный профиль (только для тестов "
                   "самого эмулятора).")
def emulate_goskey(host: str, port: int, token: str, state_dir: Path | None,
                   mo_trust: tuple[Path, ...], rate_limit: float | None,
                   expire_after: float | None, people_file: Path | None,
                   unknown_phones: str) -> None:
    _require_emulators()
    from medsign.integrations.goskey.emulator import FontNotFound, run
    click.echo(f"Эмулятор Госключа: API http://{host}:{port}/gov/pep, страница пациента "
               f"http://{host}:{port}/_emulator/", err=True)
    try:
        run(host, port, token, state_dir=state_dir, mo_trust=mo_trust,
            rate_limit_per_s=rate_limit, expire_after_s=expire_after, people_file=people_file,
            unknown_phones=unknown_phones)
    except (FontNotFound, ValueError) as exc:  # ValueError: an unreadable people file
        raise click.ClickException(str(exc)) from None


@emulate.command("max", help="Эмулятор платформы MAX (Bot API) с телефоном пациента: API в корне "
                 "http://H:P/, страница телефона — /_emulator/.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Адрес.")
@click.option("--port", default=8200, show_default=True, type=click.IntRange(1, 65535),
              help="Порт.")
@click.option("--token", required=True, help="Токен бота, который эмулятор примет.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Папка состояния (пользователи, сообщения, подписки переживают перезапуск).")
@click.option("--bot-username", default="medsign_demo_bot", show_default=True,
              help="Имя бота (для ссылок https://max.ru/<имя>?start=...).")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=30,
              show_default=True, help="Лимит запросов в секунду на токен (сверх — 429).")
@click.option("--no-rate-limit", is_flag=True, help="Снять общий лимит запросов.")
@click.option("--insecure-webhooks", is_flag=True,
              help="Разрешить вебхуки по http:// (настоящая платформа требует https:443).")
@click.option("--webhook-time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Ускорение расписания повторов вебхука (0.001 — в 1000 раз).")
def emulate_max(host: str, port: int, token: str, state_dir: Path | None, bot_username: str,
                rate_limit: float, no_rate_limit: bool, insecure_webhooks: bool,
                webhook_time_scale: float) -> None:
    _require_emulators()
    from medsign.integrations.max.emulator import run
    click.echo(f"Эмулятор MAX: API http://{host}:{port}, телефон http://{host}:{port}/_emulator/",
               err=True)
    run(host, port, token, state_dir=state_dir, bot_username=bot_username,
        rate_limit_rps=None if no_rate_limit else rate_limit,
        insecure_webhooks=insecure_webhooks, webhook_time_scale=webhook_time_scale)


@main.group(help="Ключи и сертификаты медицинских организаций.")
def keys() -> None:
    pass


@keys.command("init", help="Сделать ключ и сертификат разработки для МО (и тестовый УЦ, "
              "если его ещё нет). Не для промышленной эксплуатации.")
@config_option
@click.option("--organization", "code", required=True, metavar="CODE",
              help="Код МО (она должна быть загружена через API).")
@click.pass_context
def keys_init(ctx: click.Context, code: str) -> None:
    from medsign.records import organizations
    from medsign.records.scope import SYSTEM
    from medsign.signing.signers import development_keys
    container = _container(ctx)
    if container.settings.profile == "production":
        _fail(ctx, "ключи разработки запрещены в профиле production: укажите "
                   "signing.key_file и signing.certificate_file.")
    org = _in_session(ctx, lambda db, _now: organizations.get(db, scope=SYSTEM, code=code))
    ca, key, cert = development_keys(container.keys_dir, code=org.code, name=org.name,
                                     ogrn=org.ogrn, inn=org.inn)
    click.echo(f"Тестовый УЦ: {ca}\nКлюч МО: {key}\nСертификат МО: {cert}")


@main.group("api-token", help="Токены клиентских систем (МИС) для REST API.")
def api_token() -> None:
    pass


@api_token.command("create", help="Выпустить токен. В stdout печатается только токен.")
@config_option
@click.option("--name", required=True, help="Имя клиентской системы, например «mis-region».")
@click.option("--organization", "organizations", multiple=True, metavar="CODE",
              help="Ограничить токен этой МО (можно несколько раз); без опции — все МО.")
@click.pass_context
def api_token_create(ctx: click.Context, name: str, organizations: tuple[str, ...]) -> None:
    from medsign.accounts import api_clients
    new = _in_session(ctx, lambda db, now: api_clients.create(
        db, name=name, organizations=list(organizations) or None, actor="cli", now=now))
    scope = ", ".join(organizations) if organizations else "все МО"
    click.echo(f"Токен для «{name}» ({scope}) выпущен; сохраните его — он больше не "
               "будет показан.", err=True)
    click.echo(new.token)


@api_token.command("list", help="Показать клиентов и их токены (без самих токенов).")
@config_option
@click.pass_context
def api_token_list(ctx: click.Context) -> None:
    from medsign.accounts import api_clients
    rows = _in_session(ctx, lambda db, _now: api_clients.list_all(db))
    for row in rows:
        scope = ", ".join(row.organizations) if row.organizations else "все МО"
        state = f"отозван {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "действует"
        click.echo(f"{row.name}\t{row.token_prefix}…\t{scope}\t{state}")


@api_token.command("revoke", help="Отозвать токен клиента.")
@config_option
@click.argument("name")
@click.pass_context
def api_token_revoke(ctx: click.Context, name: str) -> None:
    from medsign.accounts import api_clients
    _in_session(ctx, lambda db, now: api_clients.revoke(db, name=name, actor="cli", now=now))
    click.echo(f"Токен клиента «{name}» отозван.")


@main.group("user", help="Учётные записи сотрудников для веб-страниц (АРМ врача, консоль).")
def user() -> None:
    pass


@user.command("create", help="Создать сотрудника: врача (с МО), оператора или администратора.")
@config_option
@click.option("--login", required=True, help="Логин: латинские буквы, цифры, точка, дефис.")
@click.option("--role", required=True, type=click.Choice(["doctor", "operator", "admin"]),
              help="Роль.")
@click.option("--organization", metavar="CODE", help="Код МО врача (только для doctor).")
@click.option("--full-name", required=True, help="ФИО, как его покажут страницы.")
@click.option("--password-stdin", is_flag=True, help="Прочитать пароль из stdin (одна строка).")
@click.pass_context
def user_create(ctx: click.Context, login: str, role: str, organization: str | None,
                full_name: str, password_stdin: bool) -> None:
    from medsign.accounts import staff
    password = (sys.stdin.readline().rstrip("\r\n") if password_stdin else
                click.prompt("Пароль", hide_input=True, confirmation_prompt="Пароль ещё раз"))
    demo = _settings(ctx).profile == "demo"
    new = staff.NewUser(login=login, full_name=full_name, role=role, organization=organization,
                        password=password)
    _in_session(ctx, lambda db, now: staff.create(db, user=new, allow_demo_password=demo,
                                                  actor="cli", now=now))
    click.echo(f"Пользователь «{staff.normalize_login(login)}» создан.")


@user.command("list", help="Показать сотрудников: логин, роль, МО, ФИО.")
@config_option
@click.pass_context
def user_list(ctx: click.Context) -> None:
    from medsign.accounts import staff
    for u in _in_session(ctx, lambda db, _now: staff.list_all(db)):
        click.echo(f"{u.login}\t{u.role.value}\t{u.organization_code or '-'}\t{u.full_name}")


def _in_session(ctx: click.Context, action: Callable[[Any, datetime], Any]) -> Any:
    from sqlalchemy.orm import Session

    from medsign.errors import ServiceError
    container = _container(ctx)
    _require_schema(ctx, container)
    with Session(container.engine, expire_on_commit=False) as db:
        try:
            result = action(db, datetime.now(UTC))
        except ServiceError as exc:
            click.echo(f"Ошибка: {exc.message}", err=True)
            ctx.exit(1)
        db.commit()
    return result


@main.command(help="Сделать согласованную резервную копию работающей базы данных.")
@config_option
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def backup(ctx: click.Context, target: Path) -> None:
    from medsign.db.backup import BackupError, create_backup
    settings = _settings(ctx)
    with _progress("Копирование") as progress:
        try:
            info = create_backup(settings.database.url, target, progress=progress)
        except BackupError as exc:
            _fail(ctx, str(exc))
    click.echo(f"Резервная копия: {info.path} ({info.size} байт, SHA-256 {info.sha256}).")


@main.command(help="Восстановить базу данных из резервной копии (с проверкой контрольной суммы).")
@config_option
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Не спрашивать подтверждения.")
@click.pass_context
def restore(ctx: click.Context, source: Path, yes: bool) -> None:
    from medsign.db.backup import BackupError, restore_backup, verify_backup
    settings = _settings(ctx)
    try:
        info = verify_backup(source)
    except BackupError as exc:
        _fail(ctx, str(exc))
    click.echo(f"Копия от {info.created_at:%Y-%m-%d %H:%M} UTC, схема {info.schema_revision}, "
               "контрольная сумма верна.")
    if not yes and not click.confirm("Текущие данные будут заменены. Продолжить?"):
        ctx.exit(1)
    with _progress("Восстановление") as progress:
        try:
            restore_backup(source, settings.database.url, progress=progress)
        except BackupError as exc:
            _fail(ctx, str(exc))
    click.echo("База данных восстановлена.")


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"Ошибка: {message}", err=True)
    ctx.exit(1)


class _progress:
    """A progress bar on stderr driven by (done, total) callbacks."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None
        self._shown = 0

    def __enter__(self) -> Callable[[int, int], None]:
        return self._update

    def _update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self._label,
                                          file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(max(0, done - self._shown))
        self._shown = max(self._shown, done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


if __name__ == "__main__":  # pragma: no cover
    main()
