"""The installation as a file: ``backup`` (a set, ``--verify``, ``prune``) and ``restore``.

The sets themselves are :mod:`medsign.operations.backup_set`; these commands load the
settings, ask and tell.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from medsign import bootstrap
from medsign.cli.base import (
    Progress,
    RussianCommand,
    RussianGroup,
    config_option,
    fail,
    refuse,
    settings_from,
)
from medsign.config import ConfigError, Settings, load_settings
from medsign.config.loader import DEFAULT_CONFIG_PATH
from medsign.config.sources import CONFIG_PATH_VARIABLE

if TYPE_CHECKING:
    from medsign.operations.backup_set import Manifest, Places

RECONCILE_HINT = "Сверьте незавершённые транзакции с платформой: medsign reconcile"


def config_named(ctx: click.Context) -> Path | None:
    """The configuration file named by ``--config`` or ``MEDSIGN_CONFIG`` (existing or not)."""
    named: Path | None = (ctx.obj or {}).get("config")
    if named is None and os.environ.get(CONFIG_PATH_VARIABLE):
        named = Path(os.environ[CONFIG_PATH_VARIABLE])
    return named


def config_in_use(ctx: click.Context) -> Path | None:
    """The file the settings are read from, as the loader chooses it (None: no file)."""
    named = config_named(ctx)
    if named is not None:
        return named
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _places(settings: Settings, config_file: Path | None) -> Places:
    from medsign.operations.backup_set import places_of
    return places_of(settings, key_store=bootstrap.key_store_of(settings),
                     config_file=config_file)


@contextmanager
def _opened_set(ctx: click.Context, path: Path, purpose: str) -> Iterator[tuple[Manifest, Path]]:
    """The set checked against its manifest and unpacked into a temporary folder, removed
    afterwards; a set that does not hold up ends the command with what is wrong."""
    from medsign.operations.backup_set import SetError, open_set
    with tempfile.TemporaryDirectory(prefix=f"medsign-{purpose}-") as folder:
        try:
            manifest = open_set(path, Path(folder))
        except SetError as exc:
            fail(ctx, str(exc))
        yield manifest, Path(folder)


class BackupGroup(RussianGroup):
    """``backup TARGET`` is ``backup create TARGET``; ``backup --verify FILE`` checks a set."""

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "create", self.commands["create"], args
        return super().resolve_command(ctx, args)


@click.group(cls=BackupGroup, invoke_without_command=True,
             help="Резервная копия установки одним файлом (набор): база данных, ключи МО, "
                  "настройки, доверенные сертификаты и списки отзыва, с манифестом и "
                  "контрольными суммами.\n\n\b\n"
                  "medsign backup ФАЙЛ|ПАПКА — сделать набор (в папке — с датой в имени);\n"
                  "medsign backup --verify ФАЙЛ — проверить набор;\n"
                  "medsign backup prune ПАПКА — удалить старые наборы.")
@config_option
@click.option("--verify", "verify", type=click.Path(path_type=Path, dir_okay=False,
                                                    exists=True),
              help="Проверить набор: контрольные суммы, пробное восстановление базы во "
                   "временное место, сертификаты и ключи, файл настроек. Код выхода 0 — "
                   "в порядке, 1 — найдены проблемы.")
@click.option("--scratch-url",
              help="Сервер PostgreSQL для пробного восстановления (пользователю нужно право "
                   "CREATE DATABASE; по умолчанию — сервер из database.url).")
@click.pass_context
def backup(ctx: click.Context, verify: Path | None, scratch_url: str | None) -> None:
    if ctx.invoked_subcommand is not None:
        if verify is not None:
            raise click.UsageError("--verify проверяет готовый набор: не указывайте с ним "
                                   "команду или файл для новой копии.", ctx)
        return
    if verify is None:
        raise click.UsageError("Укажите файл или папку для набора, --verify ФАЙЛ или prune.",
                               ctx)
    _verify(ctx, verify, scratch_url)


@backup.command("create", help="Сделать набор (то же, что medsign backup ФАЙЛ|ПАПКА).")
@config_option
@click.argument("target", type=click.Path())
@click.option("--metrics-file", type=click.Path(path_type=Path, dir_okay=False),
              help="После успешной копии записать её время и размер для Prometheus "
                   "(файл для textfile-коллектора node_exporter, *.prom).")
@click.pass_context
def create(ctx: click.Context, target: str, metrics_file: Path | None) -> None:
    from medsign.operations.backup_set import SetError, create_set
    settings = settings_from(ctx)
    places = _places(settings, config_in_use(ctx))
    try:
        if target.endswith(("/", os.sep)):  # a folder, maybe not there yet
            Path(target).mkdir(parents=True, exist_ok=True, mode=0o700)
        info = create_set(places, Path(target), progress=Progress)
    except OSError as exc:
        fail(ctx, f"Не удаётся создать папку {target}: {exc.strerror}")
    except SetError as exc:
        fail(ctx, str(exc))
    for note in info.skipped:
        click.echo(f"Предупреждение: {note}", err=True)
    roles = sorted({m.role for m in info.manifest.members})
    click.echo(f"Набор: {info.path} ({info.size} байт, элементов "
               f"{len(info.manifest.members)}: {', '.join(roles)}). В нём персональные данные "
               "и закрытые ключи: храните его так же бережно, как сам сервер.")
    if metrics_file is not None:
        _write_backup_metrics(ctx, metrics_file,
                              created=info.manifest.created_at.timestamp(), size=info.size)


def _write_backup_metrics(ctx: click.Context, path: Path, *, created: float,
                          size: int) -> None:
    """The last successful backup, in the text format node_exporter's textfile collector
    reads (written atomically by prometheus_client): the backup-age alert watches it."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
    registry = CollectorRegistry()
    Gauge("medsign_backup_last_success_timestamp_seconds",
          "When the last successful backup's snapshot was taken (Unix time)",
          registry=registry).set(created)
    Gauge("medsign_backup_size_bytes", "Size of the last successful backup",
          registry=registry).set(size)
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        fail(ctx, f"Копия сделана, но файл метрик {path} не записан: {exc.strerror}.")


