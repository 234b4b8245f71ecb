"""A real HTTP server that records outbound effects and honours ``Idempotency-Key``.

``POST /effects`` with a JSON body ``{"unit": ..., "step": ...}`` applies one effect. The first
request with a key is applied and its response stored; a later request with the same key gets
the stored response back (``Idempotent-Replayed: true``) and is counted as a dropped repeat,
never applied again. ``GET /counters`` returns every counter as JSON. The server runs in a
thread of the test process on ``127.0.0.1`` and a free port.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Ledger:
    """What the server saw. Guarded by ``lock``; read it through ``snapshot``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter[tuple[int, str]] = field(default_factory=Counter)
    applied: Counter[tuple[int, str]] = field(default_factory=Counter)
    order: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    responses: dict[str, tuple[int, bytes, bytes]] = field(default_factory=dict)
    repeats: int = 0
    repeats_recorded: int = 0  # repeats whose caller knew, from its row, that it may repeat
    conflicts: int = 0  # a known key with a different body: a bug in key derivation
    cut_short: int = 0  # requests whose sender died before the whole body was sent
    errors: list[str] = field(default_factory=list)  # exceptions in the handler itself

    def post(self, key: str, body: bytes, recorded: bool) -> tuple[int, bytes, bool]:
        payload = json.loads(body)
        unit, step = int(payload["unit"]), str(payload["step"])
        with self.lock:
            self.calls[(unit, step)] += 1
            stored = self.responses.get(key)
            if stored is not None:
                status, answer, first_body = stored
                if first_body != body:
                    self.conflicts += 1
                    return HTTPStatus.UNPROCESSABLE_ENTITY, b'{"error":"key reused"}', False
                self.repeats += 1
                self.repeats_recorded += recorded
                return status, answer, True
            self.applied[(unit, step)] += 1
            self.order[unit].append(step)
            answer = json.dumps({"effect": len(self.responses) + 1, "unit": unit,
                                 "step": step}).encode()
            self.responses[key] = (HTTPStatus.CREATED, answer, body)
            return HTTPStatus.CREATED, answer, False

    def totals(self) -> tuple[int, int]:
        """(calls received, effects applied): cheap enough to poll."""
        with self.lock:
            return sum(self.calls.values()), sum(self.applied.values())

    def was_called(self, unit: int, step: str) -> bool:
        with self.lock:
            return (unit, step) in self.calls

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": sum(self.calls.values()),
                "applied": sum(self.applied.values()),
                "unique_keys": len(self.responses),
                "repeats": self.repeats,
                "repeats_recorded": self.repeats_recorded,
                "conflicts": self.conflicts,
                "cut_short": self.cut_short,
                "errors": list(self.errors),
                "applied_more_than_once": sorted(f"{u}/{s}" for (u, s), n in self.applied.items()
                                                 if n > 1),
                "order": {str(u): list(steps) for u, steps in self.order.items()},
            }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx clients expect
    server: EffectServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if len(body) < length:  # the caller was killed while sending: nothing arrived
            with self.server.ledger.lock:
                self.server.ledger.cut_short += 1
            self.close_connection = True
            return
        key = self.headers.get("Idempotency-Key")
        if self.path != "/effects" or not key:
            self._send(HTTPStatus.BAD_REQUEST, b'{"error":"POST /effects with Idempotency-Key"}')
            return
        recorded = self.headers.get("X-Call-Recorded") == "1"
        status, answer, replayed = self.server.ledger.post(key, body, recorded)
        self._send(status, answer, replayed=replayed)

    def do_GET(self) -> None:
        if self.path != "/counters":
            self._send(HTTPStatus.NOT_FOUND, b"{}")
            return
        self._send(HTTPStatus.OK, json.dumps(self.server.ledger.snapshot()).encode())

    def _send(self, status: int, body: bytes, *, replayed: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EffectServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ledger = Ledger()
        self._thread = threading.Thread(target=self.serve_forever, name="effect-server",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EffectServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A killed worker resets its connections mid-request: that is the test, not an error."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            with self.ledger.lock:
                self.ledger.errors.append(repr(error))
