"""The emulator's pure parts: lifecycle, body validation, fake profiles, archive, faults."""

from __future__ import annotations

import copy
import random
import zipfile
from collections.abc import Callable
from dataclasses import replace
from io import BytesIO
from typing import Any

import pytest

from medsign.integrations.goskey import DocumentSpec, Executor, SendRequest
from medsign.integrations.goskey.emulator import archive
from medsign.integrations.goskey.emulator.faults import (
    Fault,
    RateLimiter,
    parse_autopilot,
    parse_fault,
)
from medsign.integrations.goskey.emulator.model import InvalidState, KeyReused, Transaction, Upload
from medsign.integrations.goskey.emulator.profile import profile_for
from medsign.integrations.goskey.emulator.validation import ValidationFailed, parse_send

AT = "2026-03-01T10:00:00+00:00"


def body() -> dict[str, Any]:
    return SendRequest(phone="+79990000000", department_id="dep", deal_type_ids=["deal"],
                       documents=[DocumentSpec("tpl-1", "ИДС"), DocumentSpec("tpl-2", "Договор")],
                       service_names=["Приём"],
                       executor=Executor("ГБУЗ", "Москва", "1027700132195", "7707083893",
                                         "773601001")).to_json()


def transaction() -> Transaction:
    return Transaction(id="t", phone="+79990000000", department_id="d", deal_types=[],
                       documents=parse_send(body()).documents, created_at=AT)


def upload(accepted: bool) -> Upload:
    return Upload(file_id="f", filename="mo.p7s", mime_type="application/pkcs7-signature",
                  size=10, accepted=accepted, covers=None, detail="", at=AT)


class TestLifecycle:
    def test_the_happy_path_goes_through_every_step(self) -> None:
        t = transaction()
        assert t.status_json()["steps"][0] == {"type": "med_permission",
                                               "status": "wip_client", "data": {}}
        t.sign(id_zip="z", id_sig="s", at=AT)
        assert t.status_json()["steps"][0]["data"] == {"idZip": "z", "idSig": "s"}
        t.record_upload(upload(accepted=True))
        assert t.step_status == "done"
        t.complete(final_file="f2", template_id="c", at=AT)
        assert t.status_json()["status"] == "finished" and t.is_final

    def test_a_rejected_upload_does_not_advance(self) -> None:
        t = transaction()
        t.sign(id_zip="z", id_sig="s", at=AT)
        t.record_upload(upload(accepted=False))
        with pytest.raises(InvalidState):
            t.complete(final_file="f", template_id="c", at=AT)

    def test_upload_before_the_patient_signed_is_refused(self) -> None:
        with pytest.raises(InvalidState, match="after the patient has signed"):
            transaction().check_upload_allowed()

    @pytest.mark.parametrize("reason", ["refused", "expired"])
    def test_cancelled_is_final_and_blocks_everything(self, reason: str) -> None:
        t = transaction()
        t.cancel(reason, AT)
        assert t.status_json() == {"transactionId": "t", "status": "cancelled",
                                   "reason": reason, "steps": [
                                       {"type": "med_permission", "status": "wip_client",
                                        "data": {}}]}
        acts: list[Callable[[], None]] = [
            lambda: t.sign(id_zip="z", id_sig="s", at=AT), t.check_upload_allowed,
            t.check_download_allowed, lambda: t.cancel("x", AT), lambda: t.fail(AT)]
        for act in acts:
            with pytest.raises(InvalidState):
                act()

    def test_files_stay_readable_after_finished(self) -> None:
        t = transaction()
        t.sign(id_zip="z", id_sig="s", at=AT)
        t.record_upload(upload(accepted=True))
        t.complete(final_file="f", template_id="c", at=AT)
        t.check_download_allowed()

    def test_round_trips_through_a_dict(self) -> None:
        t = transaction()
        t.sign(id_zip="z", id_sig="s", at=AT)
        t.record_upload(upload(accepted=True))
        assert Transaction.from_dict(copy.deepcopy(t.to_dict())) == t


