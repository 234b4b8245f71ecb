"""The demo stand and the emulators (``demo``, ``emulate goskey|max``); both need the
``emulators`` extra."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from medsign.cli.base import (
    RussianCommand,
    RussianGroup,
    config_option,
    require_emulators,
    settings_from,
)


@click.command(cls=RussianCommand,
               help="Демонстрационный стенд: сервис, обработчик, эмуляторы и демо-данные на "
                    "SQLite. Всё состояние — в одной папке (--state-dir); остановка — Ctrl+C.")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Адрес веб-сервиса.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Порт веб-сервиса.")
@click.option("--goskey-port", default=8100, show_default=True,
              type=click.IntRange(1, 65535), help="Порт эмулятора платформы подписания.")
@click.option("--max-port", default=8200, show_default=True, type=click.IntRange(1, 65535),
              help="Порт эмулятора MAX.")
@click.option("--esia-port", default=8300, show_default=True, type=click.IntRange(1, 65535),
              help="Порт эмулятора ЕСИА (Госуслуги).")
@click.option("--state-dir", default="var/demo", show_default=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Папка всего состояния стенда: база, ключи разработки, эмуляторы.")
@click.option("--database", help="База данных стенда (по умолчанию <state-dir>/demo.db).")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, goskey_port: int, max_port: int,
         esia_port: int, state_dir: Path, database: str | None) -> None:
    require_emulators()
    from medsign import demo as demo_mod
    ports = demo_mod.Ports(host=host, api=port, goskey=goskey_port, max=max_port, esia=esia_port)
    problems = demo_mod.port_problems(ports)
    if problems:
        for problem in problems:
            click.echo(f"Ошибка: {problem}.", err=True)
        ctx.exit(1)
    state = demo_mod.State(state_dir)
    state.folder.mkdir(parents=True, exist_ok=True)
    settings = demo_mod.demo_settings(settings_from(ctx), database=database or state.database,
                                      ports=ports)
    container = demo_mod.container_for(settings, state)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C once the servers and worker stopped
        asyncio.run(demo_mod.run(container, ports=ports, state=state,
                                 announce=lambda text: click.echo(text, err=True)))
    click.echo("Демо-стенд остановлен.", err=True)


@click.group(cls=RussianGroup,
             help="Эмуляторы внешних систем для разработки, тестов и демонстрации (нужно "
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
    require_emulators()
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
    require_emulators()
    from medsign.integrations.max.emulator import run
    click.echo(f"Эмулятор MAX: API http://{host}:{port}, телефон http://{host}:{port}/_emulator/",
               err=True)
    run(host, port, token, state_dir=state_dir, bot_username=bot_username,
        rate_limit_rps=None if no_rate_limit else rate_limit,
        insecure_webhooks=insecure_webhooks, webhook_time_scale=webhook_time_scale)
