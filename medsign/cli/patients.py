"""``patient-account``: patient password accounts of the portal (``accounts.patient_accounts``):
create, list, disable, enable, reset, link. Exit codes as everywhere: 1 when the operation is
refused (the reason on stderr), 2 for a problem with the configuration or the arguments."""

from __future__ import annotations

import sys
from typing import Any

import click

from medsign.cli.base import RussianGroup, config_option, in_session, settings_from


@click.group("patient-account", cls=RussianGroup,
             help="Учётные записи пациентов портала (логин, почта, пароль).")
def patient_account() -> None:
    pass


def person_options(fn: Any) -> Any:
    """The person's details, checked by documents: the same rule as a sign-in through ESIA
    links the records they match."""
    for option in reversed((
            click.option("--last-name", required=True, help="Фамилия."),
            click.option("--first-name", required=True, help="Имя."),
            click.option("--middle-name", default="", help="Отчество."),
            click.option("--birth-date", required=True, help="Дата рождения: ДД.ММ.ГГГГ."),
            click.option("--snils", default="", help="СНИЛС (XXX-XXX-XXX YY)."),
            click.option("--phone", default="",
                         help="Подтверждённый мобильный телефон (+7XXXXXXXXXX)."))):
        fn = option(fn)
    return fn


def _person(last_name: str, first_name: str, middle_name: str, birth_date: str, snils: str,
            phone: str) -> Any:
    """The details as the service takes them (a bad date is refused there, exit code 1)."""
    from medsign.accounts.patient_accounts import birth_date_of
    from medsign.domain.patient_accounts import PersonDetails
    return PersonDetails(last_name=last_name, first_name=first_name,
                         middle_name=middle_name or None, birth_date=birth_date_of(birth_date),
                         snils=snils or None, phone=phone or None)


def _mailing(ctx: click.Context) -> Any:
    from medsign.accounts.patient_accounts import Mailing
    settings = settings_from(ctx)
    return Mailing(enabled=settings.email.enabled, ttl=settings.email.reset_link_ttl,
                   link_base=settings.server.public_url)


@patient_account.command("create", help="Создать учётную запись и привязать все карты пациента, "
                         "совпавшие с данными человека (правило входа через Госуслуги).")
@config_option
@click.option("--login", required=True, help="Логин: латинские буквы, цифры, точка, дефис.")
@click.option("--email", default="", help="Электронная почта (для ссылки на новый пароль).")
@click.option("--full-name", default="", help="ФИО для страниц; пусто — из фамилии, имени, "
                                              "отчества.")
@person_options
@click.option("--password-stdin", is_flag=True, help="Прочитать пароль из stdin (одна строка).")
@click.option("--send-link", is_flag=True,
              help="Без пароля: отправить пациенту на почту ссылку, чтобы он задал его сам.")
@click.pass_context
def create(ctx: click.Context, login: str, email: str, full_name: str, last_name: str,
           first_name: str, middle_name: str, birth_date: str, snils: str, phone: str,
           password_stdin: bool, send_link: bool) -> None:
    from medsign.accounts import patient_accounts, portal
    if password_stdin and send_link:
        raise click.UsageError("--password-stdin и --send-link вместе не задаются.")
    password = (None if send_link else sys.stdin.readline().rstrip("\r\n") if password_stdin
                else click.prompt("Пароль", hide_input=True,
                                  confirmation_prompt="Пароль ещё раз"))
    demo = settings_from(ctx).profile == "demo"
    mailing = _mailing(ctx)

    def run(db: Any, now: Any) -> Any:
        who = _person(last_name, first_name, middle_name, birth_date, snils, phone)
        new = patient_accounts.NewAccount(login=login, email=email or None, full_name=full_name,
                                          password=password, person=who)
        row = patient_accounts.create(db, new=new, mailing=mailing, allow_demo_password=demo,
                                      actor="cli", now=now)
        return row.login, len(portal.patients_of(db, row.id))
    name, records = in_session(ctx, run)
    sent = " Ссылка для пароля отправлена на почту." if send_link else ""
    click.echo(f"Учётная запись «{name}» создана; привязано карт: {records}.{sent}")


@patient_account.command("list", help="Показать учётные записи: логин, почта, состояние, "
                         "карты по МО, последний вход, ФИО.")
@config_option
@click.option("--search", default="", help="Часть логина, почты или ФИО.")
@click.pass_context
def list_(ctx: click.Context, search: str) -> None:
    from medsign.accounts import patient_accounts
    rows = in_session(ctx, lambda db, _now: patient_accounts.list_accounts(db, search=search))
    for a in rows:
        records = "; ".join(f"{org} ({ext})" for org, ext in a.records) or "-"
        last = f"{a.last_login_at:%Y-%m-%d %H:%M}" if a.last_login_at else "-"
        click.echo(f"{a.login or '-'}\t{a.email or '-'}\t{a.state}\t{records}\t{last}\t"
                   f"{a.full_name}")


@patient_account.command("disable", help="Отключить учётную запись: вход запрещён, сеансы "
                         "завершаются сразу.")
@config_option
@click.argument("account", metavar="ЛОГИН_ИЛИ_ПОЧТА")
@click.pass_context
def disable(ctx: click.Context, account: str) -> None:
    from medsign.accounts import patient_accounts
    in_session(ctx, lambda db, now: patient_accounts.disable(db, name=account, actor="cli",
                                                             now=now))
    click.echo(f"Учётная запись «{account}» отключена; её сеансы завершены.")


@patient_account.command("enable", help="Снова включить отключённую учётную запись.")
@config_option
@click.argument("account", metavar="ЛОГИН_ИЛИ_ПОЧТА")
@click.pass_context
def enable(ctx: click.Context, account: str) -> None:
    from medsign.accounts import patient_accounts
    in_session(ctx, lambda db, now: patient_accounts.enable(db, name=account, actor="cli",
                                                            now=now))
    click.echo(f"Учётная запись «{account}» включена.")


@patient_account.command("reset", help="Сбросить пароль: прежний перестаёт действовать, сеансы "
                         "завершаются, на почту пациента уходит ссылка для нового пароля.")
@config_option
@click.argument("account", metavar="ЛОГИН_ИЛИ_ПОЧТА")
@click.pass_context
def reset(ctx: click.Context, account: str) -> None:
    from medsign.accounts import patient_accounts
    mailing = _mailing(ctx)
    in_session(ctx, lambda db, now: patient_accounts.reset(db, name=account, mailing=mailing,
                                                           actor="cli", now=now))
    click.echo(f"Пароль «{account}» сброшен; ссылка для нового пароля отправлена на почту.")


@patient_account.command("link", help="Сопоставить учётную запись с картами заново по данным "
                         "человека: совпавшие карты добавляются, несовпавшие отвязываются.")
@config_option
@click.argument("account", metavar="ЛОГИН_ИЛИ_ПОЧТА")
@person_options
@click.pass_context
def link(ctx: click.Context, account: str, last_name: str, first_name: str, middle_name: str,
         birth_date: str, snils: str, phone: str) -> None:
    from medsign.accounts import patient_accounts
    added, dropped = in_session(ctx, lambda db, now: patient_accounts.relink(
        db, name=account, actor="cli", now=now,
        person=_person(last_name, first_name, middle_name, birth_date, snils, phone)))
    click.echo(f"Учётная запись «{account}»: карт добавлено {len(added)}, "
               f"отвязано {len(dropped)}.")
