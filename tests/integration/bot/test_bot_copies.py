"""The patient keeps a copy: after completion the signed PDFs arrive in the MAX chat as
files (upload URL → upload → attach), each once — and a failure to send them never changes
how signing ended."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from medsign.accounts import staff
from medsign.bot.copies import CopiesFlow
from medsign.notifications.service import COPIES_KIND
from medsign.runner import store
from medsign.runner.outcomes import PermanentError
from medsign.signing import repository
from medsign.signing.archive import PDF_SUFFIX
from tests.integration.bot.stand import BotStand
from tests.integration.bot.test_bot_crashes import run_and_die
from tests.integration.bot.test_bot_outcomes import settle, signing_started, state_of
from tests.integration.web.stand import PASSWORD, browser, logged_in


def files(stand: BotStand, user_id: int) -> list[dict[str, Any]]:
    return [{**f, "text": m["text"]} for m in stand.bot_messages(user_id)
            for f in m.get("files", [])]


def archive_pdfs(stand: BotStand, rid: str) -> dict[str, bytes]:
    """The PDFs of the request's stored archive, by file name."""
    with Session(stand.engine) as db:
        content = repository.archive_bytes(db, request_id=rid)
    assert content is not None
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist() if n.endswith(PDF_SUFFIX) and "/" not in n}


def completed(stand: BotStand, **emulator: Any) -> tuple[int, str]:
    stand.max("POST", "/config", emulator or {"upload_not_ready_s": None})
    invited, rid, tx = signing_started(stand)
    stand.goskey("POST", f"/transactions/{tx}/sign")
    return invited.user_id, rid


def download(stand: BotStand, url: str) -> bytes:
    """Follow the attachment's link, as the patient's MAX app would."""
    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(stand.max_app)) as http:
            return await http.get(url)
    answer = stand.run(get())
    assert answer.status_code == 200
    return answer.content


def copies_state(stand: BotStand) -> tuple[str, str | None]:
    [item] = stand.items(COPIES_KIND)
    return item.status, item.last_error


def test_the_signed_pdfs_arrive_in_the_chat_once(any_stand: BotStand) -> None:
    stand = any_stand
    user_id, rid = completed(stand)
    settle(stand)
    assert state_of(stand, rid)["state"] == "completed"
    pdfs = archive_pdfs(stand, rid)
    sent = files(stand, user_id)
    assert sorted(f["filename"] for f in sent) == sorted(pdfs) and len(pdfs) == 2
    for f in sent:
        assert download(stand, f["url"]) == pdfs[f["filename"]]
        assert f["filename"].removesuffix(PDF_SUFFIX) in f["text"]
    assert sent[0]["text"].startswith("Ваши экземпляры подписанных документов")
    assert copies_state(stand)[0] == store.DONE
    settle(stand)  # nothing more is sent
    assert len(files(stand, user_id)) == 2
    assert stand.stats()["files_uploaded"] == 2


def test_a_file_still_processed_is_sent_when_ready(stand: BotStand) -> None:
    user_id, rid = completed(stand, upload_not_ready_s=5)
    settle(stand)
    assert len(files(stand, user_id)) == 2
    assert stand.stats()["attachments_not_ready"] >= 1
    assert copies_state(stand)[0] == store.DONE
    assert state_of(stand, rid)["state"] == "completed"


def test_a_refused_file_fails_the_copies_not_the_signing(stand: BotStand) -> None:
    user_id, rid = completed(stand, upload_max_bytes=100)
    settle(stand)
    assert files(stand, user_id) == []
    status, error = copies_state(stand)
    assert status == store.FAILED and error and "proto.payload" in error
    assert state_of(stand, rid)["state"] == "completed"
    assert stand.sent_with(user_id, "документы подписаны")  # the final message still went
    page = _console_page(stand, rid)
    assert "Копии документов пациенту в MAX" in page and "ошибка" in page


def test_a_copy_sent_just_before_a_crash_is_not_sent_again(
        stand: BotStand, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CopiesFlow, "run", _held)
    user_id, rid = completed(stand)
    settle(stand)  # completes the request; the copies' step is held back until it fails
    monkeypatch.undo()
    [item] = stand.items(COPIES_KIND)
    with stand.engine.begin() as conn:  # an operator puts it back in the queue
        assert store.operator_retry(conn, item.id, now=stand.clock.now()).ok
    assert files(stand, user_id) == []
    run_and_die(stand, COPIES_KIND)  # uploaded and sent the first file, died before commit
    assert len(files(stand, user_id)) == 1
    stand.advance(timedelta(minutes=1))  # the dead worker's lease runs out
    settle(stand)
    sent = files(stand, user_id)
    assert sorted(f["filename"] for f in sent) == sorted(archive_pdfs(stand, rid))
    assert copies_state(stand)[0] == store.DONE


def test_switched_off_nothing_is_sent(stand: BotStand,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CopiesFlow, "__init__", _disabled(CopiesFlow.__init__))
    user_id, rid = completed(stand)
    settle(stand)
    assert files(stand, user_id) == []
    assert copies_state(stand)[0] == store.CANCELLED
    assert state_of(stand, rid)["state"] == "completed"


def _disabled(init: Any) -> Any:
    def patched(self: Any, deps: Any, *, enabled: bool = True) -> None:
        init(self, deps, enabled=False)
    return patched


async def _held(self: CopiesFlow, item: Any, ctx: Any) -> Any:
    raise PermanentError("held back by the test")


def _console_page(stand: BotStand, rid: str) -> str:
    with Session(stand.engine) as db:
        staff.create(db, user=staff.NewUser(login="op", full_name="Оператор", role="operator",
                                            organization=None, password=PASSWORD),
                     allow_demo_password=False, actor="test", now=stand.clock.now())
        db.commit()
    client = logged_in(browser(stand.container.app()), "op")
    answer = client.get(f"/console/requests/{rid}")
    assert answer.status_code == 200, answer.text
    return answer.text
