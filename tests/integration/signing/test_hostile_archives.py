"""Hostile archives through the real ``SigningFlow``: each fails only its own request.

The stand is the in-process one (service worker and API, the Goskey emulator behind
``httpx.ASGITransport``, the test database). In front of the emulator sits a small ASGI
wrapper: for the transactions a test names, ``download`` answers with the genuine archive the
emulator made after the patient signed, altered in exactly one way — re-sealed with the
emulator's own operator key where the defect is not the signature — so everything but the
intended defect is genuine. Every other call, and every other transaction, is the emulator's.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from starlette.types import Receive, Scope, Send

from medsign.crypto import load_pem
from medsign.db.engine import read_only
from medsign.db.models import DocumentRow, SigningRequestRow
from medsign.runner.store import T
from tests import factories as f
from tests.integration.signing.stand import SigningStand
from tests.unit.signing.archive_kit import (
    BILLION_LAUGHS,
    Entries,
    Operator,
    deflate_stream_damaged,
    incompressible,
    with_flag,
    zeros_bomb,
    zip_of,
)

MAX_UNCOMPRESSED = 4 * 1024**2  # the stand's limit, so that "too big in total" stays cheap
_DOWNLOAD = re.compile(r"^/gov/pep/v1/sign/download/([^/]+)/([^/]+)$")


@dataclass
class Tools:
    """What a mutation may use: the emulator's operator seal, and strangers' seals."""

    seal: Callable[[bytes], bytes]
    stranger: Operator
    stale: Operator


Mutation = Callable[[Entries, Tools], bytes]


class HostileDownloads:
    """ASGI wrapper: serve a mutated archive for the chosen transactions, pass all else on."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.core = emulator.state.emulator
        self.mutations: dict[str, Callable[[bytes], bytes]] = {}
        self.served: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = _DOWNLOAD.match(scope.get("path", "")) if scope["type"] == "http" else None
        if matched is None or matched.group(1) not in self.mutations:
            await self.emulator(scope, receive, send)
            return
        tid, fid = matched.groups()
        genuine = self.core.store.file(tid, fid)
        assert genuine is not None and genuine.name == "archive.zip", (tid, fid)
        body = self.mutations[tid](genuine.data)
        self.served[tid] = self.served.get(tid, 0) + 1
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/zip"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def entries_of(archive: bytes) -> Entries:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return [(i.filename, opened.read(i)) for i in opened.infolist()]


def named(entries: Entries, suffix: str, nth: int = 0) -> str:
    return [n for n, _ in entries if n.endswith(suffix)][nth]


def resealed(entries: Entries, name: str, content: bytes, seal: Callable[[bytes], bytes]
             ) -> Entries:
    """``name`` gets ``content`` and its ``.p7s`` a genuine seal over it."""
    signature = name.removesuffix(" XML.xml") + " подпись к XML.p7s" if name.endswith(
        " XML.xml") else name.removesuffix(" PDF.pdf") + " подпись к PDF.p7s"
    return [(n, content if n == name else seal(content) if n == signature else c)
            for n, c in entries]


def renamed(entries: Entries, name: str, new: str) -> Entries:
    return [(new if n == name else n, c) for n, c in entries]


def all_sealed_by(entries: Entries, seal: Callable[[bytes], bytes]) -> Entries:
    files = dict(entries)
    return [(n, seal(files[n.replace(" подпись к XML.p7s", " XML.xml").replace(
        " подпись к PDF.p7s", " PDF.pdf")]) if n.endswith(".p7s") else c) for n, c in entries]


def _bomb(e: Entries, t: Tools) -> bytes:
    return zip_of(resealed(e, named(e, " PDF.pdf"), zeros_bomb(16 * 1024**2), t.seal))


