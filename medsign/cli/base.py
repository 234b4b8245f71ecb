"""What every subcommand shares: Russian help, ``--config``, loading the settings and the
container, the schema check, a session for one action, progress bars, signal handling."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import click

from medsign import bootstrap
from medsign.config import ConfigError, Problem, Settings, load_settings, settings_warnings
from medsign.logs import configure_logging

log = logging.getLogger("medsign.cli")

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


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

HELP_TEXT = "Показать эту справку и выйти."


class RussianContext(click.Context):
    formatter_class = RussianHelpFormatter


class RussianCommand(click.Command):
    context_class = RussianContext

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_TEXT
        return option


class RussianGroup(RussianCommand, click.Group):
    command_class = RussianCommand
    group_class = type


def settings_from(ctx: click.Context) -> Settings:
    path: Path | None = ctx.obj.get("config")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        refuse(ctx, exc.problems)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


def refuse(ctx: click.Context, problems: Iterable[Problem]) -> NoReturn:
    """Every problem, then exit 2: the service does not start."""
    click.echo("Ошибка в настройках — сервис не запущен:", err=True)
    for problem in problems:
        click.echo(f"  • {problem}", err=True)
    ctx.exit(2)


def settings_to_run(ctx: click.Context) -> Settings:
    """The settings of a process that runs the service, or vouches that it would run
    (``check-config``): the file checked, and this machine against it."""
    settings = settings_from(ctx)
    problems = bootstrap.start_up_problems(settings)
    if problems:
        refuse(ctx, problems)
    return settings


def container_from(ctx: click.Context) -> bootstrap.Container:
    return bootstrap.build(settings_from(ctx))


def service_container(ctx: click.Context) -> bootstrap.Container:
    """The container of ``serve`` and ``worker``: started only on a machine that can run the
    settings, with every warning in the log of every start."""
    settings = settings_to_run(ctx)
    for warning in settings_warnings(settings):
        log.warning("Предупреждение в настройках: %s", warning)
    return bootstrap.build(settings)


def require_emulators() -> None:
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


def require_schema(ctx: click.Context, container: bootstrap.Container) -> None:
    from medsign.db import migrate as db_migrate
    if not db_migrate.is_current(container.engine):
        click.echo("Схема базы данных не соответствует версии программы: выполните "
                   "«medsign migrate».", err=True)
        ctx.exit(2)


def in_session(ctx: click.Context, action: Callable[[Any, datetime], Any]) -> Any:
    from sqlalchemy.orm import Session

    from medsign.errors import ServiceError
    container = container_from(ctx)
    require_schema(ctx, container)
    with Session(container.engine, expire_on_commit=False) as db:
        try:
            result = action(db, datetime.now(UTC))
        except ServiceError as exc:
            click.echo(f"Ошибка: {exc.message}", err=True)
            ctx.exit(1)
        db.commit()
    return result


def fail(ctx: click.Context, message: str) -> None:
    click.echo(f"Ошибка: {message}", err=True)
    ctx.exit(1)


class Progress:
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


def settle_start_up() -> None:
    """What start-up built (modules, routes, templates, the container: some 200 000 objects)
    lives as long as the process. Collect what start-up left behind, then take the rest out of
    the collector's sight (``gc.freeze``): otherwise each full collection walks all of it
    again, a pause of 60–120 ms in whichever request or step it falls on."""
    gc.collect()
    gc.freeze()


async def run_until_signal(run: Callable[[asyncio.Event], Any],
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