def _verify(ctx: click.Context, path: Path, scratch_url: str | None) -> None:
    from medsign.operations.backup_set import check_contents
    server_url = scratch_url
    if server_url is None:
        try:
            server_url = load_settings(config_named(ctx)).database.url
        except ConfigError:
            server_url = None  # only a PostgreSQL set needs it; it says so then
    with _opened_set(ctx, path, "verify") as (manifest, folder):
        click.echo(f"Набор {path}: снят {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC на "
                   f"{manifest.host} (medsign {manifest.medsign_version}), элементов "
                   f"{len(manifest.members)}; контрольные суммы верны.")
        report = check_contents(manifest, folder, server_url=server_url,
                                progress=Progress)
    for line in report.lines:
        click.echo(f"  {line}")
    if report.problems:
        click.echo("Найдены проблемы:", err=True)
        for problem in report.problems:
            click.echo(f"  • {problem}", err=True)
        ctx.exit(1)
    click.echo("Набор в порядке: из него можно восстановиться.")


@backup.command("prune", help="Удалить старые наборы из папки, оставив по одному за каждый "
                              "из последних дней, недель и месяцев. Удаляются только файлы "
                              "вида medsign-ДАТА.tar с читаемым манифестом набора.")
@click.argument("folder", metavar="ПАПКА",
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--daily", type=click.IntRange(0, 10000), default=7, show_default=True,
              help="Сколько последних дней хранить (по набору за день).")
@click.option("--weekly", type=click.IntRange(0, 10000), default=4, show_default=True,
              help="Сколько последних недель хранить (по набору за неделю).")
@click.option("--monthly", type=click.IntRange(0, 10000), default=12, show_default=True,
              help="Сколько последних месяцев хранить (по набору за месяц).")
