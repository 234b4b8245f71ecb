"""Patient password accounts managed by the portal's administrator (seed 2.2, 3.4.1).

The rules are in :mod:`medsign.domain.patient_accounts`; the records an account sees are
chosen by :func:`medsign.accounts.portal.match_patients`, the rule ESIA sign-in uses. Every
change is audited with the administrator (or the patient, for a reset by link) as the actor;
nothing here commits.

Disabling an account or resetting its password ends its sessions, forgets its browsers'
device tokens and voids its reset links at once (:func:`_revoke_access`: the one place where
the app's quick-login devices are to be unbound too).

A reset link is a random token mailed to the account's e-mail (``mail.outbox``, sent by the
worker); the database keeps its SHA-256. It is valid once, for ``Mailing.ttl``; a newer link
voids the older ones; setting a password through it ends every session of the account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsign.accounts import app_devices, passwords, portal, sessions, throttle
from medsign.accounts.auth import find_portal_account
from medsign.accounts.sessions import Owner
from medsign.db.models import (
    LoginDeviceRow,
    OrganizationRow,
    PasswordResetTokenRow,
    PatientRow,
    PortalAccountPatientRow,
    PortalAccountRow,
)
from medsign.domain.errors import DomainError
from medsign.domain.patient_accounts import (
    RESET_PER_ADDRESS,
    RESET_PER_NAME,
    PersonDetails,
    normalize_email,
    normalize_login,
    person_identity,
    reset_link_refusal,
)
from medsign.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from medsign.mail import outbox
from medsign.records import audit

TOKEN_BYTES = 32
NO_MATCH = ("Ни одна карта пациента ни в одной МО не совпала с этими данными. Совпадение: по "
            "СНИЛС, а в карте без СНИЛС — по ФИО, дате рождения и подтверждённому телефону "
            "вместе. Проверьте данные по документам или попросите МО дополнить карту.")
NO_MAIL = ("Отправка писем не настроена (раздел [email] настроек): задайте пароль сами и "
           "передайте его пациенту.")


@dataclass(frozen=True)
class Mailing:
    """How reset links go out: ``enabled`` is ``[email]`` being set; ``link_base`` the
    portal's public address (``server.public_url``)."""

    enabled: bool
    ttl: timedelta
    link_base: str


@dataclass(frozen=True)
class NewAccount:
    login: str
    email: str | None
    full_name: str
    password: str | None  # None: the patient sets it through a reset link
    person: PersonDetails


@dataclass(frozen=True)
class AccountView:
    """One account as the console and the CLI list it."""

    id: int
    login: str | None
    email: str | None
    full_name: str
    esia: bool
    has_password: bool
    disabled_at: datetime | None
    last_login_at: datetime | None
    records: tuple[tuple[str, str], ...]  # (МО name, patient external id)

    @property
    def name(self) -> str:
        return self.login or self.email or f"#{self.id}"

    @property
    def state(self) -> str:
        if self.disabled_at is not None:
            return "отключена"
        return "действует" if self.has_password or self.esia else "ждёт пароля"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _refuse(exc: DomainError) -> Unprocessable:
    return Unprocessable(exc.code, exc.message, field=exc.field)


def _check_password(password: str, login: str, allow_demo: bool) -> None:
    found = passwords.problems(password, login=login, allow_demo=allow_demo)
    if found:
        raise Unprocessable("weak_password", "Пароль не подходит: " + "; ".join(found) + ".",
                            field="password")


# -- look-up ------------------------------------------------------------------------------

def find(db: Session, name: str) -> PortalAccountRow:
    """The account a login name, an e-mail or ``#id`` names; ``NotFound`` otherwise."""
    name = name.strip()
    row = (db.get(PortalAccountRow, int(name[1:])) if name[1:].isdigit() and name[:1] == "#"
           else find_portal_account(db, name))
    if row is None:
        raise NotFound("portal_account_not_found",
                       f"Учётная запись пациента «{name[:100]}» не найдена.")
    return row


