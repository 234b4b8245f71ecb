"""Shared pieces of the Goskey integration tests: the stand (emulator + real client)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from medsign.integrations.goskey import DocumentSpec, Executor, GoskeyClient, SendRequest

TOKEN = "partner-token"
PHONE = "+79990000000"
BASE = "http://goskey.test"


@dataclass
class Stand:
    app: Starlette
    client: GoskeyClient
    control: httpx.AsyncClient

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.control.post(f"/_emulator{path}", json=body)

    async def view(self, transaction_id: str) -> dict[str, Any]:
        response = await self.control.get(f"/_emulator/transactions/{transaction_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sign(self, transaction_id: str) -> None:
        response = await self.post(f"/transactions/{transaction_id}/sign")
        assert response.status_code == 200, response.text


def send_request(*titles: str, phone: str = PHONE) -> SendRequest:
    docs = [DocumentSpec(template_id=f"tpl-{n}", title=title)
            for n, title in enumerate(titles or ("ИДС на медицинское вмешательство",))]
    return SendRequest(phone=phone, department_id="dep-1", deal_type_ids=["deal-1"],
                       documents=docs, service_names=["Приём врача-терапевта"],
                       executor=Executor(name="ГБУЗ «Городская поликлиника № 1»",
                                         address="г. Москва, ул. Мира, д. 1",
                                         ogrn="1027700132195", inn="7707083893",
                                         kpp="773601001"))