@click.option("--dry-run", is_flag=True, help="Только показать, что было бы удалено.")
@click.pass_context
def prune(ctx: click.Context, folder: Path, daily: int, weekly: int, monthly: int,
          dry_run: bool) -> None:
    from medsign.domain.retention import kept
    from medsign.operations.backup_set import SET_NAME, set_created_at
    sets: list[tuple[Path, datetime]] = []
    for path in sorted(folder.iterdir()):
        if not SET_NAME.match(path.name) or not path.is_file() or path.is_symlink():
            continue
        created = set_created_at(path)
        if created is None:
            click.echo(f"Пропущен {path}: имя как у набора, но манифест не читается — "
                       "не трогаю.", err=True)
            continue
        sets.append((path, created))
    keep = kept([created for _, created in sets], daily=daily, weekly=weekly, monthly=monthly)
    removed = 0
    for n, (path, created) in enumerate(sets):
        if n in keep:
            continue
        if dry_run:
            click.echo(f"Будет удалён: {path} (от {created:%Y-%m-%d %H:%M} UTC)")
        else:
            try:
                path.unlink()
            except OSError as exc:
                fail(ctx, f"Не удалось удалить {path}: {exc.strerror}")
            click.echo(f"Удалён: {path} (от {created:%Y-%m-%d %H:%M} UTC)")
        removed += 1
    what = "к удалению" if dry_run else "удалено"
    click.echo(f"Наборов в {folder}: {len(sets)}, хранится {len(sets) - removed}, "
               f"{what} {removed}.")


@click.command(cls=RussianCommand,
               help="Восстановить установку из набора: базу данных, ключи МО, доверенные "
                    "сертификаты и файл настроек. Сначала набор проверяется; работающие "
                    "процессы medsign и данные в базе не перезаписываются молча.")
@config_option
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Не спрашивать подтверждения.")
@click.option("--force", is_flag=True,
              help="Восстанавливать, даже если базой, по отметкам, пользуются работающие "
                   "serve или worker (только если они точно остановлены).")
@click.option("--no-reconcile", "skip_reconcile", is_flag=True,
              help="Не сверять транзакции с платформой сразу после восстановления "
                   "(тогда выполните medsign reconcile до запуска служб).")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Записать отчёт сверки в этот файл (JSON).")
@click.pass_context
def restore(ctx: click.Context, source: Path, yes: bool, force: bool, skip_reconcile: bool,
            report_path: Path | None) -> None:
    from medsign.operations.backup_set import SetError
    with _opened_set(ctx, source, "restore") as (manifest, folder):
        click.echo(f"Набор от {manifest.created_at:%Y-%m-%d %H:%M} UTC ({manifest.host}), "
                   f"схема {manifest.schema_revision}, контрольные суммы верны.")
        try:
            current = _restore(ctx, manifest, folder, yes=yes, force=force)
        except SetError as exc:
            fail(ctx, str(exc))
    if not current:
        click.echo("Сверка с платформой не выполнена: сначала «medsign migrate», затем "
                   "«medsign reconcile», и только потом запуск служб.")
    elif skip_reconcile:
        click.echo(RECONCILE_HINT)
    else:
        reconcile_after_restore(ctx, report_path)


