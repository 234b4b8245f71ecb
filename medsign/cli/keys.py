"""``medsign keys``: the МО signing identities in the key store — import, list, check — and
development keys (``init``). Exit codes: 0 done (``check``: no problem), 1 refused or a problem
found, 2 a mistake in the configuration or the arguments."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from medsign.cli.base import RussianGroup, config_option, container_from, fail, in_session

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from medsign.domain.mo_identity import Requisites
    from medsign.domain.signing_identity import CertificateFacts, IdentityStatus
    from medsign.signing.identities import StoredIdentity
    from medsign.signing.signers import ConfiguredSigners

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True, readable=True)


@click.group(cls=RussianGroup, help="Ключи и сертификаты подписи медицинских организаций.")
def keys() -> None:
    pass


@keys.command("init", help="Сделать ключ и сертификат разработки для МО (и тестовый УЦ, "
              "если его ещё нет). Не для промышленной эксплуатации.")
@config_option
@click.option("--organization", "code", required=True, metavar="CODE",
              help="Код МО (она должна быть загружена через API).")
@click.pass_context
def keys_init(ctx: click.Context, code: str) -> None:
    from medsign.signing.signers import development_keys
    container = container_from(ctx)
    if container.settings.profile == "production":
        fail(ctx, "ключи разработки запрещены в профиле production: импортируйте ключ и "
                  "сертификат МО командой «medsign keys import».")
    mo = _requisites(ctx, code)[0]
    ca, key, cert = development_keys(container.key_store(), code=mo.code, name=mo.name,
                                     ogrn=mo.ogrn, inn=mo.inn)
    click.echo(f"Тестовый УЦ: {ca}\nКлюч МО: {key}\nСертификат МО: {cert}")


@keys.command("import", help="Добавить МО ключ и сертификат (или контейнер PKCS#12, или только "
              "сертификат для signer = external). Всё проверяется до записи; прежние ключи МО "
              "остаются, новые подписи делает самый новый действующий.")
@config_option
@click.option("--organization", "code", required=True, metavar="CODE",
              help="Код МО (или esia.key_code — ключ системы-клиента ЕСИА).")
@click.option("--key", type=_FILE, help="Закрытый ключ ГОСТ (PKCS#8, PEM или DER).")
@click.option("--certificate", type=_FILE, help="Сертификат МО (PEM или DER).")
@click.option("--pkcs12", type=_FILE, help="Контейнер PKCS#12 с ключом и сертификатом.")
@click.option("--password-file", type=_FILE,
              help="Файл с паролем PKCS#12 (одна строка); иначе — MEDSIGN_KEY_PASSWORD_<КОД>.")
@click.pass_context
def keys_import(ctx: click.Context, code: str, key: Path | None, certificate: Path | None,
                pkcs12: Path | None, password_file: Path | None) -> None:
    from medsign.signing.key_import import ImportRefused, Source, import_identity
    _check_sources(ctx, key, certificate, pkcs12, password_file)
    container = container_from(ctx)
    mo = _requisites(ctx, code)[0]
    signers = container.signers()
    trust, trust_problem = signers.trust()
    password = _password(ctx, code, password_file) if pkcs12 else None
    source = Source(certificate=certificate, key=key, pkcs12=pkcs12, password=password)
    now = datetime.now(UTC)
    try:
        imported = import_identity(container.key_store(), mo, source,
                                   signer=container.settings.signing.signer, trust=trust,
                                   trust_problem=trust_problem, now=now)
    except ImportRefused as exc:
        fail(ctx, f"ключ МО «{mo.name}» ({mo.code}) не импортирован: {exc.message}")
        return
    click.echo(f"Импортирован сертификат МО «{mo.name}» ({mo.code}) в {imported.folder}")
    _describe(imported.certificate, now)
    if imported.state.value == "not_yet_valid":
        click.echo(f"  Сертификат ещё не действует: начнёт "
                   f"{imported.certificate.not_before:%d.%m.%Y %H:%M} UTC; до тех пор "
                   "подписывает прежний.")
    if pkcs12 is not None:
        _warn_runtime_password(signers, code)
    _in_use(signers.status(mo.code, name=mo.name, ogrn=mo.ogrn, inn=mo.inn, now=now), mo)


@keys.command("list", help="Показать ключи МО: МО, субъект, серийный номер, издатель, срок, "
              "дней осталось, состояние; «*» — ключ, которым подписываются новые документы.")
@config_option
@click.option("--organization", "code", metavar="CODE", help="Только эта МО.")
@click.pass_context
def keys_list(ctx: click.Context, code: str | None) -> None:
    signers = container_from(ctx).signers()
    now = datetime.now(UTC)
    click.echo("\t".join(("", "МО", "Ключ", "Субъект", "Серийный номер", "Издатель",
                          "Действует с", "Действует по", "Дней", "Состояние")))
    for mo in _requisites(ctx, code):
        identities = signers.identities(mo.code, name=mo.name, ogrn=mo.ogrn, inn=mo.inn)
        chosen, status = signers.choose(identities, mo, now)
        if not identities:
            click.echo("\t".join(("", mo.code, "—", "", "", "", "", "", "", status.state.label)))
        for identity in identities:
            click.echo(_row(mo, identity, in_use=chosen is not None
                            and chosen.name == identity.name, signers=signers, now=now))


@keys.command("check", help="Проверить ключи всех МО (права, цепочку до УЦ, реквизиты, сроки) "
              "и назвать каждую проблему. Код выхода 1, если проблема есть.")
@config_option
@click.pass_context
def keys_check(ctx: click.Context) -> None:
    from medsign.signing.identities import store_problem
    container = container_from(ctx)
    signers = container.signers()
    now = datetime.now(UTC)
    problems = [p for p in (store_problem(container.key_store()), signers.trust()[1]) if p]
    organizations = _requisites(ctx, None)
    for mo in organizations:
        problems += _mo_problems(signers, mo, now)
    for problem in problems:
        click.echo(f"Ошибка: {problem}", err=True)
    if problems:
        ctx.exit(1)
    click.echo(f"Ключи МО в порядке: {len(organizations)} МО.")


def _mo_problems(signers: ConfiguredSigners, mo: Requisites, now: datetime) -> list[str]:
    from medsign.domain.mo_identity import unable
    identities = signers.identities(mo.code, name=mo.name, ogrn=mo.ogrn, inn=mo.inn)
    _, status = signers.choose(identities, mo, now)
    who = f"МО «{mo.name}» ({mo.code})"
    if status.state.value == "expiring":
        click.echo(f"Предупреждение: у {who} сертификат истекает через {status.days_left} дн.: "
                   "импортируйте новый (medsign keys import)", err=True)
    found = [] if status.usable else [unable(mo, status)]
    found += [f"{who}, ключ «{i.name}»: {i.problem}" for i in identities
              if i.problem and i.problem not in status.reason]
    return found


def _row(mo: Requisites, identity: StoredIdentity, *, in_use: bool,
         signers: ConfiguredSigners, now: datetime) -> str:
    from medsign.domain.mo_identity import judge
    candidate = identity.candidate
    state, days = judge(candidate, now=now, warning=signers.expiry_warning)
    facts = candidate.certificate
    cells = [facts.subject, facts.serial, facts.issuer, f"{facts.not_before:%d.%m.%Y}",
             f"{facts.not_after:%d.%m.%Y}", str(days)] if facts else [""] * 6
    label = state.label + (f": {identity.problem}" if identity.problem else "")
    return "\t".join(("*" if in_use else "", mo.code, identity.name, *cells, label))


def _describe(facts: CertificateFacts, now: datetime) -> None:
    days = (facts.not_after - now).days
    click.echo(f"  Субъект: {facts.subject}\n  Серийный номер: {facts.serial}\n"
               f"  Издатель: {facts.issuer}\n  Отпечаток (SHA-1): {facts.thumbprint}\n"
               f"  Действует: с {facts.not_before:%d.%m.%Y %H:%M} по "
               f"{facts.not_after:%d.%m.%Y %H:%M} UTC (осталось {days} дн.)")


def _in_use(status: IdentityStatus, mo: Requisites) -> None:
    from medsign.domain.mo_identity import unable
    if status.usable and status.certificate is not None:
        click.echo(f"Новые подписи МО «{mo.name}» делает сертификат {status.certificate.serial} "
                   f"(действует по {status.certificate.not_after:%d.%m.%Y}).")
    else:
        click.echo(f"Подписывать пока нечем: {unable(mo, status)}")


def _check_sources(ctx: click.Context, key: Path | None, certificate: Path | None,
                   pkcs12: Path | None, password_file: Path | None) -> None:
    if pkcs12 is not None and (key or certificate):
        raise click.UsageError("укажите либо --pkcs12, либо --key с --certificate", ctx)
    if pkcs12 is None and certificate is None:
        raise click.UsageError("укажите --certificate (с --key) или --pkcs12", ctx)
    if key is not None and certificate is None:
        raise click.UsageError("--key задаётся вместе с --certificate", ctx)
    if password_file is not None and pkcs12 is None:
        raise click.UsageError("--password-file — только для --pkcs12", ctx)


def _password(ctx: click.Context, code: str, password_file: Path | None) -> str:
    from medsign.signing.identities import password_variable
    if password_file is not None:
        return password_file.read_text(encoding="utf-8").rstrip("\r\n")
    variable = password_variable(code)
    if variable not in os.environ:
        raise click.UsageError(f"нет пароля контейнера: задайте {variable} или --password-file",
                               ctx)
    return os.environ[variable]


def _warn_runtime_password(signers: ConfiguredSigners, code: str) -> None:
    password, why = signers.passwords.password(code)
    if password is None:
        click.echo(f"Внимание: сервису нужен пароль контейнера при работе — {why}", err=True)


def _requisites(ctx: click.Context, code: str | None) -> list[Requisites]:
    from medsign.domain.mo_identity import Requisites
    from medsign.records import organizations
    from medsign.records.scope import SYSTEM

    container = container_from(ctx)
    esia = container.settings.esia
    # the ESIA client system's own identity sits in the same store (``[esia] key_code``)
    client = [container.esia_requisites()] if esia.client_id or code == esia.key_code else []
    if code is not None and code == esia.key_code:
        return client

    def load(db: Session, _now: datetime) -> list[Requisites]:
        codes = [code] if code else [c for c, _ in organizations.names(db)]
        rows = [organizations.get(db, scope=SYSTEM, code=c) for c in codes]
        return [Requisites(r.code, r.name, r.ogrn, r.inn) for r in rows]
    found: list[Requisites] = in_session(ctx, load)
    return found if code else found + client
