"""Administration: API tokens of client systems (``api-token``), staff accounts (``user``).
The МО keys (``keys``) are in :mod:`medsign.cli.keys`."""

from __future__ import annotations

import sys

import click

from medsign.cli.base import (
    RussianGroup,
    config_option,
    in_session,
    settings_from,
)


@click.group("api-token", cls=RussianGroup, help="Токены клиентских систем (МИС) для REST API.")
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
    new = in_session(ctx, lambda db, now: api_clients.create(
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
    rows = in_session(ctx, lambda db, _now: api_clients.list_all(db))
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
    in_session(ctx, lambda db, now: api_clients.revoke(db, name=name, actor="cli", now=now))
    click.echo(f"Токен клиента «{name}» отозван.")


@click.group("user", cls=RussianGroup,
             help="Учётные записи сотрудников для веб-страниц (АРМ врача, консоль).")
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
    demo = settings_from(ctx).profile == "demo"
    new = staff.NewUser(login=login, full_name=full_name, role=role, organization=organization,
                        password=password)
    in_session(ctx, lambda db, now: staff.create(db, user=new, allow_demo_password=demo,
                                                  actor="cli", now=now))
    click.echo(f"Пользователь «{staff.normalize_login(login)}» создан.")


@user.command("doctor-id", help="Указать врачу его идентификатор в МИС его МО (для «Мои "
              "пациенты» в АРМ врача); пустая строка снимает его.")
@config_option
@click.option("--login", required=True, help="Логин врача.")
@click.option("--doctor-id", required=True, help="Идентификатор врача в МИС.")
@click.pass_context
def user_doctor_id(ctx: click.Context, login: str, doctor_id: str) -> None:
    from medsign.accounts import staff
    wanted = doctor_id.strip() or None
    in_session(ctx, lambda db, now: staff.set_doctor_id(db, login=login, doctor_id=wanted,
                                                         actor="cli", now=now))
    click.echo(f"Идентификатор врача в МИС для «{staff.normalize_login(login)}» "
               f"{'указан' if doctor_id.strip() else 'снят'}.")


@user.command("list", help="Показать сотрудников: логин, роль, МО, ФИО.")
@config_option
@click.pass_context
def user_list(ctx: click.Context) -> None:
    from medsign.accounts import staff
    for u in in_session(ctx, lambda db, _now: staff.list_all(db)):
        click.echo(f"{u.login}\t{u.role.value}\t{u.organization_code or '-'}\t{u.full_name}")


@user.command("disable", help="Отключить сотрудника: войти он не сможет, его сеансы завершатся.")
@config_option
@click.option("--login", required=True, help="Логин сотрудника.")
@click.pass_context
def user_disable(ctx: click.Context, login: str) -> None:
    from medsign.accounts import staff
    in_session(ctx, lambda db, now: staff.set_disabled(db, login=login, disabled=True,
                                                        actor="cli", now=now))
    click.echo(f"Пользователь «{staff.normalize_login(login)}» отключён.")


@user.command("enable", help="Снова допустить отключённого сотрудника.")
@config_option
@click.option("--login", required=True, help="Логин сотрудника.")
@click.pass_context
def user_enable(ctx: click.Context, login: str) -> None:
    from medsign.accounts import staff
    in_session(ctx, lambda db, now: staff.set_disabled(db, login=login, disabled=False,
                                                        actor="cli", now=now))
    click.echo(f"Пользователь «{staff.normalize_login(login)}» снова может входить.")


@user.command("role", help="Изменить роль сотрудника (и МО врача).")
@config_option
@click.option("--login", required=True, help="Логин сотрудника.")
@click.option("--role", required=True, type=click.Choice(["doctor", "operator", "admin"]),
              help="Новая роль.")
@click.option("--organization", metavar="CODE", help="Код МО врача (только для doctor).")
@click.pass_context
def user_role(ctx: click.Context, login: str, role: str, organization: str | None) -> None:
    from medsign.accounts import staff
    in_session(ctx, lambda db, now: staff.change_role(db, login=login, role=role,
                                                       organization=organization,
                                                       actor="cli", now=now))
    click.echo(f"Роль пользователя «{staff.normalize_login(login)}» изменена.")