def list_accounts(db: Session, *, search: str = "", limit: int = 200) -> list[AccountView]:
    """Accounts whose login, e-mail or name contains ``search`` (all without it)."""
    query = select(PortalAccountRow).order_by(PortalAccountRow.full_name, PortalAccountRow.id)
    typed = search.strip()
    if typed:
        # SQLite folds only ASCII in LIKE: names are matched as typed and in the usual cases
        spellings = {typed, typed.casefold(), typed.capitalize(), typed.title(), typed.upper()}
        query = query.where(or_(PortalAccountRow.login.contains(typed.casefold(), autoescape=True),
                                PortalAccountRow.email.contains(typed.casefold(), autoescape=True),
                                *(PortalAccountRow.full_name.contains(s, autoescape=True)
                                  for s in spellings)))
    rows = list(db.scalars(query.limit(limit)))
    links: dict[int, list[tuple[str, str]]] = {r.id: [] for r in rows}
    if rows:
        for account_id, org_name, external_id in db.execute(
                select(PortalAccountPatientRow.account_id, OrganizationRow.name,
                       PatientRow.external_id)
                .join(PatientRow, PatientRow.id == PortalAccountPatientRow.patient_id)
                .join(OrganizationRow, OrganizationRow.id == PatientRow.organization_id)
                .where(PortalAccountPatientRow.account_id.in_(links))
                .order_by(OrganizationRow.name)):
            links[account_id].append((org_name, external_id))
    return [AccountView(id=r.id, login=r.login, email=r.email, full_name=r.full_name,
                        esia=r.esia_oid is not None, has_password=r.password_hash is not None,
                        disabled_at=r.disabled_at, last_login_at=r.last_login_at,
                        records=tuple(links[r.id])) for r in rows]


# -- the administrator's actions -----------------------------------------------------------

def create(db: Session, *, new: NewAccount, mailing: Mailing, allow_demo_password: bool,
           actor: str, now: datetime) -> PortalAccountRow:
    """A password account linked to every record of every МО the identity rule accepts for
    the person; without a password, a reset link is mailed so the patient sets one."""
    try:
        login, email = normalize_login(new.login), normalize_email(new.email)
        who = person_identity(new.person)
    except DomainError as exc:
        raise _refuse(exc) from None
    full_name = " ".join(new.full_name.split()) or " ".join(
        p for p in (who.last_name, who.first_name, who.middle_name) if p)
    if len(full_name) > 300:
        raise Unprocessable("invalid_full_name", "ФИО — до 300 символов.", field="full_name")
    if new.password is not None:
        _check_password(new.password, login, allow_demo_password)
    elif email is None:
        raise Unprocessable("password_or_email", "Задайте пароль или укажите электронную "
                            "почту: на неё придёт ссылка, чтобы пациент задал пароль сам.",
                            field="password")
    elif not mailing.enabled:
        raise ServiceUnavailable("email_not_configured", NO_MAIL)
    _check_free(db, login=login, email=email)
    matched = portal.match_patients(db, who)
    if not matched:
        raise Unprocessable("no_matching_patient", NO_MATCH, field="last_name")
    row = PortalAccountRow(login=login, email=email, full_name=full_name, snils=who.snils,
                           password_hash=(passwords.hash_password(new.password)
                                          if new.password is not None else None),
                           created_at=now, updated_at=now)
    db.add(row)
    _flush_unique(db)
    portal.link(db, row, matched)
    portal.audit_account(db, actor, "portal_account.created", row, now,
                  {"records": len(matched), "password": new.password is not None})
    if new.password is None:
        _issue_link(db, row, mailing, requested_by=actor, now=now)
    return row


def _check_free(db: Session, *, login: str | None, email: str | None,
                other_than: int | None = None) -> None:
    for column, value, code, text in (
            (PortalAccountRow.login, login, "login_taken", "Логин «{}» уже занят."),
            (PortalAccountRow.email, email, "email_taken",
             "Электронная почта «{}» уже указана в другой учётной записи.")):
        if value is None:
            continue
        found = db.scalars(select(PortalAccountRow.id).where(column == value)).first()
        if found is not None and found != other_than:
            raise Conflict(code, text.format(value), field=column.key)


def _flush_unique(db: Session) -> None:
    """Flush; a login or e-mail taken meanwhile by a concurrent request is a ``Conflict``."""
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("login_taken", "Логин или электронная почта уже заняты.") from None


def disable(db: Session, *, name: str, actor: str, now: datetime) -> PortalAccountRow:
    row = find(db, name)
    if row.disabled_at is not None:
        raise Conflict("already_disabled", "Учётная запись уже отключена.")
    row.disabled_at, row.disabled_by, row.updated_at = now, actor[:200], now
    _revoke_access(db, row, actor=actor, now=now)
    portal.audit_account(db, actor, "portal_account.disabled", row, now)
    return row


def enable(db: Session, *, name: str, actor: str, now: datetime) -> PortalAccountRow:
    row = find(db, name)
    if row.disabled_at is None:
        raise Conflict("not_disabled", "Учётная запись не отключена.")
    row.disabled_at, row.disabled_by, row.updated_at = None, None, now
    portal.audit_account(db, actor, "portal_account.enabled", row, now)
    return row


