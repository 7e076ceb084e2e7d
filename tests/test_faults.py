"""Faults ringi survives, each made real and each on both event stores.

Real worker processes (SIGKILL is a real SIGKILL), the real Temporal dev server
on its SQLite file (stopped and started again on it), the real SQLite file and
the real PostgreSQL at 127.0.0.1:5432 (a schema per test), a real network fault
(a TCP proxy cut) and a real lock. See ``tests/fault_harness.py``.

What each test shows, the same way every time: the transition completes once
(each of its events once in the store, versions 1..n without a gap, every hash
chain verifies, each notification queued once), the caller's command returns
(``Ringi.act`` with its command id), and the workflow and the store agree.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from ringi.domain.commands import Endorse, FileRequest, OpenSupport
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Actor, Category, CloseReason, Stage
from ringi.service import Ringi
from ringi.workflows.messages import workflow_id
from ringi.workflows.request import RequestWorkflow
from tests.fault_harness import (
    FaultSite,
    SqliteLock,
    settled,
    site_fixture,  # noqa: F401  (the `site` fixture)
    until,
)

pytestmark = pytest.mark.slow

SECRETARIAT = Actor.secretariat("事務局")
#: the events of the transition the tests break: an endorsement that meets the
#: threshold of 2 (proposer included) and opens the hearing, written in one save
TRANSITION = ("Endorsed", "SupportThresholdMet", "HearingOpened")


async def file(ringi: Ringi, proposer: str = "A社", category: Category = Category.REQUEST) -> int:
    view = await ringi.file(
        FileRequest(
            actor=Actor.member(proposer),
            category=category,
            target="スイッチング支援システム API",
            body="再点検の結果を一括で取得できるAPIを追加してほしい",
        )
    )
    return view.number


async def assert_transitioned_once(
    site: FaultSite, number: int, command: Endorse, answer: RequestView
) -> None:
    """The endorsement's transition is in the store exactly once, whole (its
    events and the notifications saved with them), and the workflow holds what
    the store holds."""
    assert answer.stage is Stage.HEARING
    names = site.event_names(number)
    for name in TRANSITION:
        assert names.count(name) == 1, names
    site.assert_chain_whole(number)
    # queued in the same save as the events (one message per kind and command)
    assert [m for m in site.store.outbox() if f":{command.command_id}:" in m.key]
    assert site.ringi is not None
    assert await site.ringi.live_view(number) == site.store.view(number) == answer


# --- a worker killed inside a transition ------------------------------------------------------


async def test_a_worker_killed_inside_a_transition_completes_it_once_after_restart(
    site: FaultSite,
) -> None:
    """SIGKILL while two transitions are under way: one before its events are
    appended, one after they are appended but before the activity reported back.
    A new worker finishes both, each once, and the callers get their answers."""
    ringi = await site.connect()
    site.use_policy(support_threshold=2, deadline_reminder_days=0)
    points = site.tmp / "fault-points"
    points.mkdir()
    first = await site.worker(fault_points=points)
    before, after = await file(ringi), await file(ringi)
    not_yet = Endorse(actor=Actor.member("B社"))  # killed before the append
    written = Endorse(actor=Actor.member("C社"))  # killed after the append
    (points / f"hold.{not_yet.command_id}.before").touch()
    (points / f"hold.{written.command_id}.after").touch()

    calls = [
        asyncio.create_task(ringi.act(before, not_yet)),
        asyncio.create_task(ringi.act(after, written)),
    ]

    def inside() -> bool:
        for call in calls:
            if call.done():
                pytest.fail(f"a command finished while its write was held: {call.result()!r}")
        return (points / f"reached.{not_yet.command_id}.before").exists() and (
            points / f"reached.{written.command_id}.after"
        ).exists()

    await until(inside, "both writes to reach their fault points")
    # the moment of the kill: one transition not written, the other written but unreported
    assert not set(TRANSITION) & set(site.event_names(before))
    assert [n for n in site.event_names(after) if n in TRANSITION] == list(TRANSITION)
    first.kill()

    second = await site.worker()  # no fault points: a plain worker
    answers = await settled(asyncio.gather(*calls), "the commands to be answered")

    for number, command, answer in zip((before, after), (not_yet, written), answers, strict=True):
        await assert_transitioned_once(site, number, command, answer)
    # the restarted worker carried out the one and found the other already recorded
    (redone,) = second.logged("recorded", request=before, command="endorse")
    (found,) = second.logged("already recorded", request=after, command="endorse")
    assert redone["attempt"] >= 2 and found["attempt"] >= 2
    assert not first.logged("recorded", request=after, command="endorse")  # it died first


# --- the Temporal server stopped and restarted on its database file -----------------------------


async def test_requests_resume_and_timers_due_while_the_server_was_down_fire_once(
    site: FaultSite,
) -> None:
    """Support deadlines a few seconds away (an opinion's support is opened with
    an explicit deadline), the dev server and the worker stopped before they
    fall due, started again on the same file after: every request resumes and
    every deadline that passed closes its request once.

    The server is stopped with SIGTERM on the SQLite run and with SIGKILL on
    the PostgreSQL one: both ways of stopping, both stores, without the four
    combinations (the event store plays no part in how Temporal keeps timers)."""
    how = signal.SIGTERM if site.kind == "sqlite" else signal.SIGKILL
    ringi = await site.connect()
    site.use_policy(deadline_reminder_days=0)
    worker = await site.worker()
    due = datetime.now(UTC) + timedelta(seconds=10)
    short = [await file(ringi, category=Category.OPINION) for _ in range(3)]
    for number in short:
        await ringi.act(number, OpenSupport(actor=SECRETARIAT, deadline=due))
    running = await file(ringi)  # 90 days of support gathering: nothing falls due
    before = {n: ringi.view(n) for n in [*short, running]}

    site.server.stop(how)
    if datetime.now(UTC) >= due:
        pytest.fail("the server took too long to stop: the deadlines passed while it ran")
    # the worker keeps trying to reach the server, and says so in its own format
    # (the Temporal core's messages are forwarded into the JSON log)
    await until(
        lambda: any(
            line["logger"].startswith("temporalio.core")
            for line in worker.lines()
            if "logger" in line
        ),
        "the worker to log that the server is unreachable",
    )
    await until(lambda: datetime.now(UTC) > due + timedelta(seconds=1), "the deadline to pass")
    for number in short:
        assert "Closed" not in site.event_names(number)
    worker.kill()

    await site.server.start()  # the same temporal.db
    ringi = await site.connect()
    await site.worker()

    def closed() -> bool:
        return all("Closed" in site.event_names(n) for n in short)

    await until(closed, "the timers that fell due while the server was down to fire")
    for number in short:
        names = site.event_names(number)
        assert names.count("SupportWindowClosed") == 1 and names.count("Closed") == 1, names
        view = site.store.view(number)
        assert view.closure is not None
        assert view.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
        assert view.closure.at >= due
        site.assert_chain_whole(number)
        handle = ringi.client.get_workflow_handle(workflow_id(number), result_type=RequestView)
        assert await settled(handle.result(), "the closed request's workflow to end") == view
        auto_closed = [
            m for m in site.store.outbox() if m.request_number == number and m.kind == "auto_closed"
        ]
        assert len(auto_closed) == 1
    # the request with nothing due resumes as it was: its workflow answers queries and updates
    handle = ringi.client.get_workflow_handle(workflow_id(running))
    assert await handle.query(RequestWorkflow.state) == before[running]
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    endorsed = await settled(
        ringi.act(running, Endorse(actor=Actor.member("B社"))), "an endorsement after the restart"
    )
    assert endorsed.support == 2 and endorsed.stage is Stage.GATHERING_SUPPORT
    assert site.store.view(running) == endorsed


# --- two workers on one task queue ------------------------------------------------------------


async def test_two_workers_on_one_task_queue_record_every_transition_once(site: FaultSite) -> None:
    ringi = await site.connect()
    workers = [await site.worker(), await site.worker()]
    numbers = list(await asyncio.gather(*(file(ringi) for _ in range(8))))
    assert sorted(numbers) == list(range(1, 9))
    supporters = ("B社", "C社", "D社", "E社")  # with the proposer: the default threshold of 5

    answers = await settled(
        asyncio.gather(
            *(ringi.act(n, Endorse(actor=Actor.member(c))) for n in numbers for c in supporters)
        ),
        "32 endorsements",
    )

    assert len(answers) == 32
    for number in numbers:
        view = site.store.view(number)
        assert sorted(view.endorsers) == list(supporters)
        assert view.stage is Stage.HEARING
        names = site.event_names(number)
        assert names.count("Endorsed") == 4, names
        assert names.count("SupportThresholdMet") == names.count("HearingOpened") == 1, names
        assert await ringi.live_view(number) == view
    site.assert_chain_whole(numbers[0])
    # both workers did some of it (each endorsement is one store write)
    done = [len(w.logged("recorded", command="endorse")) for w in workers]
    assert sum(done) == 32 and all(done), done


async def test_a_hundred_companies_endorsing_one_request_at_once_are_each_counted_once(
    site: FaultSite,
) -> None:
    ringi = await site.connect()
    await site.worker()
    await site.worker()
    site.use_policy(support_threshold=1000)  # the window stays open for everyone
    number = await file(ringi)
    companies = [f"会社{i:03d}" for i in range(100)]

    answers = await settled(
        asyncio.gather(*(ringi.act(number, Endorse(actor=Actor.member(c))) for c in companies)),
        "a hundred endorsements",
    )

    final = site.store.view(number)
    assert sorted(final.endorsers) == companies
    assert final.support == 101 and max(a.support for a in answers) == 101
    assert site.event_names(number).count("Endorsed") == 100
    site.assert_chain_whole(number)
    assert await ringi.live_view(number) == final


# --- the event store briefly unreachable ------------------------------------------------------

UNAVAILABLE = "event store unavailable; the activity will be retried"
WAITING = "event store not answering; waiting for it"


async def test_an_event_store_briefly_unreachable_delays_a_transition_but_never_halves_it(
    site: FaultSite,
) -> None:
    """PostgreSQL: the worker reaches it through a TCP proxy that is cut (its
    connections reset, its port closed) and then restored. SQLite: another
    connection holds the write lock.

    The two stores fail differently, and both ways are covered. On SQLite the
    write fails ("database is locked"; the worker is told to wait for a lock 1 s
    instead of the default 30 s so that this happens within the test) and the
    activity is retried by Temporal until the lock is gone. On PostgreSQL a brief
    outage is absorbed inside one attempt: the connection pool reconnects and
    eventsourcing retries the statement, so the write waits, and says so."""
    ringi = await site.connect()
    site.use_policy(support_threshold=2, deadline_reminder_days=0)
    if site.kind == "postgres":
        worker = await site.worker(through_proxy=True)
    else:
        # eventsourcing reads <APPLICATION NAME>_<KEY> before <KEY>
        worker = await site.worker(env={"RINGI_SQLITE_LOCK_TIMEOUT": "1"})
    number = await file(ringi)
    endorse = Endorse(actor=Actor.member("B社"))

    async def outage(complaint: str, enough: int) -> asyncio.Task[RequestView]:
        call = asyncio.create_task(ringi.act(number, endorse))
        await until(
            lambda: len(worker.logged(complaint, request=number)) >= enough,
            f"the worker to log {complaint!r} {enough} times",
        )
        assert not call.done()
        assert not set(TRANSITION) & set(site.event_names(number))  # nothing half-written
        return call

    if site.kind == "postgres":
        assert site.proxy is not None
        await site.proxy.stop()
        call = await outage(WAITING, 1)
        await site.proxy.start()
    else:
        with SqliteLock(site.settings.event_store_path):
            # twice: the activity failed, was tried again, and failed again
            call = await outage(UNAVAILABLE, 2)

    answer = await settled(call, "the endorsement once the store is back")
    await assert_transitioned_once(site, number, endorse, answer)
    complaints = worker.logged(WAITING if site.kind == "postgres" else UNAVAILABLE, request=number)
    for line in complaints:
        assert line["level"] == "warning"
        assert line["workflow_id"] == workflow_id(number) and line["run_id"]
        assert line["actor"] == "B社" and line["command"] == "endorse"
        assert line["command_id"] == endorse.command_id
    (done,) = worker.logged("recorded", request=number, command="endorse")
    if site.kind == "sqlite":
        assert all("locked" in str(line["error"]) for line in complaints)
        attempts = [line["attempt"] for line in complaints]
        assert attempts == sorted(set(attempts)) and done["attempt"] > attempts[-1]
    else:
        (back,) = worker.logged("event store answered again", request=number)
        assert back["waited_seconds"] >= complaints[0]["waited_seconds"]
        assert done["attempt"] == complaints[0]["attempt"]


# --- structured logs --------------------------------------------------------------------------


async def test_the_worker_logs_json_lines_that_name_the_request_run_actor_and_event(
    site: FaultSite,
) -> None:
    """``ringi --log-format json worker``: every line it writes is one JSON
    object, and the activities' lines carry request, workflow id, run id, actor
    and event."""
    ringi = await site.connect()
    site.use_policy(support_threshold=2, deadline_reminder_days=0)
    worker = await site.worker(via_cli=True)
    number = await file(ringi)
    await ringi.act(number, Endorse(actor=Actor.member("B社")))
    run_id = (await ringi.client.get_workflow_handle(workflow_id(number)).describe()).run_id

    lines = worker.lines()  # fails on any line that is not JSON
    (filed,) = worker.logged("recorded", request=number, command="file")
    (endorsed,) = worker.logged("recorded", request=number, command="endorse")
    for line in (filed, endorsed):
        assert line["workflow_id"] == workflow_id(number) and line["run_id"] == run_id
        assert line["level"] == "info" and line["timestamp"]
    assert filed["actor"] == "A社" and filed["stage"] == "gathering_support"
    assert endorsed["actor"] == "B社" and endorsed["stage"] == "hearing"
    assert {"worker started"} <= {line["event"] for line in lines}

    # and for people: the same worker with --log-format console writes no JSON
    console = await site.worker(log_format="console")
    assert "worker started" in console.text()
    assert not console.text().lstrip().startswith("{")