def _too_big_in_total(e: Entries, t: Tools) -> bytes:
    big = incompressible(MAX_UNCOMPRESSED // 3 + 1024)  # each within the ratio, not together
    for name in (named(e, " PDF.pdf"), named(e, " PDF.pdf", 1), named(e, " XML.xml")):
        e = resealed(e, name, big, t.seal) if name.endswith(".pdf") else \
            [(n, big if n == name else c) for n, c in e]
    return zip_of(e, compression=zipfile.ZIP_STORED)


def _garbled_stream(e: Entries, t: Tools) -> bytes:
    name = named(e, " PDF.pdf")
    return deflate_stream_damaged(zip_of(e), name)


CASES: dict[str, tuple[Mutation, str, str]] = {
    # name: (mutation, expected code, a phrase of the readable reason)
    "zip bomb (ratio)": (_bomb, "archive_zip_bomb", "защита от zip-бомбы"),
    "zip bomb (total)": (_too_big_in_total, "archive_too_large", "слишком большой объём"),
    "dot-dot name": (lambda e, t: zip_of(renamed(e, named(e, " PDF.pdf"),
                                                 "../" + named(e, " PDF.pdf"))),
                     "archive_path_traversal", "Недопустимое имя файла в архиве"),
    "absolute name": (lambda e, t: zip_of(renamed(e, named(e, " XML.xml"),
                                                  "/etc/" + named(e, " XML.xml"))),
                      "archive_path_traversal", "'/etc/"),
    "backslash name": (lambda e, t: zip_of(renamed(e, named(e, " PDF.pdf"),
                                                   "..\\..\\" + named(e, " PDF.pdf"))),
                       "archive_path_traversal", "Недопустимое имя файла в архиве"),
    "missing p7s": (lambda e, t: zip_of([x for x in e if x[0] != named(e, "подпись к PDF.p7s")]),
                    "archive_missing_entry", "В архиве нет файла: «"),
    "extra entry": (lambda e, t: zip_of([*e, ("install.sh", b"rm -rf /")]),
                    "archive_unexpected_entry", "Лишний файл в архиве: «install.sh»"),
    "duplicate name": (lambda e, t: zip_of([*e, (named(e, " PDF.pdf"), b"%PDF-1.7\nother")]),
                       "archive_duplicate_entry", "встречается в архиве дважды"),
    "encrypted entry": (lambda e, t: with_flag(zip_of(e), 0x1), "archive_encrypted",
                        "в архиве зашифрован"),
    "not a zip": (lambda e, t: b"<html><body>502 Bad Gateway</body></html>", "archive_corrupt",
                  "Архив повреждён или не ZIP"),
    "garbled deflate stream": (_garbled_stream, "archive_corrupt", "в архиве не читается"),
    "malformed xml": (lambda e, t: zip_of(resealed(e, named(e, " XML.xml"),
                                                   b"<agreement><docInfo></agreement>", t.seal)),
                      "archive_xml_invalid", "некорректный XML: mismatched tag"),
    "billion laughs": (lambda e, t: zip_of(resealed(e, named(e, " XML.xml"), BILLION_LAUGHS,
                                                    t.seal)),
                       "archive_xml_invalid", "DTDForbidden"),
    "pdf signature over other bytes": (
        lambda e, t: zip_of([(n, t.seal(b"%PDF-1.7\nanother") if n == named(
            e, "подпись к PDF.p7s") else c) for n, c in e]),
        "archive_signature_digest_mismatch", "документ изменён после подписания"),
    "another CA": (lambda e, t: zip_of(all_sealed_by(e, t.stranger.seal)),
                   "archive_signature_untrusted_certificate",
                   "выдан не доверенным удостоверяющим центром"),
    "expired operator certificate": (lambda e, t: zip_of(all_sealed_by(e, t.stale.seal)),
                                     "archive_signature_certificate_expired",
                                     "срок действия сертификата истёк"),
}


@pytest.fixture
def stand(stand: SigningStand) -> SigningStand:
    """The shared stand, with a small limit on the archive's unpacked size."""
    settings = stand.container.settings
    stand.container.settings = settings.model_copy(update={"signing": settings.signing.model_copy(
        update={"max_uncompressed_bytes": MAX_UNCOMPRESSED})})
    return stand


def tools(tmp_path: Path, core: Any) -> Tools:
    folder = tmp_path / "goskey" / "goskey-operator"
    ca = load_pem(folder / "ca.key", folder / "ca.pem")
    return Tools(seal=lambda data: base64.b64encode(core.operator.seal(data)),
                 stranger=Operator.create(), stale=Operator.create(ca, expired=True))


def snapshot(engine: Engine, exclude: set[str]) -> dict[str, list[Any]]:
    """Every row of the tables a failed archive must not touch, plus the other requests."""
    with read_only(engine) as conn:
        tables = {name: [tuple(r) for r in conn.execute(text(
            f"SELECT * FROM {name} ORDER BY 1")).all()]
            for name in ("organizations", "patients", "appointments", "api_clients")}
        tables["other_requests"] = [tuple(r) for r in conn.execute(
            select(SigningRequestRow.__table__).where(SigningRequestRow.id.not_in(exclude))
            .order_by(SigningRequestRow.id)).all()]
    return tables


def test_every_hostile_archive_fails_only_its_own_request_with_a_readable_reason(
        stand: SigningStand, engine: Engine, tmp_path: Path) -> None:
    wrapper = HostileDownloads(stand.emulator)
    stand.container.goskey_transport = httpx.ASGITransport(wrapper)
    kit = tools(tmp_path, wrapper.core)

    names = [*CASES, "genuine", "bystander"]
    for n in range(2, len(names) + 2):
        assert stand.api.put(f"/api/v1/organizations/mo1/appointments/a{n}",
                             json=f.appointment()).status_code == 201
    rids = {name: stand.start_signing(f"a{n}") for n, name in enumerate(names, start=2)}
    stand.run_worker()
    txs = {name: stand.request(rid)["transaction_id"] for name, rid in rids.items()}
    assert all(txs.values()), txs

    def applying(mutation: Mutation) -> Callable[[bytes], bytes]:
        return lambda data: mutation(entries_of(data), kit)

    for name, (mutation, _, _) in CASES.items():
        wrapper.mutations[txs[name]] = applying(mutation)
    for name in [*CASES, "genuine"]:
        assert stand.control("POST", f"/transactions/{txs[name]}/sign").status_code == 200
    hostile = {rids[name] for name in CASES}
    before = snapshot(engine, exclude=hostile | {rids["genuine"]})

    stand.advance(timedelta(seconds=11))
    stand.run_worker()

    problems = []
    for name, (_, code, phrase) in CASES.items():
        detail = stand.request(rids[name])
        reason = detail["reason"] or ""
        if detail["state"] != "failed" or not reason.startswith(f"{code}: ") or \
                phrase not in reason:
            problems.append(f"{name}: {detail['state']} «{reason}», expected {code} ({phrase})")
        elif [h["to_state"] for h in detail["history"]][-2:] != ["patient_signed", "failed"]:
            problems.append(f"{name}: history {detail['history']}")
    assert not problems, "\n".join(problems)

    assert stand.request(rids["genuine"])["state"] == "completed"
    assert stand.request(rids["bystander"])["state"] == "sent"
    assert snapshot(engine, exclude=hostile | {rids["genuine"]}) == before

    with read_only(engine) as conn:
        items = {r.ref: r for r in conn.execute(select(T).where(T.c.ref.in_(hostile)))}
        stored = conn.execute(select(DocumentRow.signing_request_id).where(
            DocumentRow.signing_request_id.in_(hostile))).scalars().all()
    assert {r.status for r in items.values()} == {"failed"} and len(items) == len(CASES)
    assert {(r.step, r.attempts) for r in items.values()} == {("download", 1)}, (
        "a refusal is permanent: one attempt, no retries")
    for name in CASES:
        assert items[rids[name]].last_error == stand.request(rids[name])["reason"]
    assert stored == [], "nothing of a refused archive is kept"
    assert set(wrapper.served) == {txs[name] for name in CASES}
    assert all(count == 1 for count in wrapper.served.values()), wrapper.served

    platform = {t["id"]: t for t in stand.control("GET", "/transactions").json()["transactions"]}
    for name in CASES:
        assert platform[txs[name]]["uploads"] == [], f"{name}: nothing may be countersigned"
        assert (platform[txs[name]]["status"], platform[txs[name]]["step_status"]) == (
            "active", "wip_partner")
    assert platform[txs["genuine"]]["status"] == "finished"


def test_a_refused_archive_is_refused_again_on_an_operator_retry_and_then_accepted_when_fixed(
        stand: SigningStand, tmp_path: Path) -> None:
    wrapper = HostileDownloads(stand.emulator)
    stand.container.goskey_transport = httpx.ASGITransport(wrapper)
    rid = stand.start_signing()
    stand.run_worker()
    tx = stand.request(rid)["transaction_id"]
    wrapper.mutations[tx] = lambda data: _garbled_stream(entries_of(data), tools(
        tmp_path, wrapper.core))
    stand.control("POST", f"/transactions/{tx}/sign")
    stand.advance(timedelta(seconds=11))
    stand.run_worker()
    first = stand.request(rid)
    assert first["state"] == "failed" and first["reason"].startswith("archive_corrupt: ")

    assert stand.api.post(f"/api/v1/signing-requests/{rid}/retry").status_code == 200
    stand.run_worker()
    assert stand.request(rid)["reason"] == first["reason"]

    del wrapper.mutations[tx]
    assert stand.api.post(f"/api/v1/signing-requests/{rid}/retry").status_code == 200
    stand.run_worker()
    assert stand.request(rid)["state"] == "completed"
    assert wrapper.served[tx] == 2
