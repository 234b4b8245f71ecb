"""The patient's whole path over real sockets and real processes.

The МИС creates an organisation, a patient and an appointment for the day after tomorrow; the
patient opens the portal's deep link in MAX (linking their account); the clock of the service
(and of the MAX platform) jumps to the day before; the invitation appears in the patient's
chat; they press «Подписать онлайн», sign in Goskey, and read «документы подписаны».

Then the same path under trouble — one back end per kind of trouble, all of them covered:
duplicate presses, replayed webhooks and a forged secret; a patient who stopped the bot;
a storm of 429s; SIGKILL of every process in the middle of the flow. Nothing may be lost, and
nothing may happen twice: no duplicate message in the chat, no second Goskey transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from medsign.domain import bot
from medsign.domain.consents import ConsentKind
from medsign.domain.signing import PatientNotice
from tests import factories as f
from tests.e2e.bot.stack import (
    MAX_TOKEN,
    PHONE,
    Database,
    Stack,
    visit_time,
)
from tests.e2e.processes import wait_for

pytestmark = pytest.mark.slow

KINDS = [ConsentKind.medical_intervention, ConsentKind.personal_data]
LINKED = bot.linked("Иванов Иван Иванович")
SIGNED = "документы подписаны"
STEP_TIMEOUT = 30.0


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    made: list[Stack] = []

    def make(backend: str, updates: str, *, max_options: list[str] | None = None) -> Stack:
        folder = tmp_path / f"{backend}-{updates}-{len(made)}"
        folder.mkdir()
        stack = Stack(folder, backend, updates, Database.create(backend, folder),
                      max_options=max_options or [])
        made.append(stack)
        stack.prepare()
        return stack

    yield make
    for stack in made:
        try:
            stack.close()
        finally:
            stack.database.drop()


def only_on(request: pytest.FixtureRequest, backend: str) -> None:
    """Chaos cases pick their back end; honour ``--db`` all the same."""
    chosen = request.config.getoption("--db")
    if chosen not in ("both", backend):
        pytest.skip(f"runs on {backend} (--db {chosen})")


# -- the path, step by step --------------------------------------------------------------------
class Path_:
    """One patient's path through a running stack, with the checks of every step."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.user = 0
        self.visit = visit_time()
        self.invitation_mid = ""
        self.transaction = ""

    def wait(self, check: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT) -> Any:
        return wait_for(check, timeout=timeout, what=what, describe=self.stack.describe)

    def mis_pushes_the_appointment(self) -> None:
        s = self.stack
        s.api("PUT", "/api/v1/organizations/mo1", f.organization(quiet_hours="00:00-00:00"),
              expect=(201,))
        s.api("PUT", "/api/v1/organizations/mo1/patients/p1", f.patient(), expect=(201,))
        s.goskey_post("/people", f.goskey_person(f.patient()))  # her Госуслуги account
        body = f.appointment()
        body["starts_at"] = self.visit.isoformat()
        s.api("PUT", "/api/v1/organizations/mo1/appointments/a1", body, expect=(201,))

    def patient_opens_the_deep_link(self, *, then: Callable[[], None] | None = None) -> None:
        s = self.stack
        link = s.api("POST", "/api/v1/organizations/mo1/patients/p1/max-link", expect=(201,))
        assert link["deep_link"] == f"https://max.ru/medsign_e2e_bot?start={link['token']}"
        self.user = s.max_post("/users", {"name": "Иван Иванов", "phone": PHONE})["user_id"]
        s.max_post(f"/users/{self.user}/start", {"payload": link["token"]})
        if then is not None:
            then()
        self.wait(lambda: s.api("GET", "/api/v1/organizations/mo1/patients/p1")[
                      "max_user_id"] == self.user,
                  "the patient to be linked")
        self.wait(lambda: [m["text"] for m in s.bot_messages(self.user)] == [LINKED],
                  "«аккаунт привязан» in the chat")

    def the_day_before_comes(self) -> None:
        s = self.stack
        self.wait(lambda: s.max_get("/stats")["pending_updates"] == 0,
                  "MAX to hand every update over")
        # The visit is two days ahead; a day (and a little) later it is due.
        s.jump(timedelta(days=1, seconds=5))

    def invitation_arrives(self) -> dict[str, Any]:
        s = self.stack

        def invitation() -> dict[str, Any] | None:
            found = [m for m in s.bot_messages(self.user) if "у вас приём" in (m["text"] or "")]
            return found[0] if found else None
        message: dict[str, Any] = self.wait(invitation, "the invitation in the chat")
        self.invitation_mid = message["mid"]
        assert bot.when(self.visit, "Europe/Moscow") in message["text"]
        assert [b["text"] for b in message["keyboard"][0]] == [bot.SIGN_BUTTON,
                                                                bot.PAPER_BUTTON]
        # The platform's clock moved with the service's: the message is timed the day before.
        sent_at = datetime.fromtimestamp(message["timestamp"] / 1000, UTC)
        assert sent_at >= self.visit - timedelta(hours=24), sent_at
        return message

    def sign_button(self, message: dict[str, Any]) -> str:
        payload: str = message["keyboard"][0][0]["payload"]
        assert payload.startswith("sign:")
        return payload

    def patient_presses_sign(self, message: dict[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = self.stack.max_post(
            f"/users/{self.user}/press", {"mid": message["mid"],
                                          "payload": self.sign_button(message)})["update"]
        return update

    def goskey_link_arrives(self) -> None:
        s = self.stack

        def edited() -> bool:
            [m] = [m for m in s.bot_messages(self.user) if m["mid"] == self.invitation_mid]
            return bool(m["text"] == bot.after_sign(KINDS) and not m["keyboard"])
        self.wait(edited, "the invitation to say the documents are being prepared")

        def in_goskey() -> bool:  # said once the platform accepted them, with the link
            return any(m["text"] == bot.documents_sent(KINDS)
                       and m["keyboard"][0][0]["type"] == "link"
                       for m in s.bot_messages(self.user))
        self.wait(in_goskey, "the message that the documents are in Госключ")
        [tx] = self.wait(lambda: s.goskey_get(f"/transactions?phone=%2B{PHONE[1:]}")[
            "transactions"], "the Goskey transaction")
        self.transaction = tx["id"]

    def patient_signs_in_goskey(self) -> None:
        self.stack.goskey_post(f"/transactions/{self.transaction}/sign")

    def documents_are_signed(self) -> None:
        s = self.stack
        self.wait(lambda: any(SIGNED in (m["text"] or "") for m in s.bot_messages(self.user)),
                  "«документы подписаны» in the chat", timeout=60)
        self.wait(lambda: len(self.copies()) == len(KINDS),
                  "the signed PDFs as files in the chat", timeout=60)

    def copies(self) -> list[dict[str, Any]]:
        """The files the bot sent (the signed documents), each with its message's text."""
        return [{**f, "text": m["text"]} for m in self.stack.bot_messages(self.user)
                for f in m.get("files", [])]

    def nothing_twice(self) -> None:
        """Every message once, one transaction, one signing request — completed."""
        s = self.stack
        texts = [m["text"] for m in s.bot_messages(self.user) if not m.get("files")]
        assert texts.count(LINKED) == 1, texts
        # linked, the invitation (edited in place), the documents in Госключ, signed
        assert len(texts) == 4, texts
        assert texts.count(bot.documents_sent(KINDS)) == 1, texts
        [final] = [t for t in texts if SIGNED in t]
        assert final == bot.outcome(PatientNotice.signed, kinds=KINDS)
        assert len(s.transactions()) == 1, s.transactions()
        requests = s.api("GET", "/api/v1/signing-requests")["items"]
        assert [(r["state"], r["initiated_by"]) for r in requests] == [("completed", "patient")]
        consents = {c["kind"]: c["state"] for c in
                    s.api("GET", "/api/v1/organizations/mo1/appointments/a1")["consents"]}
        assert consents["medical_intervention"] == consents["personal_data"] == "signed"
        assert s.max_get("/stats")["repeated_idempotency_keys"] == 0
        # the signed PDFs, each once, downloadable from the chat as the patient's copy
        copies = self.copies()
        assert len({c["filename"] for c in copies}) == len(copies) == len(KINDS), copies
        assert copies[0]["text"].startswith("Ваши экземпляры подписанных документов")
        for copy in copies:
            pdf = httpx.get(copy["url"], timeout=10)
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), copy


@pytest.mark.parametrize("updates", ["webhook", "polling"])
def test_the_patient_signs_online_from_the_invitation(
        backend: str, updates: str, make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(backend, updates)
    stack.start()
    path = Path_(stack)
    path.mis_pushes_the_appointment()
    path.patient_opens_the_deep_link()
    if updates == "webhook":
        hook = stack.max_get("/webhooks")
        assert hook["subscription"]["url"] == f"{stack.serve_url}/max/webhook"
    path.the_day_before_comes()
    invitation = path.invitation_arrives()
    path.patient_presses_sign(invitation)
    path.goskey_link_arrives()
    assert stack.toasts(path.user) == [bot.SIGNING_STARTED_TOAST]
    path.patient_signs_in_goskey()
    path.documents_are_signed()
    path.nothing_twice()
    stats = stack.max_get("/stats")
    assert stats["too_many_requests"] == 0
    if updates == "webhook":
        assert stats["webhook_failures"] == 0 and stats["webhook_deliveries"] == 2
    else:
        assert stats["webhook_deliveries"] == 0


# -- trouble -------------------------------------------------------------------------------
def test_duplicate_presses_replayed_webhooks_and_a_forged_secret_change_nothing(
        request: pytest.FixtureRequest, make_stack: Callable[..., Stack]) -> None:
    only_on(request, "postgresql")
    stack = make_stack("postgresql", "webhook")
    stack.start()
    path = Path_(stack)
    path.mis_pushes_the_appointment()
    path.patient_opens_the_deep_link()
    path.the_day_before_comes()
    invitation = path.invitation_arrives()

    # A forged «in the clinic» from someone without the secret.
    paper = invitation["keyboard"][0][1]["payload"]
    forged = {"update_type": "message_callback", "timestamp": 1,
              "callback": {"callback_id": "x" * 40, "payload": paper,
                           "user": {"user_id": path.user}}, "message": None}
    assert stack.webhook(forged, secret="not-the-secret-000").status_code == 401
    assert stack.webhook(forged, secret=None).status_code == 401

    # The patient taps twice; the platform's webhook is replayed as well.
    first = path.patient_presses_sign(invitation)
    # The second tap lands only while the buttons are still there (MAX refuses a press of a
    # button that is gone, 400): usually it is, the service has not answered yet.
    again = httpx.post(f"{stack.max_url}/_emulator/users/{path.user}/press", timeout=10,
                       json={"mid": invitation["mid"], "payload": path.sign_button(invitation)})
    assert again.status_code in (200, 400), again.text
    second = again.status_code == 200
    for _ in range(3):
        replay = stack.webhook(first)
        assert replay.status_code == 200, replay.text
    path.goskey_link_arrives()
    path.wait(lambda: len(stack.toasts(path.user)) == (2 if second else 1), "the answers")
    assert stack.webhook(first).json() == {"ok": True, "duplicate": True}
    path.patient_signs_in_goskey()
    path.documents_are_signed()
    path.nothing_twice()
    toasts = stack.toasts(path.user)
    assert toasts.count(bot.SIGNING_STARTED_TOAST) == 1
    assert toasts.count(bot.ALREADY_CHOSEN) == (1 if second else 0)
    consents = {c["kind"]: c["signing_method"] for c in
                stack.api("GET", "/api/v1/organizations/mo1/appointments/a1")["consents"]}
    assert consents["medical_intervention"] == "electronic"  # the forged «paper» did nothing
    assert [tx["sends_for_key"] for tx in stack.transactions()] == [1]


def test_a_patient_who_stopped_the_bot_gets_no_message_and_no_transaction(
        request: pytest.FixtureRequest, make_stack: Callable[..., Stack]) -> None:
    only_on(request, "sqlite")
    stack = make_stack("sqlite", "polling")
    stack.start()
    path = Path_(stack)
    path.mis_pushes_the_appointment()
    path.patient_opens_the_deep_link()
    stack.max_post(f"/users/{path.user}/stop")
    path.wait(lambda: stack.api("GET", "/api/v1/organizations/mo1/patients/p1")[
                  "max_reachable"] is False,
              "the stop to reach the service")
    path.the_day_before_comes()

    engine = create_engine(stack.database.url)
    try:
        def notification() -> tuple[str, str] | None:
            with engine.connect() as conn:
                row = conn.execute(text("SELECT state, reason FROM notifications")).first()
            return (row[0], row[1]) if row and row[0] != "scheduled" else None
        state = path.wait(notification, "the invitation's item to run")
    finally:
        engine.dispose()
    assert state == ("skipped", "пациент остановил бота MAX")
    time.sleep(1.0)  # a grace second for anything that should not happen
    assert [m["text"] for m in stack.bot_messages(path.user)] == [LINKED]
    assert stack.transactions() == []
    assert stack.api("GET", "/api/v1/signing-requests")["items"] == []
    assert stack.max_get("/stats")["messages_sent"] == 1


class Hammer:
    """Another client of the same bot token spending MAX's request budget in bursts: it takes
    every token there is, without a pause, until MAX says 429, then rests ``rest`` seconds.
    Each burst empties the bucket however fast or slow this machine is, so the service's calls
    meet 429s most of the time (each call made in the 0.25 s a new token takes after a burst)
    and must get through by waiting and retrying. At the storm's 4 tokens a second, a rest of
    0.4 s leaves the service about one call in three; a greedier client (it once rested 0.1 s)
    left it one in ten, and on a loaded CI machine the path outlasted the test's minute."""

    def __init__(self, url: str, rest: float = 0.4) -> None:
        self.url, self.rest = url, rest
        self.stop = threading.Event()
        self.calls = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(headers={"Authorization": MAX_TOKEN}, timeout=5) as client:
            while not self.stop.is_set():
                try:
                    answer = client.get(f"{self.url}/me")
                    self.calls += 1
                except httpx.HTTPError:
                    self.stop.wait(self.rest)
                    continue
                if answer.status_code == 429:  # the bucket is empty: let a token come
                    self.stop.wait(self.rest)

    def __enter__(self) -> Hammer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def test_a_storm_of_429s_delays_the_path_but_loses_and_repeats_nothing(
        request: pytest.FixtureRequest, make_stack: Callable[..., Stack]) -> None:
    only_on(request, "sqlite")
    stack = make_stack("sqlite", "webhook")
    stack.start()
    path = Path_(stack)
    path.mis_pushes_the_appointment()
    path.patient_opens_the_deep_link()
    stack.max_post("/config", {"rate_limit_rps": 4, "rate_limit_chat_messages_per_s": 1,
                               "rate_limit_chat_answers_per_s": 1})
    with Hammer(stack.max_url):
        path.the_day_before_comes()
        invitation = path.invitation_arrives()
        path.patient_presses_sign(invitation)
        path.goskey_link_arrives()
        path.patient_signs_in_goskey()
        path.documents_are_signed()
    stats = stack.max_get("/stats")
    met = stack.procs["worker"].tail(100_000).count("429 too.many.requests")
    assert met >= 3, f"the service met only {met} 429s: {stats}"
    path.nothing_twice()
    assert stack.toasts(path.user) == [bot.SIGNING_STARTED_TOAST]
    print(f"\n[429 storm] MAX answered 429 {stats['too_many_requests']} times; "  # noqa: T201
          f"the worker met {met} of them and retried")


@pytest.mark.parametrize(("backend_", "updates"), [("postgresql", "polling"),
                                                    ("sqlite", "webhook")])
def test_sigkill_of_every_process_in_the_middle_loses_and_repeats_nothing(
        backend_: str, updates: str, request: pytest.FixtureRequest,
        make_stack: Callable[..., Stack]) -> None:
    only_on(request, backend_)
    stack = make_stack(backend_, updates)
    stack.start()
    path = Path_(stack)
    path.mis_pushes_the_appointment()

    # 1. Killed just after the patient opened the deep link: the update waits at MAX.
    path.patient_opens_the_deep_link(then=stack.restart_all)
    # 2. Killed the moment the invitation shows up (its commit may not have happened).
    path.the_day_before_comes()
    invitation = path.invitation_arrives()
    stack.restart_all()
    # 3. Killed just after the press, before the service has answered it.
    path.patient_presses_sign(invitation)
    stack.restart_all()
    path.goskey_link_arrives()
    # 4. Killed just after the patient signed in Goskey, while the service finishes.
    path.patient_signs_in_goskey()
    time.sleep(0.5)
    stack.restart_all()
    path.documents_are_signed()
    path.nothing_twice()
    # An answer is not idempotent at MAX: a worker killed between answering the press and
    # committing answers it again after the restart — the same toast, the same edit.
    assert 1 <= stack.toasts(path.user).count(bot.SIGNING_STARTED_TOAST) <= 2
    assert all(p.starts == 5 for p in stack.procs.values())