def _restore(ctx: click.Context, manifest: Manifest, folder: Path, *, yes: bool,
             force: bool) -> bool:
    """Restores; whether the restored schema is this version's (reconcile needs it)."""
    from medsign.domain.liveness import refusal
    from medsign.operations.backup_set import (
        COUNTED,
        backend_of,
        config_member,
        place_missing,
        restore_config,
        restore_database,
        restore_files,
        target_state,
    )
    config_path = config_named(ctx) or DEFAULT_CONFIG_PATH
    set_config = config_member(manifest, folder)
    if set_config is not None and not config_path.exists():
        # A new machine: the set's file configures it, and names files the set holds.
        for line in place_missing(manifest, folder):
            click.echo(f"Размещено из набора: {line}")
        try:
            settings = load_settings(set_config)
        except ConfigError as exc:
            fail(ctx, f"Файла настроек {config_path} нет, а файл из набора здесь не "
                      "загружается: " + "; ".join(str(p) for p in exc.problems)
                 + ". Создайте файл настроек для этой машины (--config или MEDSIGN_CONFIG) "
                   "и повторите; ничего не изменено.")
    else:
        settings = _settings_to_restore_into(ctx)
    places = _places(settings, config_path)
    backend = backend_of(settings.database.url)
    if backend != manifest.backend:
        fail(ctx, f"Набор снят с базы {manifest.backend}, а database.url указывает на "
                  f"{backend}: восстанавливать можно только в базу того же типа.")
    now = datetime.now(UTC)
    state = target_state(settings.database.url)
    busy = refusal(state.processes, now)
    if busy and not force:
        fail(ctx, f"{busy}\nВосстановление не начато; ничего не изменено.")
    if busy:
        click.echo(f"Внимание (--force): {busy}", err=True)
    if state.counts:
        words = ", ".join(f"{COUNTED.get(t, t)}: {n}" for t, n in sorted(state.counts.items()))
        latest = (f"; последняя запись журнала {state.latest:%Y-%m-%d %H:%M} UTC"
                  if state.latest else "")
        click.echo(f"В базе, в которую восстанавливать, уже есть данные ({words}{latest}).")
        if not yes and not _confirmed("Текущие данные будут заменены данными из набора. "
                                      "Продолжить?"):
            click.echo("Восстановление отменено; ничего не изменено.", err=True)
            ctx.exit(1)
    restore_database(manifest, folder, settings.database.url, progress=Progress)
    click.echo("База данных восстановлена.")
    from medsign.db.migrate import head_revision
    current: bool = manifest.schema_revision == head_revision()
    if not current:
        click.echo(f"Схема базы из набора ({manifest.schema_revision}) не та, что у этой "
                   f"версии ({head_revision()}): выполните «medsign migrate» перед запуском "
                   "служб.")
    for line in restore_files(manifest, folder, places, stamp=now):
        click.echo(f"Восстановлено: {line}")
    written = restore_config(manifest, folder, config_path)
    if written is not None:
        click.echo(f"Настройки: {written[1]}.")
    try:
        load_settings(ctx.obj.get("config"))
    except ConfigError as exc:
        click.echo("Восстановлено, но настройки называют то, чего на этой машине нет:", err=True)
        for problem in exc.problems:
            click.echo(f"  • {problem}", err=True)
        click.echo("Исправьте их (medsign check-config), затем «medsign reconcile» — и только "
                   "потом запуск служб.", err=True)
        ctx.exit(1)
    return current


def _settings_to_restore_into(ctx: click.Context) -> Settings:
    """This machine's settings, where the files they name may not exist yet: the set brings
    the key store and the trust files to the places the settings give them."""
    try:
        return load_settings(ctx.obj.get("config"), check_files=False)
    except ConfigError as exc:
        refuse(ctx, exc.problems)


def _confirmed(question: str) -> bool:
    try:
        return click.confirm(question)
    except click.Abort:  # no answer (end of input, Ctrl-C): no
        click.echo()
        return False


def reconcile_after_restore(ctx: click.Context, report_path: Path | None) -> None:
    """What follows a restore, before any service starts: the transactions the platform
    finished, refused or started since the snapshot (``medsign reconcile``). The database is
    restored either way; exit 1 says that a person has work (or the platform could not be
    asked and the reconciliation must be repeated)."""
    from medsign.cli.reconcile import run_reconcile
    click.echo("Сверка незавершённых транзакций с платформой…")
    if run_reconcile(ctx, report_path=report_path) != 0:
        click.echo("База восстановлена, но сверка оставила работу: транзакции «решает "
                   "оператор» разберите в консоли; если платформа не ответила — повторите "
                   "«medsign reconcile» до запуска служб.", err=True)
        ctx.exit(1)
