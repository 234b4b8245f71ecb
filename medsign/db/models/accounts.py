"""Tables of the web side: staff and patient accounts, sessions, login throttling and device
cookies, support requests, and the health counters of external systems.

Secrets are never stored in the clear: passwords as Argon2 hashes, session ids as
SHA-256 digests (the cookie holds the id itself).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from medsign.db.models.base import Base, Timestamps
from medsign.db.types import UTCDateTime


class StaffUserRow(Timestamps, Base):
    """A doctor (bound to one organisation), an operator or an administrator."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"),
                                                        index=True)
    # A doctor's id in the МИС of his МО: «Мои пациенты» are the appointments naming it.
    doctor_external_id: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the users page shows


class PortalAccountRow(Timestamps, Base):
    """A patient's account on the portal: login/e-mail and password, or ESIA (or both)."""

    __tablename__ = "portal_accounts"
    __table_args__ = (
        # The console lists accounts by name and finds them by any part of the name, login
        # or e-mail: trigrams on PostgreSQL.
        Index("ix_portal_accounts_full_name", "full_name", "id"),
        *(Index(f"ix_portal_accounts_{column}_trgm", column, postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"})
          for column in ("full_name", "login", "email")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str | None] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    esia_oid: Mapped[str | None] = mapped_column(String(64), unique=True)
    snils: Mapped[str | None] = mapped_column(String(14))
    full_name: Mapped[str] = mapped_column(String(300))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_by: Mapped[str | None] = mapped_column(String(200))


class PasswordResetTokenRow(Base):
    """A one-time password reset link of a portal account (``accounts.patient_accounts``).

    Only the token's SHA-256 is kept; ``used_at`` is set when the link sets a password (or
    when a newer link, a disabling or a password set by the administrator voids it)."""

    __tablename__ = "password_reset_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(200))


class PortalAccountPatientRow(Base):
    """The patients (one per medical organisation) a portal account may see."""

    __tablename__ = "portal_account_patients"
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True,
                                            index=True)


class WebSessionRow(Base):
    """A browser session. Anonymous until login (it then carries the CSRF token of the login
    form and the ESIA ``state``); login replaces it with a fresh one."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    portal_account_id: Mapped[int | None] = mapped_column(ForeignKey("portal_accounts.id"),
                                                          index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginThrottleRow(Base):
    """Failed logins of one login name or one client address, shared by all processes."""

    __tablename__ = "login_throttle"
    scope: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginDeviceRow(Base):
    """A browser that logged in to an account (a device cookie, ``domain.login_devices``): its
    password logins skip the account's delay. Only the token's SHA-256 is kept."""

    __tablename__ = "login_devices"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    portal_account_id: Mapped[int | None] = mapped_column(ForeignKey("portal_accounts.id"),
                                                          index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # wrong passwords since a good one
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SupportRequestRow(Base):
    """A problem reported through the support form, with the context it was reported from."""

    __tablename__ = "support_requests"
    # One status's requests, newest first.
    __table_args__ = (Index("ix_support_requests_status_created", "status", "created_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    message: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    page_url: Mapped[str | None] = mapped_column(String(1000))
    request_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(200))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(Text)


class ExternalCallStatRow(Base):
    """Outcomes of calls to one external system during one minute (fed by the clients'
    ``on_call`` hooks); the operators' console derives health from the last hour."""

    __tablename__ = "external_call_stats"
    system: Mapped[str] = mapped_column(String(20), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    transient: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure: Mapped[str | None] = mapped_column(String(200))


class AppDeviceRow(Base):
    """A browser bound to a patient's account for quick login in the app «К врачу»
    (``domain.app_devices``): the public half of a key the browser will not export, the PIN's
    Argon2 hash, wrong PINs since the last good one, and — when the patient chose
    biometrics — the WebAuthn credential. The cookie names the row; only the key unlocks."""

    __tablename__ = "app_devices"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    portal_account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), index=True)
    public_key: Mapped[str] = mapped_column(Text)  # SPKI DER, base64
    pin_hash: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(20))  # "pin" or "biometrics"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    credential_id: Mapped[str | None] = mapped_column(String(400))  # WebAuthn, base64url
    credential_public_key: Mapped[str | None] = mapped_column(Text)  # COSE, base64url
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str | None] = mapped_column(String(300))  # the browser's user agent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AppDeviceChallengeRow(Base):
    """A one-time challenge for a bound device: taken (deleted) by the one request that uses
    it, refused after ``expires_at``."""

    __tablename__ = "app_device_challenges"
    challenge: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("app_devices.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
