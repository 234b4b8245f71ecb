"""``medsign webhooks``: the webhook endpoints of an API client (the МИС) — the same service
as the REST API (``medsign.webhooks.service``), named by the client's name."""

from __future__ import annotations

from typing import Any

import click

from medsign.cli.base import RussianGroup, config_option, in_session, settings_from

EVENT_TYPES = ("signing_request.state_changed", "signing_request.completed",
               "signing_request.refused", "signing_request.expired", "signing_request.failed",
               "invitation.sent", "invitation.answered", "max_account.linked")


@click.group("webhooks", cls=RussianGroup,
             help="Адреса МИС для событий (Standard Webhooks): добавить, показать, сменить "
                  "секрет, отключить, включить.")
def webhooks() -> None:
    pass


@webhooks.command("create", help="Добавить адрес. В stdout печатается только секрет подписи.")
@config_option
@click.option("--client", required=True, help="Имя API-клиента (как в api-token list).")
@click.option("--url", required=True, help="Адрес МИС; в production только https://.")
@click.option("--event", "events", multiple=True, required=True,
              type=click.Choice(EVENT_TYPES), help="Тип событий (можно несколько раз).")
@click.option("--description", default=None, help="Описание (до 200 символов).")
@click.pass_context
def webhooks_create(ctx: click.Context, client: str, url: str, events: tuple[str, ...],
                    description: str | None) -> None:
    from medsign.webhooks import service
    targets = service.webhook_targets(settings_from(ctx))

    def create(db: Any, now: Any) -> service.WithSecret:
        owner = service.client_by_name(db, client)
        return service.create(db, api_client_id=owner.id, url=url, event_types=list(events),
                              description=description, targets=targets, actor="cli",
                              now=now)

    made = in_session(ctx, create)
    click.echo(f"Адрес {made.endpoint.id} для «{client}» добавлен; сохраните секрет — он "
               "больше не будет показан.", err=True)
    click.echo(made.secret)


@webhooks.command("list", help="Показать адреса клиента (без секретов).")
@config_option
@click.option("--client", required=True, help="Имя API-клиента.")
@click.pass_context
def webhooks_list(ctx: click.Context, client: str) -> None:
    from medsign.webhooks import service
    rows = in_session(ctx, lambda db, _now: service.list_for_client(
        db, service.client_by_name(db, client).id))
    for row in rows:
        state = "действует" if row.state == "active" else \
            f"отключён {row.disabled_at:%Y-%m-%d %H:%M} UTC: {row.disabled_reason}"
        click.echo(f"{row.id}\t{row.url}\t{','.join(row.event_types)}\t{state}")


@webhooks.command("rotate-secret", help="Новый секрет подписи; печатается только он.")
@config_option
@click.argument("endpoint_id")
@click.pass_context
def webhooks_rotate(ctx: click.Context, endpoint_id: str) -> None:
    from medsign.webhooks import service
    made = in_session(ctx, lambda db, now: service.rotate(
        db, api_client_id=None, endpoint_id=endpoint_id, actor="cli", now=now))
    click.echo("Секрет сменён; сохраните новый — он больше не будет показан.", err=True)
    click.echo(made.secret)


@webhooks.command("disable", help="Отключить адрес: доставки в него остановятся.")
@config_option
@click.argument("endpoint_id")
@click.option("--reason", required=True, help="Почему отключаете (видно в консоли и API).")
@click.pass_context
def webhooks_disable(ctx: click.Context, endpoint_id: str, reason: str) -> None:
    from medsign.webhooks import service
    in_session(ctx, lambda db, now: service.disable(
        db, api_client_id=None, endpoint_id=endpoint_id, reason=reason, actor="cli", now=now))
    click.echo(f"Адрес {endpoint_id} отключён.")


@webhooks.command("enable", help="Включить адрес снова.")
@config_option
@click.argument("endpoint_id")
@click.pass_context
def webhooks_enable(ctx: click.Context, endpoint_id: str) -> None:
    from medsign.webhooks import service
    in_session(ctx, lambda db, now: service.enable(
        db, api_client_id=None, endpoint_id=endpoint_id, actor="cli", now=now))
    click.echo(f"Адрес {endpoint_id} включён.")