def reset(db: Session, *, name: str, mailing: Mailing, actor: str,
          now: datetime) -> PortalAccountRow:
    """The administrator's reset: the password stops working, every session and device ends,
    and a link to set a new one goes to the account's e-mail."""
    row = find(db, name)
    if row.email is None:
        raise Unprocessable("no_email", "У учётной записи нет электронной почты: укажите её, "
                            "чтобы отправить ссылку.")
    if not mailing.enabled:
        raise ServiceUnavailable("email_not_configured", NO_MAIL)
    if row.disabled_at is not None:
        raise Conflict("account_disabled", "Учётная запись отключена: сначала включите её.")
    row.password_hash, row.updated_at = None, now
    _revoke_access(db, row, actor=actor, now=now)
    portal.audit_account(db, actor, "portal_account.reset", row, now)
    _issue_link(db, row, mailing, requested_by=actor, now=now)
    return row


def change_email(db: Session, *, name: str, email: str | None, actor: str,
                 now: datetime) -> PortalAccountRow:
    row = find(db, name)
    try:
        new = normalize_email(email)
    except DomainError as exc:
        raise _refuse(exc) from None
    if new is None and row.login is None and row.esia_oid is None:
        raise Unprocessable("email_required", "У учётной записи без логина должна остаться "
                            "электронная почта.", field="email")
    _check_free(db, login=None, email=new, other_than=row.id)
    old, row.email, row.updated_at = row.email, new, now
    _flush_unique(db)
    _void_links(db, row.id, now)  # a link mailed to the old address must not work
    portal.audit_account(db, actor, "portal_account.email_changed", row, now,
                  {"had_email": old is not None, "has_email": new is not None})
    return row


def relink(db: Session, *, name: str, person: PersonDetails, actor: str,
           now: datetime) -> tuple[list[PatientRow], list[PatientRow]]:
    """Run the match again for the person's (maybe corrected) details: records the rule now
    accepts are added, linked ones it refuses are dropped. Returns (added, dropped)."""
    row = find(db, name)
    try:
        who = person_identity(person)
    except DomainError as exc:
        raise _refuse(exc) from None
    matched = portal.match_patients(db, who)
    if not matched:
        raise Unprocessable("no_matching_patient", NO_MATCH, field="last_name")
    dropped = portal.unlink_refused(db, row, who, actor=actor, now=now)
    added = portal.link(db, row, matched)
    row.snils = who.snils or row.snils
    row.updated_at = now
    portal.audit_account(db, actor, "portal_account.relinked", row, now,
                  {"added": len(added), "dropped": len(dropped)})
    return added, dropped


def _revoke_access(db: Session, row: PortalAccountRow, *, actor: str, now: datetime) -> None:
    """End every way in the account has now: sessions, device tokens, the devices bound for
    the app's quick login, reset links."""
    sessions.end_all_of(db, owner=Owner(portal_account_id=row.id))
    app_devices.unbind_all(db, account_id=row.id, actor=actor, now=now)
    db.execute(delete(LoginDeviceRow).where(LoginDeviceRow.portal_account_id == row.id))
    _void_links(db, row.id, now)


def _void_links(db: Session, account_id: int, now: datetime) -> None:
    db.execute(update(PasswordResetTokenRow)
               .where(PasswordResetTokenRow.account_id == account_id,
                      PasswordResetTokenRow.used_at.is_(None))
               .values(used_at=now))


# -- reset links ----------------------------------------------------------------------------

