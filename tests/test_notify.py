"""Notifications out (issue 4, item 7): the outbox delivered to a real local
HTTP receiver (webhooks, signed) and a real local SMTP server (aiosmtpd), by
the worker's activities, retried with backoff, once per subscriber, across a
worker restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ringi.audit.trail import export
from ringi.config import Settings
from ringi.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    DeliveryFailed,
    post_webhook,
    sign,
    verify_signature,
)
from ringi.domain.commands import RecordAnswer
from ringi.domain.notifications import NotificationKind
from ringi.domain.subscriptions import Channel, Subscription, Subscriptions
from ringi.domain.vocabulary import Category
from ringi.sealing import Sealer
from ringi.service import Ringi
from ringi.store import Delivery, OutboxMessage, RingiStore
from ringi.workflows.messages import DISPATCHER_ID, DispatcherStart, delivery_workflow_id
from ringi.workflows.notify import OutboxDispatcher, ensure_dispatcher
from tests.cli_harness import free_port
from tests.conftest import running_worker
from tests.helpers import PROPOSER, SECRETARIAT, file_request, outbox

SECRET = "whsec-A社-0123456789"
OTHER_SECRET = "whsec-secretariat-9876543210"


#: what the tests of delivery itself subscribe to: the answers they cause (a filing
#: is announced to every member too)
ANSWERS = (NotificationKind.ANSWERED,)


def answers_hook(store: RingiStore, receiver: Receiver, path: str) -> Subscription:
    """The proposer's webhook at ``path`` of the receiver, for answers only."""
    return store.subscribe(
        PROPOSER,
        Channel.WEBHOOK,
        receiver.url(path),
        now(),
        SECRETARIAT,
        secret=SECRET,
        kinds=ANSWERS,
    )


# --- a real HTTP receiver ------------------------------------------------------------------


@dataclass
class Receipt:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST it is sent, and answers
    503 to the first ``failures`` of them."""

    failures: int = 0
    attempts: list[Receipt] = field(default_factory=list)
    taken: list[Receipt] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Receipt]:
        return [r for r in self.taken if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # what a followed redirect of a POST would send
            state.attempts.append(Receipt(self.path, dict(self.headers.items()), b""))
            self.send_response(200)
            self.end_headers()

        def do_POST(self) -> None:
            if self.path.startswith("/moved"):  # an http URL that moved to https, say
                self.send_response(301)
                self.send_header("Location", f"/new{self.path}")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receipt = Receipt(self.path, dict(self.headers.items()), body)
            with state.lock:
                state.attempts.append(receipt)
                failing = state.failures > 0
                if failing:
                    state.failures -= 1
                else:
                    state.taken.append(receipt)
            self.send_response(503 if failing else 204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# --- a real SMTP server -----------------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def settings(settings: Settings, smtp: tuple[Mailbox, int]) -> Settings:
    """The conftest's settings (on the store RINGI_TEST_STORE says), sending
    e-mail to the test's SMTP server."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "smtp_from": "ringi@secretariat.example",
            "outbox_poll_seconds": 0.2,
            "public_url": "https://ringi.example.jp/",
        }
    )


# --- steps ------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


async def answered_question(ringi: Ringi) -> OutboxMessage:
    """A question filed by A社 and answered: the 'answered' notification it queued."""
    filed = await file_request(ringi, category=Category.QUESTION, body="再点検の申込期限は？")
    await ringi.act(filed.number, RecordAnswer(actor=SECRETARIAT, text="3営業日前までです"))
    (message,) = outbox(ringi.store, filed.number, "answered")
    assert message.recipients == [PROPOSER, "secretariat"]
    return message


