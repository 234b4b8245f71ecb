"""The installation's CRL sources: files, URLs over a real socket, the disk cache, refresh,
fallback, and what the console is told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from medsign.clock import FakeClock
from medsign.crypto import KeyPair, SignatureInvalid, TrustStore, issue_certificate, make_ca
from medsign.crypto.certs import parse_certificate
from medsign.crypto.keys import make_crl
from medsign.integrations.crl import RETRY_CAP, CrlSources
from tests.unit.crypto.crypto_support import NOW

HOUR = timedelta(hours=1)


class ListServer(ThreadingHTTPServer):
    """Serves ``answers[path] = (status, body)`` and counts the requests per path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.hits: dict[str, int] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: ListServer

    def do_GET(self) -> None:  # noqa: N802 — the http.server's name
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        status, body = self.server.answers.get(self.path, (404, b"no such list"))
        self.send_response(status)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[ListServer]:
    running = ListServer()
    thread = threading.Thread(target=running.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return make_ca("УЦ со списком", organization="УЦ")


@pytest.fixture(scope="module")
def doctor(ca: KeyPair) -> KeyPair:
    return issue_certificate(ca, common_name="Врач", organization="ГБУЗ")


def revoking(ca: KeyPair, cert: KeyPair, *, issued: timedelta = -HOUR, **kw: object) -> bytes:
    serial = parse_certificate(cert.certificate_der).asn.serial_number
    return make_crl(ca, revoked=[(serial, NOW - 2 * HOUR)], this_update=NOW + issued,
                    **kw)  # type: ignore[arg-type]


def sources(tmp_path: Path, clock: FakeClock, *items: str, **kw: object) -> CrlSources:
    return CrlSources(items, cache_dir=tmp_path / "cache", refresh=HOUR, clock=clock,
                      **kw)  # type: ignore[arg-type]


def trust_with(ca: KeyPair, source: CrlSources) -> TrustStore:
    return TrustStore.from_certificates([ca.certificate_der]).with_revocation(source)


def refused(trust: TrustStore, cert: KeyPair, clock: FakeClock) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        trust.verify_certificate(cert.certificate_der, at=clock.now())
    return caught.value.code


def test_a_list_over_http_revokes_and_its_state_is_reported(
        tmp_path: Path, server: ListServer, ca: KeyPair, doctor: KeyPair) -> None:
    server.answers["/uc.crl"] = (200, revoking(ca, doctor))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, server.url("/uc.crl"))
    assert refused(trust_with(ca, crls), doctor, clock) == "certificate_revoked"
    [status] = crls.status()
    assert status.source == server.url("/uc.crl") and status.error is None
    assert status.issuer == "C=RU, O=УЦ, CN=УЦ со списком"
    assert status.this_update == NOW - HOUR and status.next_update == NOW - HOUR + 7 * 24 * HOUR
    assert status.fetched_at == NOW and status.age == HOUR and not status.stale
    assert server.hits["/uc.crl"] == 1


def test_a_file_list_is_read_again_when_due(tmp_path: Path, ca: KeyPair,
                                            doctor: KeyPair) -> None:
    path = tmp_path / "uc.crl"
    path.write_bytes(make_crl(ca, this_update=NOW - HOUR))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, str(path))
    trust = trust_with(ca, crls)
    trust.verify_certificate(doctor.certificate_der, at=clock.now())
    path.write_bytes(revoking(ca, doctor, issued=timedelta(minutes=1)))
    clock.advance(HOUR - timedelta(seconds=1))
    trust.verify_certificate(doctor.certificate_der, at=clock.now())  # not yet re-read
    clock.advance(timedelta(seconds=1))
    assert refused(trust, doctor, clock) == "certificate_revoked"


def test_lists_are_fetched_once_per_refresh_period(tmp_path: Path, server: ListServer,
                                                   ca: KeyPair) -> None:
    server.answers["/uc.crl"] = (200, make_crl(ca, this_update=NOW))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, server.url("/uc.crl"))
    for _ in range(3):
        crls.lists()
    clock.advance(HOUR / 2)
    crls.lists()
    assert server.hits["/uc.crl"] == 1
    clock.advance(HOUR / 2)
    crls.lists()
    assert server.hits["/uc.crl"] == 2


def test_a_failed_fetch_keeps_the_last_list_and_says_why(
        tmp_path: Path, server: ListServer, ca: KeyPair, doctor: KeyPair) -> None:
    server.answers["/uc.crl"] = (200, revoking(ca, doctor))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, server.url("/uc.crl"))
    crls.lists()
    server.answers["/uc.crl"] = (503, b"maintenance")
    clock.advance(HOUR)
    assert refused(trust_with(ca, crls), doctor, clock) == "certificate_revoked"
    [status] = crls.status()
    assert status.error == "сервер ответил 503" and status.fetched_at == NOW
    # a failed source is tried again sooner than the refresh period
    server.answers["/uc.crl"] = (200, revoking(ca, doctor, issued=HOUR))
    clock.advance(RETRY_CAP)
    [status] = crls.status()
    assert status.error is None and status.fetched_at == clock.now()


