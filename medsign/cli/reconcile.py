"""``medsign reconcile``: the signing transactions against the platform after a restore."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import click

from medsign.cli.base import (
    Progress,
    RussianCommand,
    config_option,
    container_from,
    require_schema,
)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def usage(ctx: click.Context, message: str) -> None:
    click.echo(f"Ошибка: {message}", err=True)
    ctx.exit(2)


@click.command(cls=RussianCommand,
               help="Сверить транзакции подписания с платформой Госключа после восстановления "
                    "базы из резервной копии: продолжить, завершить по ответу платформы или "
                    "передать оператору (docs/reconcile.md). Код выхода 0 — всё продолжено "
                    "или завершено, 1 — нужно решение оператора или платформа не ответила, "
                    "2 — ошибка в параметрах или настройках.")
@config_option
@click.option("--journal", "journals", multiple=True,
              type=click.Path(path_type=Path, file_okay=True),
              help="Каталог журнала транзакций (можно указать несколько раз). По умолчанию — "
                   "signing.transaction_journal.")
@click.option("--since", "since_text", metavar="ВРЕМЯ",
              help="Брать из журнала только транзакции не раньше этого времени (ISO 8601, "
                   "UTC, если пояс не указан: 2026-12-01 или 2026-12-01T08:00). По умолчанию — "
                   "все.")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Записать отчёт в этот файл (JSON).")
@click.option("--dry-run", is_flag=True,
              help="Только спросить платформу и показать решения; ничего не менять.")
@click.pass_context
def reconcile(ctx: click.Context, journals: tuple[Path, ...], since_text: str | None,
              report_path: Path | None, dry_run: bool) -> None:
    since = _since(since_text)
    if since_text is not None and since is None:
        usage(ctx, f"--since «{since_text}»: ожидается время ISO 8601, например 2026-12-01 "
                   "или 2026-12-01T08:00.")
    ctx.exit(run_reconcile(ctx, journals=journals, since=since, report_path=report_path,
                           dry_run=dry_run))


def run_reconcile(ctx: click.Context, *, journals: tuple[Path, ...] = (),
                  since: datetime | None = None, report_path: Path | None = None,
                  dry_run: bool = False) -> int:
    """The reconciliation with its output; the exit code it earns (0 or 1; a usage error
    exits 2 here). ``restore`` calls this right after a successful restore."""
    from medsign.signing import journal as transaction_journal
    from medsign.signing import reconcile as reconciliation
    for folder in journals:
        if not folder.is_dir():
            usage(ctx, f"--journal {folder}: каталога журнала транзакций нет. Укажите "
                       "существующий каталог.")
    if report_path is not None and not report_path.parent.is_dir():
        usage(ctx, f"--report {report_path}: нет каталога {report_path.parent}.")
    container = container_from(ctx)
    require_schema(ctx, container)
    folders = list(journals) or [container.transaction_journal()]
    if not journals and not folders[0].is_dir():
        click.echo(f"Журнала транзакций {folders[0]} нет: проверяются только запросы из базы.",
                   err=True)
    read = transaction_journal.read(folders, since=since)
    for damaged in read.damaged:
        click.echo(f"Журнал: {damaged}", err=True)
    runner = container.settings.runner

    async def run() -> reconciliation.Report:
        asking = reconciliation.Asking(client=container.goskey_client(),
                                       limiter=container.rate_limiter(),
                                       attempts=min(3, runner.max_attempts),
                                       backoff_base=runner.backoff_base,
                                       backoff_cap=runner.backoff_cap)
        try:
            with Progress("Сверка с платформой") as progress:
                return await reconciliation.reconcile(
                    container.engine, asking, read, clock=container.clock, dry_run=dry_run,
                    progress=progress)
        finally:
            await container.close_clients()

    report = asyncio.run(run())
    for finding in report.findings:
        click.echo(f"• {finding.line()}")
    for line in reconciliation.summary(report):
        click.echo(line)
    if report_path is not None:
        _write_report(ctx, report_path, report.to_json())
    return report.exit_code


def _write_report(ctx: click.Context, path: Path, body: object) -> None:
    """Through a temporary file beside it: a half-written report never takes the name."""
    partial = path.with_name(f".{path.name}.part")
    try:
        partial.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n",
                           encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        click.echo(f"Ошибка: сверка выполнена, но отчёт {path} не записан: {exc.strerror}.",
                   err=True)
        ctx.exit(1)
    click.echo(f"Отчёт: {path}")
