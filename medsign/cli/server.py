"""Running the service: ``check-config``, ``migrate``, ``serve``, ``worker``."""

from __future__ import annotations

import asyncio
import math

import click

from medsign.cli.base import (
    RussianCommand,
    config_option,
    container_from,
    require_schema,
    run_until_signal,
    service_container,
    settings_to_run,
    settle_start_up,
)
from medsign.config import (
    describe_settings,
    settings_warnings,
)


@click.command("check-config", cls=RussianCommand,
               help="Проверить файл настроек и показать все найденные проблемы.")
@config_option
@click.option("--show", is_flag=True, help="Показать итоговые значения (секреты скрыты).")
@click.pass_context
def check_config(ctx: click.Context, show: bool) -> None:
    settings = settings_to_run(ctx)
    for warning in settings_warnings(settings):
        click.echo(f"Предупреждение: {warning}", err=True)
    if show:
        for key, value in describe_settings(settings):
            click.echo(f"{key} = {value}")
    click.echo(f"Настройки в порядке (профиль «{settings.profile}»).")


@click.command(cls=RussianCommand,
               help="Применить миграции базы данных (создать или обновить схему).")
@config_option
@click.pass_context
def migrate(ctx: click.Context) -> None:
    from medsign.db import migrate as db_migrate
    container = container_from(ctx)
    before = db_migrate.current_revision(container.engine)
    db_migrate.upgrade(container.engine)
    after = db_migrate.current_revision(container.engine)
    click.echo(f"Схема базы данных: {before or 'пусто'} → {after}.")


@click.command(cls=RussianCommand,
               help="Запустить веб-сервис: REST API, вебхук MAX, страницы, /metrics.")
@config_option
@click.option("--host", help="Адрес (по умолчанию server.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Порт (по умолчанию server.port).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    import uvicorn
    container = service_container(ctx)
    require_schema(ctx, container)
    server = container.settings.server
    # keep-alive longer than the proxy's (nginx closes idle upstream connections first: a
    # server that closes them races nginx reusing one, and nginx counts that as a failure)
    app = container.app(register=True)
    settle_start_up()
    uvicorn.run(app, host=host or server.host, port=port or server.port,
                log_config=None, access_log=False,
                timeout_keep_alive=math.ceil(server.keep_alive.total_seconds()),
                timeout_graceful_shutdown=math.ceil(server.shutdown_grace.total_seconds()))


@click.command(cls=RussianCommand,
               help="Запустить обработчик фоновой работы (можно запускать несколько).")
@config_option
@click.option("--concurrency", type=click.IntRange(1, 256),
              help="Сколько шагов выполнять одновременно (по умолчанию runner.concurrency).")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Отдавать метрики Prometheus обработчика на этом порту.")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, metrics_port: int | None) -> None:
    container = service_container(ctx)
    require_schema(ctx, container)
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
    with container.presence("worker"):
        settle_start_up()
        asyncio.run(run_until_signal(work, lambda: click.echo(started, err=True)))
