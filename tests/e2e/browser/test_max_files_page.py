"""The MAX emulator's «phone» page shows a file the bot sent as a link that downloads it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import expect

from medsign.integrations.max import MaxClient
from tests.e2e.browser.pages import Ui
from tests.e2e.browser.stand import MAX_TOKEN, Stand

pytestmark = pytest.mark.browser
PDF = b"%PDF-1.7\n% a signed consent\n%%EOF\n"
NAME = "Согласие на обработку персональных данных PDF.pdf"


async def _send(base: str, user_id: int) -> None:
    client = MaxClient(base, MAX_TOKEN)
    try:
        token = await client.upload_file(PDF, NAME)
        await client.send_file(user_id=user_id, text="Ваш экземпляр подписанных документов",
                               token=token, ready_pauses=(0.5, 1.0, 2.0, 4.0))
    finally:
        await client.aclose()


def test_a_sent_file_is_a_download_link_in_the_chat(ui: Ui, stand: Stand) -> None:
    user = httpx.post(f"{stand.max_url}/_emulator/users", timeout=10,
                      json={"name": "Файлов Пётр"}).json()
    httpx.post(f"{stand.max_url}/_emulator/users/{user['user_id']}/start",
               json={"payload": None}, timeout=10).raise_for_status()
    with ThreadPoolExecutor(1) as thread:  # Playwright's own loop runs in this thread
        thread.submit(asyncio.run, _send(stand.max_url, user["user_id"])).result()
    page = ui.person("пациент", phone=True)
    page.goto(f"{stand.max_url}/_emulator/?user={user['user_id']}")
    link = page.get_by_role("link", name=NAME, exact=False)
    expect(link).to_be_visible()
    ui.check(page, "max-chat-file")
    with page.expect_download() as download:
        link.click()
    path = download.value.path()
    assert path is not None and path.read_bytes() == PDF
