"""A whole signing transaction: the real client, the emulator, real GOST signatures."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medsign.crypto import TrustStore, verify_detached
from medsign.crypto.keys import KeyPair
from medsign.crypto.signers import PureSigner
from medsign.integrations.goskey import GoskeyRejected
from medsign.integrations.goskey.emulator.profile import profile_for
from tests.integration.goskey.helpers import PHONE, Stand, send_request

pytestmark = pytest.mark.anyio
PDF_SIG, XML_SIG = "подпись к PDF.p7s", "подпись к XML.p7s"


async def signed_archive(stand: Stand, tmp_path: Path, *titles: str) -> tuple[str, Path]:
    transaction_id = await stand.client.send(send_request(*titles), idempotency_key="k-1")
    await stand.sign(transaction_id)
    status = await stand.client.status(transaction_id)
    assert status.patient_signed_zip is not None
    dest = tmp_path / "archive.zip"
    size = await stand.client.download(transaction_id, status.patient_signed_zip, phone=PHONE,
                                       dest=dest, max_bytes=5_000_000)
    assert size == dest.stat().st_size
    return transaction_id, dest


async def operator_trust(stand: Stand) -> TrustStore:
    response = await stand.control.get("/_emulator/ca.pem")
    assert response.status_code == 200 and response.content.startswith(b"-----BEGIN")
    return TrustStore.from_pem(response.content)


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


async def test_the_whole_lifecycle(stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    transaction_id = await stand.client.send(send_request(), idempotency_key="k-1")
    first = await stand.client.status(transaction_id)
    assert (first.status, first.steps[0].status, first.patient_signed_zip) == (
        "active", "wip_client", None)
    await stand.sign(transaction_id)
    signed = await stand.client.status(transaction_id)
    assert signed.steps[0].status == "wip_partner" and signed.steps[0].id_sig
    assert signed.patient_signed_zip is not None
    dest = tmp_path / "a.zip"
    await stand.client.download(transaction_id, signed.patient_signed_zip, phone=PHONE,
                                dest=dest, max_bytes=5_000_000)
    pdf = next(data for name, data in read_zip(dest).items() if name.endswith(".pdf"))
    file_id = await stand.client.upload(transaction_id, PureSigner(mo_keys).sign(pdf),
                                        filename="mo.p7s",
                                        mime_type="application/pkcs7-signature",
                                        idempotency_key="up-1")
    assert file_id and (await stand.client.status(transaction_id)).steps[0].status == "done"
    final_id = await stand.client.complete(transaction_id, phone=PHONE, template_id="done-tpl",
                                           idempotency_key="done-7")
    finished = await stand.client.status(transaction_id)
    assert finished.status == "finished" and finished.is_final and final_id
    await stand.client.download(transaction_id, final_id, phone=PHONE,
                                dest=tmp_path / "final.zip", max_bytes=5_000_000)
    assert "МО mo.p7s" in read_zip(tmp_path / "final.zip")
    view = await stand.view(transaction_id)
    assert view["calls"] == {"send": 1, "status": 4, "download": 2, "upload": 1, "complete": 1}
    assert [u["accepted"] for u in view["uploads"]] == [True]
    assert view["uploads"][0]["covers"].endswith("PDF.pdf")
    assert view["completion_template_id"] == "done-tpl"


async def test_archive_holds_four_entries_per_document_sealed_by_the_operator(
        stand: Stand, tmp_path: Path) -> None:
    titles = ("ИДС на медицинское вмешательство", "Согласие на обработку ПДн")
    _, dest = await signed_archive(stand, tmp_path, *titles)
    content = read_zip(dest)
    assert sorted(content) == sorted(f"{t} {suffix}" for t in titles for suffix in (
        "XML.xml", XML_SIG, "PDF.pdf", PDF_SIG))
    trust = await operator_trust(stand)
    for title in titles:
        for document, signature in ((f"{title} PDF.pdf", f"{title} {PDF_SIG}"),
                                    (f"{title} XML.xml", f"{title} {XML_SIG}")):
            line = content[signature]
            assert b"\n" not in line.strip() and not line.startswith(b"-----")
            report = verify_detached(content[document], line, trust=trust)
            assert "эмулятор" in report.signer_subject.lower()


async def test_the_pdf_and_xml_carry_the_patient_and_the_organisation(
        stand: Stand, tmp_path: Path) -> None:
    _, dest = await signed_archive(stand, tmp_path, "ИДС")
    content = read_zip(dest)
    pdf, xml = content["ИДС PDF.pdf"], content["ИДС XML.xml"].decode()
    patient = profile_for(PHONE)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1024
    assert patient.full_name.encode("utf-16-be").hex().encode() in pdf  # /Author metadata
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    for fragment in ('<agreement version="2.0">', "<templateNumber>tpl-0</templateNumber>",
                     "<templateName>ИДС</templateName>",
                     "<nameExecutor>ГБУЗ «Городская поликлиника № 1»</nameExecutor>",
                     f"<signerLastName>{patient.last_name}</signerLastName>",
                     f"<signerNumber>{patient.passport_number}</signerNumber>",
                     "<signerPLV>", "<creationDate>", "<regAdrExecutor>", "<signerGender>",
                     "<signerSeries>", "<signerIssued>", "<signerDate>", "<signerCodeDepart>"):
        assert fragment in xml


async def test_the_archive_seal_id_sig_verifies_over_the_archive(
        stand: Stand, tmp_path: Path) -> None:
    transaction_id, dest = await signed_archive(stand, tmp_path)
    status = await stand.client.status(transaction_id)
    seal = tmp_path / "archive.p7s"
    assert status.steps[0].id_sig is not None
    await stand.client.download(transaction_id, status.steps[0].id_sig, phone=PHONE,
                                dest=seal, max_bytes=100_000)
    verify_detached(dest.read_bytes(), seal.read_bytes(), trust=await operator_trust(stand))


@pytest.mark.parametrize("mode", ["pdf", "xml", "zip"])
async def test_each_countersign_mode_is_accepted(
        make_stand: Callable[..., Any], tmp_path: Path, mo_keys: KeyPair, mo_trust_file: Path,
        mode: str) -> None:
    stand: Stand = await make_stand(mo_trust=(mo_trust_file,))
    transaction_id, dest = await signed_archive(stand, tmp_path, "Договор", "ИДС")
    content = read_zip(dest)
    target = {"pdf": content["ИДС PDF.pdf"], "xml": content["Договор XML.xml"],
              "zip": dest.read_bytes()}[mode]
    await stand.client.upload(transaction_id, PureSigner(mo_keys).sign(target),
                              filename=f"{mode}.p7s", mime_type="application/pkcs7-signature",
                              idempotency_key="up-2")
    upload = (await stand.view(transaction_id))["uploads"][0]
    assert upload["accepted"] and upload["covers"] == {
        "pdf": "ИДС PDF.pdf", "xml": "Договор XML.xml", "zip": "archive.zip"}[mode]


async def test_a_signature_over_something_else_is_rejected(
        stand: Stand, tmp_path: Path, mo_keys: KeyPair) -> None:
    transaction_id, _ = await signed_archive(stand, tmp_path)
    with pytest.raises(GoskeyRejected) as caught:
        await stand.client.upload(transaction_id, PureSigner(mo_keys).sign(b"another file"),
                                  filename="mo.p7s", mime_type="application/pkcs7-signature",
                                  idempotency_key="up-3")
    assert (caught.value.status, caught.value.code) == (400, "signature.invalid")
    assert "digest_mismatch" in caught.value.message
    view = await stand.view(transaction_id)
    assert view["step_status"] == "wip_partner" and view["uploads"][0]["accepted"] is False


async def test_garbage_instead_of_a_signature_is_rejected(stand: Stand, tmp_path: Path) -> None:
    transaction_id, _ = await signed_archive(stand, tmp_path)
    with pytest.raises(GoskeyRejected) as caught:
        await stand.client.upload(transaction_id, b"not a signature", filename="x.p7s",
                                  mime_type="application/pkcs7-signature", idempotency_key="up-4")
    assert caught.value.code == "signature.invalid" and "malformed_cms" in caught.value.message


async def test_an_untrusted_mo_certificate_is_rejected_when_a_trust_store_is_set(
        make_stand: Callable[..., Any], tmp_path: Path, mo_trust_file: Path) -> None:
    stand: Stand = await make_stand(mo_trust=(mo_trust_file,))
    transaction_id, dest = await signed_archive(stand, tmp_path, "ИДС")
    stranger = stand.app.state.emulator.operator  # signed by the operator's CA, not the MO's
    signature = stranger.seal(read_zip(dest)["ИДС PDF.pdf"])
    with pytest.raises(GoskeyRejected) as caught:
        await stand.client.upload(transaction_id, signature, filename="mo.p7s",
                                  mime_type="application/pkcs7-signature", idempotency_key="up-5")
    assert caught.value.code == "signature.invalid"
    assert "untrusted_certificate" in caught.value.message


async def test_complete_is_refused_after_only_a_rejected_upload(
        stand: Stand, tmp_path: Path) -> None:
    transaction_id, _ = await signed_archive(stand, tmp_path)
    with pytest.raises(GoskeyRejected):
        await stand.client.upload(transaction_id, b"junk", filename="x", mime_type="a/b",
                                  idempotency_key="up-6")
    with pytest.raises(GoskeyRejected) as caught:
        await stand.client.complete(transaction_id, phone=PHONE, template_id="t",
                                    idempotency_key="done-8")
    assert (caught.value.status, caught.value.code) == (409, "invalid.state")