async def until(check: Any, *, within: float = 20.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not check():
        if loop.time() > give_up:
            pytest.fail(f"not within {within} s: {what}", pytrace=False)
        await asyncio.sleep(0.05)


def answered(receipts: list[Receipt], message: OutboxMessage) -> list[Receipt]:
    return [r for r in receipts if r.json()["notification"] == message.key]


def mails_about(mailbox: Mailbox, address: str, message: OutboxMessage) -> list[Message]:
    return [m for m in mailbox.to(address) if m["Subject"] == f"[ringi] {message.subject}"]


# --- signatures (no servers) -----------------------------------------------------------------


def test_a_signature_holds_for_its_body_secret_and_time_only() -> None:
    body = b'{"kind": "answered"}'
    header = sign(SECRET, 1_800_000_000, body)
    assert verify_signature(SECRET, header, body, now=1_800_000_010)
    assert not verify_signature(SECRET, header, body + b" ", now=1_800_000_010)
    assert not verify_signature("another secret", header, body, now=1_800_000_010)
    assert not verify_signature(SECRET, header, body, now=1_800_000_000 + 3600)  # replayed late
    assert not verify_signature(SECRET, "v1=deadbeef", body, now=1_800_000_000)


def test_a_webhook_that_redirects_fails_and_a_url_in_japanese_is_sent_to(
    receiver: Receiver,
) -> None:
    """Followed, a redirect turns the POST into a GET without its body: the message
    lost, yet taken for delivered. Not followed: a failure that names where it
    moved, retried and in the end given up, as any refusal. A path in Japanese is
    sent to, percent-encoded (it failed every attempt with a UnicodeEncodeError)."""
    delivery = Delivery(key="1:c1:answered", subscriber="s1")

    def to(path: str) -> Subscription:
        return Subscription(
            id="s1",
            recipient="A社",
            channel=Channel.WEBHOOK,
            target=receiver.url(path),
            secret=SECRET,
            since=now(),
        )

    with pytest.raises(DeliveryFailed, match=r"answered 301, to /new/moved/a: redirects"):
        post_webhook(to("/moved/a"), "answered", b"{}", delivery)
    assert [r.path for r in receiver.attempts] == []  # nothing followed it

    post_webhook(to("/hooks/A社"), "answered", b'{"ok": true}', delivery)
    (taken,) = receiver.taken
    assert taken.path == "/hooks/A%E7%A4%BE" and taken.json() == {"ok": True}
    assert verify_signature(SECRET, taken.headers["Ringi-Signature"], taken.body)


# --- delivery ---------------------------------------------------------------------------------


async def test_an_answer_is_delivered_by_signed_webhook_and_by_email(
    ringi: Ringi,
    store: RingiStore,
    settings: Settings,
    receiver: Receiver,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, _ = smtp
    hook = store.subscribe(
        PROPOSER, Channel.WEBHOOK, receiver.url("/a"), now(), SECRETARIAT, secret=SECRET
    )
    # this one sealed as the API and the command line record it; the one above in the
    # clear, as recorded before secrets were sealed: the worker signs with both
    desk = store.subscribe(
        "secretariat",
        Channel.WEBHOOK,
        receiver.url("/desk"),
        now(),
        SECRETARIAT,
        secret=Sealer.of(settings).seal(OTHER_SECRET),
    )
    mail = store.subscribe(PROPOSER, Channel.EMAIL, "info@a-sha.example", now(), SECRETARIAT)
    await ensure_dispatcher(ringi.client, ringi.settings)

    message = await answered_question(ringi)

    await until(
        lambda: (
            answered(receiver.on("/a"), message)
            and answered(receiver.on("/desk"), message)
            and mails_about(mailbox, "info@a-sha.example", message)
        ),
        what="the answer at both webhooks and in the mailbox",
    )
    (to_a,) = answered(receiver.on("/a"), message)
    assert verify_signature(SECRET, to_a.headers[SIGNATURE_HEADER], to_a.body)
    assert not verify_signature(OTHER_SECRET, to_a.headers[SIGNATURE_HEADER], to_a.body)
    sent = to_a.json()
    assert sent["kind"] == "answered" and sent["recipient"] == PROPOSER
    assert sent["subject"] == message.subject and sent["body"] == "3営業日前までです"
    page = f"https://ringi.example.jp/web/requests/{message.request_number}"
    assert sent["url"] == page  # where the request's page is (RINGI_PUBLIC_URL)
    assert to_a.headers[DELIVERY_HEADER] == Delivery(key=message.key, subscriber=hook.id).id
    (to_desk,) = answered(receiver.on("/desk"), message)
    assert verify_signature(OTHER_SECRET, to_desk.headers[SIGNATURE_HEADER], to_desk.body)

    (email,) = mails_about(mailbox, "info@a-sha.example", message)
    assert email["From"] == "ringi@secretariat.example"
    assert email[DELIVERY_HEADER] == Delivery(key=message.key, subscriber=mail.id).id
    text = email.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "3営業日前までです" in text and text.rstrip().endswith(page)

    # each delivery is recorded against its subscriber, in the store
    await until(lambda: len(store.outbox_message(message.key).delivered_to) == 3, what="recorded")
    assert sorted(store.outbox_message(message.key).delivered_to) == sorted(
        [hook.id, desk.id, mail.id]
    )


async def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt_after_backoff(
    ringi: Ringi, store: RingiStore, receiver: Receiver, time_skipping_env: WorkflowEnvironment
) -> None:
    receiver.failures = 2
    hook = answers_hook(store, receiver, "/a")
    await ensure_dispatcher(ringi.client, ringi.settings)
    message = await answered_question(ringi)
    delivery = Delivery(key=message.key, subscriber=hook.id)
    handle = ringi.client.get_workflow_handle(delivery_workflow_id(delivery.id), result_type=str)
    await until(lambda: receiver.attempts, what="a first attempt")

    # waiting on the result lets the time-skipping server skip the backoff
    assert await handle.result() == "delivered"

    assert len(receiver.attempts) == 3
    assert {r.headers[DELIVERY_HEADER] for r in receiver.attempts} == {delivery.id}
    (taken,) = receiver.taken
    assert verify_signature(SECRET, taken.headers[SIGNATURE_HEADER], taken.body)
    history = await handle.fetch_history()
    scheduled = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    started = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    )
    assert started.activity_task_started_event_attributes.attempt == 3
    # 1 s, then 2 s of (skipped) backoff before the third attempt
    waited = started.event_time.ToDatetime() - scheduled.event_time.ToDatetime()
    assert waited.total_seconds() >= 3
    assert store.outbox_message(message.key).delivered_to == [hook.id]


async def test_a_receiver_that_never_takes_it_is_given_up_and_that_is_recorded(
    ringi: Ringi, store: RingiStore, receiver: Receiver, time_skipping_env: WorkflowEnvironment
) -> None:
    receiver.failures = 10**6
    hook = answers_hook(store, receiver, "/down")
    patience = 60.0
    await ringi.client.start_workflow(
        OutboxDispatcher.run,
        DispatcherStart(poll_seconds=0.2, delivery_patience_seconds=patience),
        id=DISPATCHER_ID,
        task_queue=ringi.settings.task_queue,
    )
    message = await answered_question(ringi)
    delivery = Delivery(key=message.key, subscriber=hook.id)
    handle = ringi.client.get_workflow_handle(delivery_workflow_id(delivery.id), result_type=str)
    await until(lambda: receiver.attempts, what="a first attempt")

    # skip the minute of backoff, then wait for the record of giving up
    await time_skipping_env.sleep(patience * 2)
    await until(lambda: store.outbox_message(message.key).abandoned, what="given up")
    assert await handle.result() == "abandoned"

    # 1 + 2 + 4 + 8 + 16 s of backoff fit in the minute, 32 more do not
    assert 4 <= len(receiver.attempts) <= 7
    assert not receiver.taken
    kept = store.outbox_message(message.key)
    assert kept.delivered_to == []
    assert list(kept.abandoned) == [hook.id]
    assert "503" in kept.abandoned[hook.id]
    events = [e["event"] for e in export(store) if e["event"] in ("Delivered", "DeliveryAbandoned")]
    assert events == ["DeliveryAbandoned"]
    # recorded once, however often it is asked to be
    assert not store.record_abandoned_delivery(message.key, hook.id, now(), "again")


async def test_delivery_survives_a_worker_restart_between_the_event_and_the_delivery(
    time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    store: RingiStore,
    receiver: Receiver,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, _ = smtp
    client = time_skipping_env.client
    settings.outbox_poll_seconds = 4.0  # a command and a stop fit well inside one poll
    hook = store.subscribe(
        PROPOSER, Channel.WEBHOOK, receiver.url("/a"), now(), SECRETARIAT, secret=SECRET
    )
    store.subscribe(PROPOSER, Channel.EMAIL, "info@a-sha.example", now(), SECRETARIAT)
    ringi = Ringi(settings, client, store)

    async with running_worker(client, settings, store, sticky=False):
        await ensure_dispatcher(client, settings)
        dispatcher = client.get_workflow_handle(DISPATCHER_ID)
        await until_polled(client)  # it has looked once and is asleep until the next poll
        message = await answered_question(ringi)
        polled_at_stop = await dispatcher.query(OutboxDispatcher.progress)
    # the worker is gone: the notification is in the outbox and nowhere else yet
    assert receiver.attempts == [] and mailbox.messages == []
    assert store.outbox_message(message.key).delivered_to == []

    async with running_worker(client, settings, store, sticky=False):
        await until(
            lambda: receiver.taken and mailbox.to("info@a-sha.example"),
            what="delivery by the new worker",
        )
        # let the dispatcher poll on a good while (skipped time): nothing is sent twice
        await time_skipping_env.sleep(60)
        await until(
            lambda: len(store.outbox_message(message.key).delivered_to) == 2, what="recorded"
        )
        progressed = await dispatcher.query(OutboxDispatcher.progress)
        assert progressed[1] > polled_at_stop[1]

    assert len(answered(receiver.attempts, message)) == 1
    (received,) = answered(receiver.taken, message)
    assert received.headers[DELIVERY_HEADER] == Delivery(key=message.key, subscriber=hook.id).id
    assert len(mails_about(mailbox, "info@a-sha.example", message)) == 1


async def until_polled(client: Client) -> None:
    handle = client.get_workflow_handle(DISPATCHER_ID)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 20
    while True:
        try:
            _, polls = await handle.query(OutboxDispatcher.progress)
        except RPCError:
            polls = 0
        if polls >= 1:
            return
        if loop.time() > give_up:
            pytest.fail("the dispatcher never polled", pytrace=False)
        await asyncio.sleep(0.05)


async def test_each_notification_is_delivered_once_per_subscriber_even_when_read_again(
    ringi: Ringi, store: RingiStore, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, _ = smtp
    first = answers_hook(store, receiver, "/a1")
    second = answers_hook(store, receiver, "/a2")
    # not a recipient of an answer to A社's question
    store.subscribe(
        "Z社", Channel.WEBHOOK, receiver.url("/z"), now(), SECRETARIAT, secret=SECRET, kinds=ANSWERS
    )
    store.subscribe("Z社", Channel.EMAIL, "z@z-sha.example", now(), SECRETARIAT, kinds=ANSWERS)
    await ensure_dispatcher(ringi.client, ringi.settings)

    messages = [await answered_question(ringi), await answered_question(ringi)]
    # subscribed after the answers were queued: they are not sent to it
    late = answers_hook(store, receiver, "/late")

    expected = {(path, m.key) for path in ("/a1", "/a2") for m in messages}

    def got() -> set[tuple[str, str]]:
        return {(r.path, r.json()["notification"]) for r in receiver.taken}

    await until(lambda: expected <= got(), what="both answers at both webhooks")

    handles = [
        ringi.client.get_workflow_handle(
            delivery_workflow_id(Delivery(key=message.key, subscriber=subscriber).id),
            result_type=str,
        )
        for message in messages
        for subscriber in (first.id, second.id)
    ]
    first_runs = [(await handle.describe()).run_id for handle in handles]
    # the dispatcher reads the whole outbox again from the start: the delivery
    # workflows run again, find the deliveries recorded, and send nothing
    dispatcher = ringi.client.get_workflow_handle(DISPATCHER_ID)
    await dispatcher.terminate("read everything again")
    await ringi.client.start_workflow(
        OutboxDispatcher.run,
        DispatcherStart(position=0, poll_seconds=0.2),
        id=DISPATCHER_ID,
        task_queue=ringi.settings.task_queue,
    )
    for handle, first_run in zip(handles, first_runs, strict=True):
        await until_rerun(handle, first_run)
        assert await handle.result() == "already delivered"

    assert sorted((r.path, r.json()["notification"]) for r in receiver.taken) == sorted(expected)
    assert len(receiver.attempts) == len(expected)
    assert not receiver.on("/z") and not receiver.on("/late") and not mailbox.messages
    for message in messages:
        assert sorted(store.outbox_message(message.key).delivered_to) == sorted(
            [first.id, second.id]
        )
        assert late.id not in store.outbox_message(message.key).delivered_to


async def until_rerun(handle: Any, first_run: str | None) -> None:
    """Until the delivery workflow has finished a second run (started by the new dispatcher)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 20
    while True:
        described = await handle.describe()
        if described.run_id != first_run and described.status != WorkflowExecutionStatus.RUNNING:
            return
        if loop.time() > give_up:
            pytest.fail(f"no second run of {handle.id}", pytrace=False)
        await asyncio.sleep(0.05)


async def test_a_subscription_for_some_kinds_is_sent_only_those(
    ringi: Ringi, store: RingiStore
) -> None:
    answers = store.subscribe(
        PROPOSER,
        Channel.EMAIL,
        "answers@a-sha.example",
        now(),
        SECRETARIAT,
        kinds=(NotificationKind.ANSWERED,),
    )
    stages = store.subscribe(
        PROPOSER,
        Channel.EMAIL,
        "stages@a-sha.example",
        now(),
        SECRETARIAT,
        kinds=(NotificationKind.STAGE_CHANGED, NotificationKind.AUTO_CLOSED),
    )
    everything = store.subscribe(PROPOSER, Channel.EMAIL, "all@a-sha.example", now(), SECRETARIAT)
    assert answers.kinds == (NotificationKind.ANSWERED,) and everything.kinds == ()

    answered = await answered_question(ringi)
    batch = store.deliveries_since(0)
    sent = {(d.key, d.subscriber) for d in batch.deliveries}
    assert (answered.key, answers.id) in sent
    assert (answered.key, everything.id) in sent
    assert (answered.key, stages.id) not in sent
    # every kind queued for A社 reaches the catch-all, and a filtered one only its kinds
    for message in store.outbox():
        if PROPOSER not in message.recipients:
            continue
        assert (message.key, everything.id) in sent
        assert ((message.key, stages.id) in sent) == (
            message.kind in ("stage_changed", "auto_closed")
        )


def test_a_subscription_recorded_before_kinds_existed_wants_every_kind() -> None:
    subscriptions = Subscriptions()
    # the Subscribed event as it was recorded before it carried kinds
    subscriptions._subscribed(
        sid="s1",
        recipient=PROPOSER,
        channel="email",
        target="a@a-sha.example",
        secret="",
        since=now(),
        actor={},
    )
    old = subscriptions.get("s1")
    assert old.kinds == ()
    assert all(old.wants(kind) for kind in NotificationKind)


# --- the command line -------------------------------------------------------------------------


def test_the_secretariat_subscribes_lists_and_unsubscribes_from_the_command_line(
    settings: Settings, store: RingiStore
) -> None:
    # the test's installation, on the store RINGI_TEST_STORE chose
    env = {
        "RINGI_DATA_DIR": str(settings.data_dir),
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_DSN": settings.postgres_dsn,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        "PATH": "",
    }

    def ringi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ringi.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = ringi("subscribe", "webhook", "--for", PROPOSER, "--url", "http://127.0.0.1:9/h")
    assert made.returncode == 0, made.stderr
    assert "s1: A社 → webhook http://127.0.0.1:9/h" in made.stdout
    shown = made.stdout.split("secret (shown once; the receiver checks signatures with it): ")[1]
    # recorded sealed under the installation's key, which opens it to what was shown
    (recorded,) = store.subscriptions()
    assert recorded.secret.startswith("fernet:") and shown.strip() not in recorded.secret
    assert Sealer.of(settings).open(recorded.secret) == shown.strip()
    rotated = ringi("rotate-secret", "s1")
    assert rotated.returncode == 0, rotated.stderr
    fresh = rotated.stdout.split("signatures with it): ")[1].strip()
    (recorded,) = store.subscriptions()
    assert fresh != shown.strip() and Sealer.of(settings).open(recorded.secret) == fresh
    made = ringi(
        "subscribe",
        "email",
        "--for",
        "secretariat",
        "--address",
        "desk@example.jp",
        "--kind",
        "answered",
        "--kind",
        "auto_closed",
    )
    assert made.returncode == 0, made.stderr
    unknown = ringi("subscribe", "email", "--for", PROPOSER, "--address", "a@b.jp", "--kind", "x")
    assert unknown.returncode == 2 and "--kind" in unknown.stderr
    refused = ringi("subscribe", "email", "--for", PROPOSER, "--address", "not-an-address")
    assert refused.returncode == 1 and "not an e-mail address" in refused.stderr

    listed = ringi("subscriptions", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert [(s["id"], s["recipient"], s["channel"]) for s in found] == [
        ("s1", PROPOSER, "webhook"),
        ("s2", "secretariat", "email"),
    ]
    assert all("secret" not in s for s in found)
    assert [s["kinds"] for s in found] == [[], ["answered", "auto_closed"]]
    assert "answered,auto_closed" in ringi("subscriptions").stdout
    assert ringi("unsubscribe", "s1").returncode == 0
    assert [s.id for s in store.subscriptions()] == ["s2"]
    again = ringi("unsubscribe", "s1")
    assert again.returncode == 1 and "no current subscription s1" in again.stderr


def test_an_auditors_export_does_not_show_a_webhooks_secret(store: RingiStore) -> None:
    store.subscribe(
        PROPOSER, Channel.WEBHOOK, "http://127.0.0.1:9/h", now(), SECRETARIAT, secret=SECRET
    )
    exported = list(export(store))
    (subscribed,) = [e for e in exported if e["event"] == "Subscribed"]
    assert subscribed["state"]["secret"] == "[redacted]"
    assert subscribed["state"]["target"] == "http://127.0.0.1:9/h"
    assert SECRET not in json.dumps(exported, ensure_ascii=False)
    assert store.subscriptions()[0].secret == SECRET  # the worker still signs with it
