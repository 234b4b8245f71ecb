"""Entries of the append-only audit log: who did what to which object, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Self

from medsign.domain._checks import require_aware, require_text


@dataclass(frozen=True)
class AuditEvent:
    """One audit record; immutable, because the log is evidence.

    ``actor`` is who acted (``doctor:<login>``, ``worker:<id>``, ``mis``, ...),
    ``action`` what happened (``signing.sent``), ``subject_*`` what it was done to.
    """

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    organization_code: str | None
    details: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_text(self.actor, "actor", "Кто выполнил действие")
        require_text(self.action, "action", "Действие")

    @classmethod
    def create(
        cls,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        organization_code: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> Self:
        """A validated event; ``at`` is stored in UTC and ``details`` copied read-only."""
        return cls(
            at=require_aware(at, "at").astimezone(UTC),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            organization_code=organization_code,
            # A copy, so a caller mutating its dict later cannot rewrite history.
            details=MappingProxyType(dict(details or {})),
        )


# -- what the console shows -------------------------------------------------------------------
# Words for the actions other modules record; signing actions are named by the signing domain
# (``SigningAction``). An action nobody named yet is shown as it is stored.

ACTION_TITLES: Mapping[str, str] = MappingProxyType({
    "api_client.created": "выпущен ключ API",
    "api_client.revoked": "ключ API отозван",
    "app.biometrics_registered": "приложение: настроен вход по отпечатку пальца или Face ID",
    "app.device_bound": "приложение: устройство привязано, PIN-код создан",
    "app.device_method": "приложение: выбран способ быстрого входа",
    "app.device_unbound": "приложение: устройство отвязано",
    "app.unlock": "приложение: быстрый вход",
    "app.unlock_refused": "приложение: быстрый вход отклонён (подпись не этого устройства)",
    "app.unlock_wrong_pin": "приложение: неверный PIN-код",
    "appointment.created": "запись на приём создана",
    "appointment.updated": "запись на приём изменена",
    "appointment.paper_by_doctor": "врач перевёл документы на бумагу",
    "appointment.resent_by_doctor": "врач отправил документы на подписание ещё раз",
    "max.bot_started": "пациент снова открыл бота",
    "max.bot_stopped": "пациент остановил бота",
    "max_link.issued": "выдана ссылка для привязки MAX",
    "max_link.linked": "аккаунт MAX привязан",
    "max_link.relink_asked": "запрошено подтверждение смены аккаунта MAX",
    "max_link.relinked": "аккаунт MAX сменён с подтверждением из прежнего",
    "max_link.relink_declined": "смена аккаунта MAX отклонена",
    "organization.created": "МО добавлена",
    "organization.updated": "сведения о МО изменены",
    "patient.created": "пациент добавлен",
    "patient.updated": "сведения о пациенте изменены",
    "portal_account.created": "создана учётная запись портала",
    "portal_account.patient_unlinked": "карта пациента отвязана от учётной записи портала",
    "reconcile.operator": "сверка после восстановления: нужно решение оператора",
    "reconcile.resumed": "сверка после восстановления: подписание продолжено",
    "reconcile.settled": "сверка после восстановления: приведено к ответу платформы",
    "staff_user.created": "сотрудник добавлен",
    "staff_user.password_set": "пароль сотрудника изменён",
    "staff_user.disabled": "сотрудник отключён",
    "staff_user.enabled": "сотрудник снова допущен",
    "staff_user.changed": "роль или МО сотрудника изменены",
    "staff_user.doctor_id_set": "изменён идентификатор врача в МИС",
    "support.closed": "обращение закрыто",
    "support.submitted": "обращение в поддержку",
    "web.login": "вход",
    "web.logout": "выход",
    "web.login_esia_unknown": "вход через Госуслуги: пациент не найден",
})

SUBJECT_TITLES: Mapping[str, str] = MappingProxyType({
    "api_client": "клиент API",
    "appointment": "запись на приём",
    "organization": "МО",
    "patient": "пациент",
    "platform_transaction": "транзакция платформы",
    "portal_account": "учётная запись портала",
    "signing_request": "транзакция подписания",
    "staff_user": "сотрудник",
    "support_request": "обращение",
})

DETAIL_LABELS: Mapping[str, str] = MappingProxyType({
    "actions": "действия сверки",
    "address": "адрес",
    "appointment": "запись на приём",
    "consents": "документы",
    "how": "способ",
    "initiated_by": "инициатор",
    "local_state": "состояние в базе",
    "organizations": "МО",
    "platform_status": "ответ платформы",
    "previous": "предыдущее подписание",
    "realm": "раздел",
    "reason": "причина",
    "request_id": "запрос",
    "role": "роль",
    "organization": "МО",
    "run_id": "запуск сверки",
    "starts_at": "время приёма",
    "status": "статус",
    "transaction": "транзакция платформы",
    "trusted": "учётная запись подтверждена",
    "via": "через",
})


def action_title(action: str) -> str:
    """Russian words for an action (``signing.*`` by the signing domain's table)."""
    if action.startswith("web.login_") and action not in ACTION_TITLES:
        return "неудачный вход"
    return ACTION_TITLES.get(action, action)