class TestIdempotency:
    def test_a_new_key_has_no_answer_and_a_remembered_one_is_replayed_once_each(self) -> None:
        t = transaction()
        assert t.replay("upload", "k", "fp") is None and t.replay("upload", None, "fp") is None
        t.remember("upload", "k", "fp", {"fileId": "f1"})
        assert t.replay("upload", "k", "fp") == {"fileId": "f1"}
        assert t.replay("complete", "k", "fp") is None, "keys are per method"
        assert t.tally == {"sends_created": 1, "uploads_replayed": 1}

    def test_the_same_key_with_another_request_is_refused_and_counted(self) -> None:
        t = transaction()
        t.remember("complete", "k", "fp", {"fileId": "final"})
        with pytest.raises(KeyReused, match="another complete request"):
            t.replay("complete", "k", "other")
        assert t.tally["keys_reused"] == 1 and "completes_replayed" not in t.tally

    def test_send_compares_with_the_request_that_created_the_transaction(self) -> None:
        t = transaction()
        t.request_fingerprint = "fp"
        assert t.replay("send", "k", "fp") == {}
        with pytest.raises(KeyReused):
            t.replay("send", "k", "other")

    def test_accepted_uploads_are_counted_per_signature(self) -> None:
        t = transaction()
        t.sign(id_zip="z", id_sig="s", at=AT)
        for digest, accepted in (("a", True), ("b", True), ("a", True), ("c", False)):
            t.record_upload(replace(upload(accepted=accepted), sha256=digest))
        assert t.tally["uploads_accepted"] == {"a": 2, "b": 1}
        assert (t.duplicate_uploads(), t.tally["uploads_rejected"]) == (1, 1)
        t.complete(final_file="f", template_id="c", at=AT)
        assert t.tally["completes_accepted"] == 1

    def test_keys_and_counts_round_trip_through_a_dict(self) -> None:
        t = transaction()
        t.remember("upload", "k", "fp", {"error": [400, "signature.invalid", "bad"]})
        t.replay("upload", "k", "fp")
        assert Transaction.from_dict(copy.deepcopy(t.to_dict())) == t


class TestValidation:
    def test_reads_the_client_body_and_ignores_unknown_fields(self) -> None:
        raw = body()
        raw["surprise"] = {"x": 1}
        raw["dealTemplates"][0]["data"]["extra"] = True
        parsed = parse_send(raw)
        assert [d.title for d in parsed.documents] == ["ИДС", "Договор"]
        assert parsed.documents[0].executor["ogrnExecutor"] == "1027700132195"
        assert parsed.documents[0].services == ["Приём"]

    @pytest.mark.parametrize(("change", "field"), [
        (lambda b: b.pop("phoneNumber"), "phoneNumber"),
        (lambda b: b.update(phoneNumber="89990000000"), "phoneNumber"),
        (lambda b: b.update(phoneNumber="+7999000000"), "phoneNumber"),
        (lambda b: b.update(dealTemplates=[]), "dealTemplates"),
        (lambda b: b.pop("dealTemplates"), "dealTemplates"),
        (lambda b: b.update(departmentId=""), "departmentId"),
        (lambda b: b["dealTemplates"][0]["data"]["templates"][0].pop("title"), "title"),
        (lambda b: b["dealTemplates"][0]["data"].pop("businessData"), "businessData"),
        (lambda b: b["dealTemplates"][1].pop("templateId"), "dealTemplates[1].templateId"),
    ])
    def test_refuses_a_bad_body_naming_the_field(self, change: Any, field: str) -> None:
        raw = body()
        change(raw)
        with pytest.raises(ValidationFailed, match=field.replace("[", r"\[")):
            parse_send(raw)

    def test_refuses_a_body_that_is_not_an_object(self) -> None:
        with pytest.raises(ValidationFailed):
            parse_send([1, 2])


def test_the_fake_profile_is_stable_per_phone() -> None:
    first, again = profile_for("+79990000000"), profile_for("+79990000000")
    assert first == again
    assert len({profile_for(f"+7999000000{n}").full_name for n in range(10)}) > 1
    assert first.gender in ("M", "F") and len(first.passport_number) == 6


