"""Sending e-mail through the installation's SMTP server (``[email]``), with ``aiosmtplib``.

One message per call, one connection per message (reset links are rare). Outcomes:

- accepted → returns;
- a 5xx reply (bad address, refused sender, message refused for good) → :class:`MailRejected`:
  sending it again cannot help;
- a 4xx reply, a refused or dropped connection, a timeout, a TLS failure →
  :class:`MailUnavailable`: worth trying again later.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib


class MailUnavailable(Exception):
    """Temporary: the server was unreachable or answered 4xx."""


class MailRejected(Exception):
    """Permanent: the server answered 5xx."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    starttls: bool  # upgrade a plain connection with STARTTLS (required when True)
    ssl: bool  # TLS from the first byte (port 465)
    username: str
    password: str
    timeout: float  # seconds, per SMTP command


class SmtpSender:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def send(self, message: EmailMessage) -> None:
        s = self.server
        try:
            await aiosmtplib.send(message, hostname=s.host, port=s.port, use_tls=s.ssl,
                                  start_tls=s.starttls and not s.ssl,
                                  username=s.username or None, password=s.password or None,
                                  timeout=s.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= c < 600 for c in codes):
                raise MailRejected(f"recipient refused: {text}") from exc
            raise MailUnavailable(f"recipient deferred: {text}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            text = f"{exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise MailRejected(f"SMTP server refused: {text}") from exc
            raise MailUnavailable(f"SMTP server deferred: {text}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailUnavailable(f"SMTP server unreachable: {type(exc).__name__}: {exc}") \
                from exc
