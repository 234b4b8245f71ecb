"""The database as a file: ``backup`` and ``restore``."""

from __future__ import annotations

from pathlib import Path

import click

from medsign.cli.base import Progress, RussianCommand, config_option, fail, settings_from


@click.command(cls=RussianCommand,
               help="Сделать согласованную резервную копию работающей базы данных.")
@config_option
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--metrics-file", type=click.Path(path_type=Path, dir_okay=False),
              help="После успешной копии записать её время и размер для Prometheus "
                   "(файл для textfile-коллектора node_exporter, *.prom).")
@click.pass_context
def backup(ctx: click.Context, target: Path, metrics_file: Path | None) -> None:
    from medsign.db.backup import BackupError, create_backup
    settings = settings_from(ctx)
    with Progress("Копирование") as progress:
        try:
            info = create_backup(settings.database.url, target, progress=progress)
        except BackupError as exc:
            fail(ctx, str(exc))
    click.echo(f"Резервная копия: {info.path} ({info.size} байт, SHA-256 {info.sha256}).")
    if metrics_file is not None:
        _write_backup_metrics(ctx, metrics_file, created=info.created_at.timestamp(),
                              size=info.size)


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


@click.command(cls=RussianCommand,
               help="Восстановить базу данных из резервной копии (с проверкой контрольной суммы).")
@config_option
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Не спрашивать подтверждения.")
@click.pass_context
def restore(ctx: click.Context, source: Path, yes: bool) -> None:
    from medsign.db.backup import BackupError, restore_backup, verify_backup
    settings = settings_from(ctx)
    try:
        info = verify_backup(source)
    except BackupError as exc:
        fail(ctx, str(exc))
    click.echo(f"Копия от {info.created_at:%Y-%m-%d %H:%M} UTC, схема {info.schema_revision}, "
               "контрольная сумма верна.")
    if not yes and not click.confirm("Текущие данные будут заменены. Продолжить?"):
        ctx.exit(1)
    with Progress("Восстановление") as progress:
        try:
            restore_backup(source, settings.database.url, progress=progress)
        except BackupError as exc:
            fail(ctx, str(exc))
    click.echo("База данных восстановлена.")