class TestArchive:
    def test_titles_become_safe_unique_file_names(self) -> None:
        assert archive.safe_titles(["ИДС", "a/b\\c", "ИДС", "..", "x\ny"]) == [
            "ИДС", "a_b_c", "ИДС (2)", "Документ", "x_y"]

    def test_four_entries_per_document_with_one_line_signatures(self) -> None:
        docs = [archive.Rendered("ИДС", b"<xml/>", b"%PDF-1"),
                archive.Rendered("Договор", b"<x/>", b"%PDF-2")]
        built = archive.build_archive(docs, lambda data: b"\x30sig:" + data)
        with zipfile.ZipFile(BytesIO(built)) as opened:
            names = opened.namelist()
            assert names == ["ИДС XML.xml", "ИДС подпись к XML.p7s", "ИДС PDF.pdf",
                             "ИДС подпись к PDF.p7s", "Договор XML.xml",
                             "Договор подпись к XML.p7s", "Договор PDF.pdf",
                             "Договор подпись к PDF.p7s"]
            assert all(info.flag_bits & 0x800 for info in opened.infolist())
            line = opened.read("ИДС подпись к PDF.p7s")
        assert b"\n" not in line and line == archive.p7s_line(b"\x30sig:%PDF-1")

    def test_swapped_signatures_exchange_xml_and_pdf(self) -> None:
        built = archive.build_archive([archive.Rendered("T", b"x", b"p")], lambda d: d)
        swapped = archive.entries(archive.with_swapped_signatures(built))
        assert swapped["T подпись к PDF.p7s"] == archive.p7s_line(b"x")
        assert swapped["T подпись к XML.p7s"] == archive.p7s_line(b"p")

    def test_a_corrupted_archive_does_not_open(self) -> None:
        built = archive.build_archive([archive.Rendered("T", b"x" * 100, b"p" * 100)],
                                      lambda d: d)
        with pytest.raises(zipfile.BadZipFile):
            archive.entries(archive.corrupted(built, random.Random(1)))


class TestFaults:
    def test_one_draw_splits_between_outcomes_deterministically(self) -> None:
        _, fault = parse_fault({"method": "status", "drop_rate": 0.2, "rate_429": 0.3,
                                "error_5xx_rate": 0.5, "seed": 7})
        outcomes = [fault.roll() for _ in range(200)]
        assert None not in outcomes and {"drop", "429", "5xx"} == set(outcomes)
        _, same = parse_fault({"drop_rate": 0.2, "rate_429": 0.3, "error_5xx_rate": 0.5,
                               "seed": 7})
        assert [same.roll() for _ in range(200)] == outcomes

    def test_a_held_call_is_one_of_the_outcomes(self) -> None:
        _, fault = parse_fault({"method": "upload", "timeout_rate": 1.0, "timeout_s": 3})
        assert (fault.roll(), fault.timeout_s) == ("timeout", 3.0)
        with pytest.raises(ValidationFailed, match="timeout_rate"):
            parse_fault({"drop_after_rate": 0.5, "timeout_rate": 0.6})

    def test_no_rates_means_no_roll(self) -> None:
        assert Fault(latency_ms=5).roll() is None

    @pytest.mark.parametrize("raw", [{"method": "nope"}, {"drop_rate": 2},
                                     {"drop_rate": 0.6, "rate_429": 0.6}, {"seed": "x"},
                                     {"latency_ms": -1}, [1]])
    def test_refuses_nonsense(self, raw: Any) -> None:
        with pytest.raises(ValidationFailed):
            parse_fault(raw)

    def test_autopilot_is_deterministic_with_its_seed(self) -> None:
        spec = {"sign": 2, "refuse": 1, "ignore": 1, "after_polls": 3, "seed": 42}
        first, second = parse_autopilot(spec), parse_autopilot(spec)
        decisions = [first.decide() for _ in range(50)]
        assert decisions == [second.decide() for _ in range(50)]
        assert set(decisions) == {"sign", "refuse", "ignore"} and first.after_polls == 3

    def test_rate_limiter_allows_a_second_of_calls_then_asks_to_wait(self) -> None:
        limiter = RateLimiter(3)
        assert [limiter.take() for _ in range(3)] == [None, None, None]
        wait = limiter.take()
        assert wait is not None and 0 < wait <= 1 / 3
