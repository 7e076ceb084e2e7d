"""The steps the end-to-end tests are written in.

Everything here drives the real thing: commands go through ``Ringi`` to the
request's workflow on a real Temporal server, facts are read back from the real
SQLite event store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import TypeVar

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client

from ringi.config import Settings
from ringi.domain.commands import (
    Command,
    Endorse,
    EvaluateCost,
    FileRequest,
    OpenObjectionWindow,
    TimerFired,
)
from ringi.domain.errors import NotAllowed, Refused
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Actor, Category, Role, Stage
from ringi.service import Ringi
from ringi.store import OutboxMessage, RingiStore, TimelineEntry
from ringi.workflows.messages import workflow_id
from ringi.workflows.request import RequestWorkflow
from tests.domain_builders import cost_effective_inputs, no61_inputs

T = TypeVar("T")

SECRETARIAT = Actor.secretariat("事務局")
AUDITOR = Actor(role=Role.AUDITOR, user="監査")
PROPOSER = "A社"
#: with the proposer, exactly the default threshold of 5 companies
SUPPORTERS = ("B社", "C社", "D社", "E社")
DAY = timedelta(days=1)


def member(company: str) -> Actor:
    return Actor.member(company)


# --- filing and support ------------------------------------------------------------


async def file_request(
    ringi: Ringi,
    *,
    proposer: str = PROPOSER,
    category: Category = Category.REQUEST,
    target: str = "スイッチング支援システム API",
    body: str = "再点検の結果を一括で取得できるAPIを追加してほしい",
) -> RequestView:
    return await ringi.file(
        FileRequest(actor=member(proposer), category=category, target=target, body=body)
    )


async def endorse_by(ringi: Ringi, number: int, companies: Iterable[str]) -> RequestView:
    view = ringi.view(number)
    for company in companies:
        view = await ringi.act(number, Endorse(actor=member(company)))
    return view


async def request_in_hearing(ringi: Ringi) -> RequestView:
    """Filed and endorsed by enough companies that the hearing opened."""
    filed = await file_request(ringi)
    view = await endorse_by(ringi, filed.number, SUPPORTERS)
    assert view.stage is Stage.HEARING
    return view


async def request_in_objection_window(ringi: Ringi, meeting: int = 35) -> RequestView:
    """Supported, found cost-effective, objection window opened at ``meeting``."""
    view = await request_in_hearing(ringi)
    await ringi.act(view.number, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    if meeting not in ringi.store.meetings():
        open_meeting(ringi, meeting, view.updated_at)
    view = await ringi.act(view.number, OpenObjectionWindow(actor=SECRETARIAT, meeting=meeting))
    assert view.stage is Stage.OBJECTION_WINDOW
    return view


def open_meeting(ringi: Ringi, number: int, held_at: datetime) -> None:
    ringi.open_meeting(number, held_at, SECRETARIAT, title=f"第{number}回")


def use_policy(settings: Settings, **rules: object) -> None:
    """New requests are filed under these rules (``policy.json`` in the data dir)."""
    settings.policy_path.parent.mkdir(parents=True, exist_ok=True)
    settings.policy_path.write_text(json.dumps(rules))


# --- cost evaluations -----------------------------------------------------------------


# one set of figures for every test: No.61's, and a cost-effective one
cost_inputs_no61 = no61_inputs
cost_inputs_worthwhile = cost_effective_inputs


# --- reading the record ----------------------------------------------------------------


def fresh_view(settings: Settings, number: int) -> RequestView:
    """The request folded from its stored events by a store opened just now."""
    store = RingiStore(env=settings.eventsourcing_env())
    try:
        return store.view(number)
    finally:
        store.close()


def events(store: RingiStore, number: int, name: str | None = None) -> list[TimelineEntry]:
    return [e for e in store.timeline(number) if name is None or e.event == name]


def event_names(store: RingiStore, number: int) -> list[str]:
    return [e.event for e in store.timeline(number)]


def reminders(store: RingiStore, number: int, kind: str) -> list[TimelineEntry]:
    return [e for e in events(store, number, "Reminded") if e.details["kind"] == kind]


def outbox(store: RingiStore, number: int, kind: str) -> list[OutboxMessage]:
    return [m for m in store.outbox() if m.request_number == number and m.kind == kind]


def release_date(view: RequestView, days_ahead: int) -> date:
    return (view.updated_at + timedelta(days=days_ahead)).date()


# --- the workflow ---------------------------------------------------------------------


async def describe_run(client: Client, number: int) -> tuple[str, int]:
    """The current run id and status of No.``number``'s workflow.

    Read with the raw API: the time-skipping server keeps an unset datetime
    search attribute as a null payload, which the SDK's ``describe()`` cannot
    decode once a request has no deadline running.
    """
    response = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id(number)),
        )
    )
    info = response.workflow_execution_info
    return info.execution.run_id, info.status


async def search_attribute(client: Client, number: int, name: str) -> object:
    response = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id(number)),
        )
    )
    payload = response.workflow_execution_info.search_attributes.indexed_fields[name]
    return json.loads(payload.data) if payload.data else None


async def pending_timers(ringi: Ringi, number: int) -> list[TimerFired]:
    handle = ringi.client.get_workflow_handle(workflow_id(number))
    return await handle.query(RequestWorkflow.timers, result_type=list[TimerFired])


async def assert_store_matches_workflow(ringi: Ringi, number: int) -> RequestView:
    """The events in the store fold to exactly the state the workflow reports:
    its live state while it runs, its result once it has finished."""
    stored = fresh_view(ringi.settings, number)
    _, status = await describe_run(ringi.client, number)
    if status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        held = await ringi.live_view(number)
    else:
        assert status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
        handle = ringi.client.get_workflow_handle(workflow_id(number), result_type=RequestView)
        held = await handle.result()
    assert held is not None
    assert held == stored
    return stored


async def eventually(
    read: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, within: float = 10.0
) -> T:
    """Read until the value satisfies ``until``; fail after ``within`` seconds.
    For what only becomes visible some time later (visibility, a new run)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        value = await read()
        if until(value):
            return value
        if loop.time() > give_up:
            pytest.fail(f"still {value!r} after {within} seconds", pytrace=False)
        await asyncio.sleep(0.1)


# --- refusals -------------------------------------------------------------------------


async def assert_refused(
    ringi: Ringi, number: int, cmd: Command, match: str, *, error: type[Refused] = Refused
) -> None:
    """``cmd`` is refused with a message matching ``match`` and nothing is written:
    not an event, not a notification; the workflow holds the state it held."""
    store = ringi.store
    version, timeline, queued = store.view(number).version, store.timeline(number), store.outbox()
    with pytest.raises(Refused, match=match) as refusal:
        await ringi.act(number, cmd)
    assert type(refusal.value) is error, f"{type(refusal.value).__name__}: {refusal.value}"
    assert store.view(number).version == version
    assert store.timeline(number) == timeline
    assert [m.key for m in store.outbox()] == [m.key for m in queued]
    live = await ringi.live_view(number)
    assert live is not None and live.version == version


async def assert_not_allowed(ringi: Ringi, number: int, cmd: Command, match: str) -> None:
    await assert_refused(ringi, number, cmd, match, error=NotAllowed)
