"""The console's webhook endpoints (administrators): every МИС endpoint with its state — a
disabled one with its reason and time — its latest deliveries and their last attempts, and
a replay of any delivery (the same body, the same ``webhook-id``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from medsign.domain.webhooks import EVENT_TITLES, EventType
from medsign.web import deps
from medsign.web.console import identities
from medsign.web.templating import render
from medsign.webhooks import service as webhooks

router = APIRouter(prefix="/console", dependencies=[deps.Guard, Depends(identities.banner)],
                   include_in_schema=False)
RECENT = 10
IdPart = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", max_length=36)]
EVENT_NAMES = {e.value: EVENT_TITLES[e] for e in EventType}
DELIVERY_STATES = {"pending": "доставляется", "delivered": "доставлено",
                   "stopped": "остановлено (адрес отключён)"}


@router.get("/webhooks")
def webhooks_page(request: Request, user: deps.Admin) -> Response:
    with deps.read_db(request) as db:
        rows = webhooks.summaries(db, recent=RECENT)
    return render(request, "console/webhooks.html", title="События для МИС", rows=rows,
                  events=EVENT_NAMES, states=DELIVERY_STATES,
                  tz=deps.web_settings(request).console_timezone)


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
def webhooks_replay(request: Request, user: deps.Admin, endpoint_id: IdPart,
                    delivery_id: IdPart) -> Response:
    with deps.write_db(request) as db:
        webhooks.replay(db, api_client_id=None, endpoint_id=endpoint_id,
                        delivery_id=delivery_id, actor=user.actor, now=deps.now(request))
        db.commit()
    return RedirectResponse("/console/webhooks?msg=webhook_replayed", status_code=303)