def _issue_link(db: Session, row: PortalAccountRow, mailing: Mailing, *, requested_by: str,
                now: datetime) -> None:
    """A fresh link (older ones void) and the e-mail that carries it, in this transaction."""
    if row.email is None:
        raise RuntimeError("a reset link needs the account's e-mail")
    _void_links(db, row.id, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.add(PasswordResetTokenRow(token_hash=digest(token), account_id=row.id, created_at=now,
                                 expires_at=now + mailing.ttl, used_at=None,
                                 requested_by=requested_by[:200]))
    link = f"{mailing.link_base.rstrip('/')}/portal/password/reset/{token}"
    outbox.enqueue(db, reset_mail(row, link, mailing.ttl), ref=f"portal_account:{row.id}",
                   now=now)
    portal.audit_account(db, requested_by, "portal_account.reset_link_sent", row, now,
                  {"expires_at": (now + mailing.ttl).isoformat()})


def reset_mail(row: PortalAccountRow, link: str, ttl: timedelta) -> outbox.Mail:
    hours = ttl.total_seconds() / 3600
    valid = (f"{int(hours)} ч" if hours >= 1 and hours == int(hours)
             else f"{max(1, int(ttl.total_seconds() // 60))} мин")
    login = f"Ваш логин: {row.login}\n\n" if row.login else ""
    return outbox.Mail(
        to=row.email or "", subject="Пароль для портала пациента",
        body=(f"Здравствуйте, {row.full_name}!\n\n"
              "Чтобы задать пароль для входа на портал пациента, откройте ссылку:\n\n"
              f"{link}\n\n{login}"
              f"Ссылка действует {valid} и только один раз. Если вы не просили сменить пароль, "
              "просто не открывайте её — ваш пароль останется прежним.\n"))


def request_reset(db: Session, *, name: str, address: str | None, mailing: Mailing,
                  now: datetime) -> None:
    """«Забыли пароль?»: a link to the account's e-mail when ``name`` (login or e-mail)
    names an active account that has one; otherwise nothing — the caller's answer is the
    same either way. Throttled by the name typed and by the address (``TooManyRequests``)."""
    if not mailing.enabled:
        raise ServiceUnavailable("email_not_configured", "Восстановление пароля по почте "
                                 "не настроено.")
    typed = name.strip().casefold()[:254]
    keys = [throttle.Key("reset", typed[:200], RESET_PER_NAME)]
    if address:
        keys.append(throttle.Key("address:reset", address[:200], RESET_PER_ADDRESS))
    throttle.admit(db, keys, now, code="too_many_reset_requests",
                   refusal="Ссылку уже запрашивали несколько раз. Следующий запрос можно "
                           "отправить")
    row = find_portal_account(db, typed) if typed else None
    if row is None or row.email is None or row.disabled_at is not None:
        audit.record(db, at=now, actor=f"portal:{typed[:150] or '-'}",
                     action="portal_account.reset_requested_unknown",
                     subject_type="portal_account", subject_id=typed[:100] or "-",
                     organization_code=None, details={"address": address})
        return
    _issue_link(db, row, mailing, requested_by=f"portal:{portal.account_name(row)[:150]}",
                now=now)


def check_link(db: Session, token: str, *, now: datetime) -> PortalAccountRow:
    """The account of a live reset link; ``NotFound`` with the patient's words otherwise."""
    found = db.get(PasswordResetTokenRow, digest(token)) if 0 < len(token) <= 100 else None
    if found is None:
        raise NotFound("reset_link_unknown", "Ссылка не найдена. Проверьте, что она "
                       "скопирована из письма целиком, или запросите новую.")
    row = db.get(PortalAccountRow, found.account_id)
    if row is None:
        raise NotFound("reset_link_unknown", "Ссылка не найдена.")
    refusal = reset_link_refusal(expires_at=found.expires_at, used_at=found.used_at,
                                 account_disabled=row.disabled_at is not None, now=now)
    if refusal is not None:
        raise NotFound("reset_link_invalid", refusal)
    return row


def set_password_by_link(db: Session, *, token: str, password: str, password_again: str,
                         allow_demo_password: bool, now: datetime) -> PortalAccountRow:
    """Use a reset link: the password set, the link spent, every session and device ended."""
    row = check_link(db, token, now=now)
    if password != password_again:
        raise Unprocessable("passwords_differ", "Пароли не совпадают.", field="password")
    _check_password(password, row.login or row.email or "", allow_demo_password)
    spent = db.connection().execute(update(PasswordResetTokenRow)
                                    .where(PasswordResetTokenRow.token_hash == digest(token),
                                           PasswordResetTokenRow.used_at.is_(None))
                                    .values(used_at=now))
    if spent.rowcount != 1:  # a concurrent use of the same link won
        raise NotFound("reset_link_invalid", "Ссылка уже использована. Если нужно, запросите "
                       "новую.")
    row.password_hash, row.updated_at = passwords.hash_password(password), now
    actor = f"portal:{portal.account_name(row)[:150]}"
    _revoke_access(db, row, actor=actor, now=now)
    portal.audit_account(db, actor, "portal_account.password_set_by_link", row, now)
    return row


def birth_date_of(text: str) -> date | None:
    """``ДД.ММ.ГГГГ`` or ``ГГГГ-ММ-ДД`` as typed in a form or on the command line."""
    text = text.strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if text:
        raise Unprocessable("invalid_birth_date", "Дата рождения: ДД.ММ.ГГГГ, например "
                            "05.03.1980.", field="birth_date")
    return None
