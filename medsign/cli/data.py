"""The database as a file: ``backup`` and ``restore``."""

from __future__ import annotations

from pathlib import Path

import click

from medsign.cli.base import Progress, RussianCommand, config_option, fail, settings_from


@click.command(cls=RussianCommand,
               help="Сделать согласованную резервную копию работающей базы данных.")
@config_option
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def backup(ctx: click.Context, target: Path) -> None:
    from medsign.db.backup import BackupError, create_backup
    settings = settings_from(ctx)
    with Progress("Копирование") as progress:
        try:
            info = create_backup(settings.database.url, target, progress=progress)
        except BackupError as exc:
            fail(ctx, str(exc))
    click.echo(f"Резервная копия: {info.path} ({info.size} байт, SHA-256 {info.sha256}).")


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