def test_a_new_process_starts_from_the_cache_and_falls_back_to_it(
        tmp_path: Path, server: ListServer, ca: KeyPair, doctor: KeyPair) -> None:
    server.answers["/uc.crl"] = (200, revoking(ca, doctor))
    clock = FakeClock(NOW)
    sources(tmp_path, clock, server.url("/uc.crl")).lists()
    # another process, within the refresh period: the cache, no download
    clock.advance(HOUR / 2)
    second = sources(tmp_path, clock, server.url("/uc.crl"))
    assert refused(trust_with(ca, second), doctor, clock) == "certificate_revoked"
    assert server.hits["/uc.crl"] == 1
    [status] = second.status()
    assert status.fetched_at == NOW and status.error is None
    # a third, later, with the server gone: the cached list, and the error
    server.answers.clear()
    clock.advance(HOUR)
    third = sources(tmp_path, clock, server.url("/uc.crl"))
    assert refused(trust_with(ca, third), doctor, clock) == "certificate_revoked"
    assert third.status()[0].error == "сервер ответил 404"


def test_an_unreachable_server_without_a_cache_gives_no_list(tmp_path: Path,
                                                             ca: KeyPair) -> None:
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, "http://127.0.0.1:9/nowhere.crl", timeout=2.0)
    assert crls.lists() == []
    [status] = crls.status()
    assert status.issuer is None and status.error is not None
    assert status.error.startswith("не удалось скачать: ConnectError")


def test_an_oversized_answer_is_refused(tmp_path: Path, server: ListServer,
                                        ca: KeyPair) -> None:
    server.answers["/big.crl"] = (200, make_crl(ca))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, server.url("/big.crl"), max_bytes=100)
    assert crls.lists() == []
    assert crls.status()[0].error == "список больше 100 байт"


def test_garbage_and_an_older_list_are_refused_and_the_good_one_kept(
        tmp_path: Path, server: ListServer, ca: KeyPair, doctor: KeyPair) -> None:
    server.answers["/uc.crl"] = (200, revoking(ca, doctor))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, server.url("/uc.crl"))
    crls.lists()
    server.answers["/uc.crl"] = (200, b"<html>not a list</html>")
    crls.refresh()
    assert crls.status()[0].error is not None
    assert crls.status()[0].error.startswith("список отозванных сертификатов повреждён")
    server.answers["/uc.crl"] = (200, make_crl(ca, this_update=NOW - 5 * HOUR))
    crls.refresh()
    assert "старее имеющегося" in (crls.status()[0].error or "")
    assert refused(trust_with(ca, crls), doctor, clock) == "certificate_revoked"


def test_a_stale_list_is_used_and_shown_stale(tmp_path: Path, ca: KeyPair,
                                              doctor: KeyPair) -> None:
    path = tmp_path / "old.crl"
    path.write_bytes(revoking(ca, doctor, issued=-10 * 24 * HOUR,
                              next_update=NOW - 3 * 24 * HOUR))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, str(path))
    assert refused(trust_with(ca, crls), doctor, clock) == "certificate_revoked"
    [status] = crls.status()
    assert status.stale and status.age == 10 * 24 * HOUR and status.error is None


def test_a_list_the_trust_store_cannot_use_is_reported(tmp_path: Path, ca: KeyPair,
                                                       doctor: KeyPair) -> None:
    forged = bytearray(revoking(ca, doctor))
    forged[-1] ^= 0x01
    path = tmp_path / "forged.crl"
    path.write_bytes(bytes(forged))
    clock = FakeClock(NOW)
    crls = sources(tmp_path, clock, str(path))
    trust_with(ca, crls).verify_certificate(doctor.certificate_der, at=clock.now())
    assert "подпись списка не подтверждается" in (crls.status()[0].error or "")


def test_a_missing_file_is_an_error_in_the_status(tmp_path: Path) -> None:
    crls = sources(tmp_path, FakeClock(NOW), str(tmp_path / "absent.crl"))
    assert crls.lists() == []
    assert (crls.status()[0].error or "").startswith("файл не читается")


def test_threads_share_one_fetch(tmp_path: Path, server: ListServer, ca: KeyPair) -> None:
    server.answers["/uc.crl"] = (200, make_crl(ca, this_update=NOW))
    crls = sources(tmp_path, FakeClock(NOW), server.url("/uc.crl"))
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(len(crls.lists())))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert crls.status()[0].error is None
    assert results == [1] * 8 and server.hits["/uc.crl"] == 1
