"""The emulator's registry of Госуслуги accounts by phone: who fills the documents, the rule for
an unknown phone, and answering with someone else's profile (the real client, in-process)."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medsign.integrations.goskey import GoskeyRejected
from tests.integration.goskey.helpers import PHONE, Stand, send_request

MARIA = {"phone": PHONE, "last_name": "Иванова", "first_name": "Мария",
         "middle_name": "Петровна", "birth_date": "1985-03-14", "gender": "F"}
PETR = {"phone": "+79990000099", "last_name": "Иванов", "first_name": "Пётр",
        "middle_name": "Сергеевич", "birth_date": "1983-09-01", "gender": "M"}
Make = Callable[..., Any]
pytestmark = pytest.mark.anyio


async def signer_of(stand: Stand, tmp_path: Path, *, phone: str = PHONE) -> dict[str, str]:
    """Send, sign, download: the ``signerInfo`` of the document, as the service reads it."""
    transaction_id = await stand.client.send(send_request("ИДС", phone=phone),
                                             idempotency_key=str(uuid.uuid4()))
    await stand.sign(transaction_id)
    status = await stand.client.status(transaction_id)
    dest = tmp_path / f"{transaction_id}.zip"
    await stand.client.download(transaction_id, status.patient_signed_zip or "", phone=phone,
                                dest=dest, max_bytes=5_000_000)
    with zipfile.ZipFile(dest) as archive:
        root = ET.fromstring(archive.read("ИДС XML.xml"))
    info = root.find("signerInfo")
    assert info is not None
    return {child.tag: child.text or "" for child in info}


async def test_a_phone_without_an_account_is_refused_at_send(make_stand: Make) -> None:
    stand: Stand = await make_stand(unknown_phones="refuse")
    with pytest.raises(GoskeyRejected) as caught:
        await stand.client.send(send_request(), idempotency_key="k-1")
    assert (caught.value.status, caught.value.code) == (404, "person.not.found")
    assert "no Gosuslugi account" in caught.value.message
    listing = (await stand.control.get("/_emulator/transactions")).json()
    assert listing["transactions"] == []


async def test_the_documents_carry_the_registered_owner_of_the_phone(
        make_stand: Make, tmp_path: Path) -> None:
    stand: Stand = await make_stand(unknown_phones="refuse")
    created = await stand.post("/people", MARIA)
    assert created.status_code == 201 and created.json()["last_name"] == "Иванова"
    assert (await stand.post("/people", MARIA)).status_code == 200  # replaced, not duplicated
    signer = await signer_of(stand, tmp_path)
    assert (signer["signerLastName"], signer["signerFirstName"], signer["signerMiddleName"],
            signer["signerBirthDate"], signer["signerGender"]) == (
        "Иванова", "Мария", "Петровна", "1985-03-14", "F")
    registry = (await stand.control.get("/_emulator/people")).json()
    assert [p["phone"] for p in registry["people"]] == [PHONE]
    assert registry["unknown_phones"] == "refuse"


async def test_a_phone_can_be_answered_with_someone_elses_profile_until_cleared(
        make_stand: Make, tmp_path: Path) -> None:
    stand: Stand = await make_stand(people_file=None, unknown_phones="refuse")
    await stand.post("/people", MARIA)
    answer = await stand.post("/answer-as", {"phone": PHONE, "person": PETR})
    assert answer.status_code == 200 and answer.json()["answer_as"][PHONE]["first_name"] == "Пётр"
    assert (await signer_of(stand, tmp_path))["signerFirstName"] == "Пётр"
    assert (await signer_of(stand, tmp_path))["signerFirstName"] == "Пётр"  # until cleared
    assert (await stand.control.delete("/_emulator/answer-as")).status_code == 200
    assert (await signer_of(stand, tmp_path))["signerFirstName"] == "Мария"


async def test_the_next_transaction_only_can_be_answered_as_someone_else(
        make_stand: Make, tmp_path: Path) -> None:
    stand: Stand = await make_stand(unknown_phones="refuse")
    await stand.post("/people", MARIA)
    assert (await stand.post("/answer-as", {"person": PETR})).status_code == 200
    assert (await signer_of(stand, tmp_path))["signerLastName"] == "Иванов"
    assert (await signer_of(stand, tmp_path))["signerLastName"] == "Иванова"


async def test_people_come_from_a_file_and_survive_a_restart(
        make_stand: Make, tmp_path: Path) -> None:
    people_file = tmp_path / "people.json"
    people_file.write_text(json.dumps({"people": [MARIA]}), encoding="utf-8")
    state = tmp_path / "emulator-state"
    first: Stand = await make_stand(people_file=people_file, unknown_phones="refuse",
                                    state_dir=state)
    assert (await first.post("/people", PETR)).status_code == 201
    await first.post("/answer-as", {"phone": PHONE, "person": PETR})
    first.app.state.emulator.store.close()
    again: Stand = await make_stand(people_file=people_file, unknown_phones="refuse",
                                    state_dir=state)
    registry = (await again.control.get("/_emulator/people")).json()
    assert sorted(p["phone"] for p in registry["people"]) == sorted([PETR["phone"], PHONE])
    assert registry["answer_as"][PHONE]["first_name"] == "Пётр"
    assert (await again.post("/reset")).status_code == 200  # back to the configured people
    registry = (await again.control.get("/_emulator/people")).json()
    assert ([p["phone"] for p in registry["people"]], registry["answer_as"]) == ([PHONE], {})


async def test_a_removed_account_is_refused_again(make_stand: Make) -> None:
    stand: Stand = await make_stand(people=(), unknown_phones="refuse")
    await stand.post("/people", MARIA)
    assert (await stand.control.delete(f"/_emulator/people/{PHONE}")).status_code == 200
    assert (await stand.control.delete(f"/_emulator/people/{PHONE}")).status_code == 404
    with pytest.raises(GoskeyRejected):
        await stand.client.send(send_request(), idempotency_key=str(uuid.uuid4()))


@pytest.mark.parametrize(("body", "field"), [
    ({**MARIA, "phone": "89990000000"}, "person.phone"),
    ({**MARIA, "last_name": " "}, "person.last_name"),
    ({**MARIA, "birth_date": "14.03.1985"}, "person.birth_date"),
    ({**MARIA, "gender": "X"}, "person.gender"),
    ([MARIA], "person"),
])
async def test_a_malformed_person_is_refused_with_the_field_named(
        stand: Stand, body: Any, field: str) -> None:
    response = await stand.post("/people", body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(field + ":")
    assert (await stand.control.get("/_emulator/people")).json()["people"] == []


async def test_the_permissive_rule_invents_a_stable_profile_for_an_unknown_phone(
        stand: Stand, tmp_path: Path) -> None:
    first, second = await signer_of(stand, tmp_path), await signer_of(stand, tmp_path)
    assert first["signerLastName"] and first == second
