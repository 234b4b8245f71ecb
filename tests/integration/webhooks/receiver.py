"""A МИС's webhook receiver on a real local port (``http.server`` in a thread): it checks
every request with the Standard Webhooks reference library and answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    def signed_with(self, secret: str) -> bool:
        """The signature is the reference library's over this id, timestamp and body (for
        stands whose clock is far from now, outside the library's 5-minute window)."""
        at = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), tz=UTC)
        expected = Webhook(secret).sign(self.webhook_id, at, self.body.decode())
        return expected in self.headers["webhook-signature"].split(" ")

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    url: str
    secret: str = ""
    answers: list[int] = field(default_factory=list)  # then 200 for ever
    delay: float = 0.0  # seconds before answering (a slow МИС)
    received: list[Received] = field(default_factory=list)
    # requests whose sender went away before the whole body came (a killed worker: its
    # client writes the headers and the body apart); no server takes them for requests
    cut_short: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            self.received.append(Received(headers, body, verified, status))
        return status

    def types(self) -> list[str]:
        return [str(r.payload["type"]) for r in self.received]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (a free port) until the block ends."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — the http.server's name
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                with holder[0].lock:
                    holder[0].cut_short += 1
                self.close_connection = True
                return
            if holder[0].delay:
                time.sleep(holder[0].delay)
            status = holder[0].answer({k.lower(): v for k, v in self.headers.items()}, body)
            reply = b'{"ok": true}' if status < 300 else b"x" * 5000
            try:
                self.send_response(status)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):  # killed while waiting for it
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/medsign"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
