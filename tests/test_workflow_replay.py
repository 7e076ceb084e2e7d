"""Workflow determinism: the saved histories of ``RequestWorkflow`` replay.

Each history under ``tests/histories/`` was written by a real Temporal server
running the workflow through a lifecycle (``tests/histories/record.py``). The
``Replayer`` runs today's workflow code against it: if the code would now issue
different commands at any point of a recorded run (a timer more, an activity
other than the one recorded, a different order), replay fails with a
nondeterminism error, as a deployed worker would on the requests in flight.

The last tests show that replay is sharp enough to matter: copies of the
workflow with a small, deliberately non-deterministic change (a timer more at the
start, a wait before a timer's command, a store write under another activity
name) fail with a nondeterminism error on the histories the change touches, and
a compatible change (a new query) passes them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

# The workflow sandbox re-imports this module for the workflow classes below. As in
# ringi/workflows/request.py, the domain passes through: one RequestView class, not
# a second copy the sandbox made (pydantic would refuse the one for the other); and
# the recorder (servers, a worker, the store) is none of the sandbox's business.
with workflow.unsafe.imports_passed_through():
    from ringi.domain.commands import Command, TimerFired
    from ringi.domain.view import RequestView
    from ringi.store import Outcome
    from ringi.workflows.messages import ExecuteInput, RequestStart
    from ringi.workflows.request import RequestWorkflow
    from tests.histories.record import SCENARIOS

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def replayer(workflow_class: type) -> Replayer:
    return Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)


async def replay_failures(workflow_class: type, paths: Iterable[Path]) -> dict[str, Exception]:
    """Replay each history with ``workflow_class``; the failures by file name."""
    by_stem = {path.stem: path.name for path in paths}

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for name in by_stem.values():
            yield load(HISTORIES / name)

    failures: dict[str, Exception] = {}
    async with replayer(workflow_class).workflow_replay_iterator(histories()) as results:
        async for result in results:
            if result.replay_failure is not None:
                failures[by_stem[result.history.workflow_id]] = result.replay_failure
    return failures


CLOSING = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}


def reason(failure: Exception) -> str:
    """The core's words for a replay failure, without the wrapping around them."""
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', str(failure))
    return found.group(1) if found else str(failure)


def event_types(path: Path) -> list[int]:
    return [e.event_type for e in load(path).events]


def store_writes(path: Path) -> list[tuple[str, bool]]:
    """The store activities the run called, in order, and whether each failed: local
    activities (recorded as markers) or ordinary ones, whichever the code used."""
    writes: list[tuple[str, bool]] = []
    scheduled: dict[int, str] = {}
    for e in load(path).events:
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = e.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                data = json.loads(marker.details["data"].payloads[0].data)
                writes.append((data["activity_type"], marker.HasField("failure")))
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            scheduled[e.event_id] = attrs.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes.scheduled_event_id
            writes.append((scheduled[done], False))
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = e.activity_task_failed_event_attributes.scheduled_event_id
            writes.append((scheduled[failed], True))
    return writes


# --- the saved histories ---------------------------------------------------------------


def test_every_scenario_is_recorded_on_every_server_it_runs_on() -> None:
    names = {p.name for p in FILES}
    for recording in SCENARIOS:
        for server in recording.servers:
            assert any(Path(n).match(recording.pattern(server)) for n in names), (
                f"{recording.pattern(server)} is missing: python -m tests.histories.record "
                f"{recording.name}"
            )


def test_the_histories_are_what_temporal_workflow_show_prints() -> None:
    for path in FILES:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert list(document) == ["events"], path.name
        history = load(path)
        started = history.events[0]
        assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        attributes = started.workflow_execution_started_event_attributes
        assert attributes.workflow_type.name == "RequestWorkflow", path.name
        assert [e.event_id for e in history.events] == list(range(1, len(history.events) + 1))


def test_the_histories_cover_what_a_change_could_break() -> None:
    """Timers that fired, store writes and a refused one, updates, runs that
    continued-as-new and the runs after them, finished and still-running requests."""
    seen = {t for path in FILES for t in event_types(path)}
    for wanted in (
        EventType.EVENT_TYPE_TIMER_FIRED,
        EventType.EVENT_TYPE_TIMER_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    ):
        assert wanted in seen, EventType.Name(wanted)
    writes = {w for path in FILES for w in store_writes(path)}
    assert {("file_request", False), ("execute_command", False)} <= writes
    assert ("execute_command", True) in writes, "no refused store write"

    last = {path.name: event_types(path)[-1] for path in FILES}
    assert last["no39_released.time-skipping.json"] == (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    )
    # a request still in flight: its history ends with the worker waiting, not closed
    assert last["objection.time-skipping.json"] not in CLOSING
    carried = [
        p
        for p in FILES
        if load(p).events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    ]
    assert carried, "no run that started from continue-as-new"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_a_saved_history_replays_on_todays_workflow(path: Path) -> None:
    result = await replayer(RequestWorkflow).replay_workflow(
        load(path), raise_on_replay_failure=False
    )
    failure = result.replay_failure
    assert failure is None, f"{path.name}: {type(failure).__name__}: {reason(failure)}"


# --- changed copies of the workflow --------------------------------------------------------
# Registered under the same workflow type name, as a new deployment of the worker would be.


@workflow.defn(name="RequestWorkflow")
class SleepsFirst(RequestWorkflow):
    """Non-deterministic: a short timer before anything else."""

    @workflow.run
    async def run(self, start: RequestStart) -> RequestView:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(start)


@workflow.defn(name="RequestWorkflow")
class WaitsBeforeFiring(RequestWorkflow):
    """Non-deterministic, deep inside a run: a short wait before a timer's command."""

    @workflow.run
    async def run(self, start: RequestStart) -> RequestView:
        return await super().run(start)

    async def _fire(self, timer: TimerFired) -> None:
        await workflow.sleep(timedelta(seconds=1))
        await super()._fire(timer)


@workflow.defn(name="RequestWorkflow")
class RenamesTheStoreWrite(RequestWorkflow):
    """Non-deterministic: a command's store write under another activity name (as a
    local activity; against ordinary activities in the history it is out of place
    twice over)."""

    @workflow.run
    async def run(self, start: RequestStart) -> RequestView:
        return await super().run(start)

    async def _execute(self, command: Command) -> RequestView:
        view = self._require_view()
        outcome: Outcome = await workflow.execute_local_activity(
            "execute_command_v2",
            ExecuteInput(
                number=self.number,
                command=command,
                at=workflow.now(),
                expected_version=view.version,
            ),
            result_type=Outcome,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.view, self.changed = outcome.view, True
        self._publish()
        return self.view


@workflow.defn(name="RequestWorkflow")
class WithANewQuery(RequestWorkflow):
    """Compatible: a new query issues no command."""

    @workflow.run
    async def run(self, start: RequestStart) -> RequestView:
        return await super().run(start)

    @workflow.query
    def stage(self) -> str | None:
        return self.view.stage.value if self.view else None


def starts_with_anything_but_a_timer(path: Path) -> bool:
    """Whether the run's first workflow task was followed by something other than a
    timer. Temporal matches a timer with the one recorded at the same place by its
    sequence, not its duration: a short timer in front of a run whose first command
    was a timer stands where that one stood, so only the other runs can notice it."""
    types = event_types(path)
    first_done = types.index(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    following = types[first_done + 1 : first_done + 2]
    return bool(following) and following[0] != EventType.EVENT_TYPE_TIMER_STARTED


def assert_nondeterminism(failures: dict[str, Exception]) -> None:
    for name, failure in failures.items():
        assert isinstance(failure, workflow.NondeterminismError), f"{name}: {reason(failure)}"
        assert reason(failure).startswith("[TMPRL1100] Nondeterminism error"), name


async def test_an_extra_timer_at_the_start_fails_replay_as_nondeterminism() -> None:
    failures = await replay_failures(SleepsFirst, FILES)

    expected = {p.name for p in FILES if starts_with_anything_but_a_timer(p)}
    assert "no39_released.time-skipping.json" in expected
    assert expected <= set(failures)
    assert_nondeterminism(failures)


async def test_a_wait_before_a_timer_fires_fails_exactly_where_a_timer_fired() -> None:
    failures = await replay_failures(WaitsBeforeFiring, FILES)

    fired = {p.name for p in FILES if EventType.EVENT_TYPE_TIMER_FIRED in event_types(p)}
    assert {
        "no39_released.time-skipping.json",
        "support_deadline_closed.time-skipping.json",
        "hold_resume.time-skipping.json",
        "objection.time-skipping.json",
    } <= fired
    assert set(failures) == fired  # the histories without a fired timer never reach the change
    assert_nondeterminism(failures)


async def test_a_renamed_store_write_fails_replay_where_a_command_was_written() -> None:
    failures = await replay_failures(RenamesTheStoreWrite, FILES)

    executing = {p.name for p in FILES if any(t == "execute_command" for t, _ in store_writes(p))}
    assert set(failures) == executing
    assert_nondeterminism(failures)
    for name, failure in failures.items():
        # the recorded store write is what no longer matches: named, or its event
        assert any(
            word in reason(failure)
            for word in ("'execute_command'", "ActivityTaskScheduled", "LocalActivity")
        ), f"{name}: {reason(failure)}"


async def test_a_compatible_change_replays_every_history() -> None:
    assert await replay_failures(WithANewQuery, FILES) == {}


# --- a rule that changed, guarded by workflow.patched ----------------------------------------

BEFORE = HISTORIES / "late_endorsements.time-skipping.json"  # recorded before the change
SINCE = HISTORIES / "late_endorsements.time-skipping.v2.json"


@workflow.defn(name="RequestWorkflow")
class TakesTodaysRuleUnguarded(RequestWorkflow):
    """Today's rule for endorsements after the threshold, without the patch that keeps
    runs recorded before it deciding as they did."""

    @workflow.run
    async def run(self, start: RequestStart) -> RequestView:
        return await super().run(start)

    def _as_recorded(self, view: RequestView, command: Command) -> None:
        pass


def endorsements_written(path: Path) -> int:
    return sum(1 for t, failed in store_writes(path) if t == "execute_command" and not failed)


async def test_endorsements_after_the_threshold_replay_only_behind_their_patch() -> None:
    """A run recorded before endorsements were taken after the threshold refused the
    sixth, sent with the fifth, under the lock; today's code would write it. Behind
    ``workflow.patched`` both the old run and a new one replay; without it the old
    run fails exactly there (and the new one on the patch's marker)."""
    assert endorsements_written(BEFORE) == 4 and endorsements_written(SINCE) == 6
    marker = [
        e.marker_recorded_event_attributes.marker_name
        for e in load(SINCE).events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert marker == ["core_patch"]

    assert await replay_failures(RequestWorkflow, [BEFORE, SINCE]) == {}
    failures = await replay_failures(TakesTodaysRuleUnguarded, [BEFORE, SINCE])
    assert set(failures) == {BEFORE.name, SINCE.name}
    assert_nondeterminism(failures)
    # the old run: a store write where the recorded run completed the update refused
    assert "UpdateCompleted" in reason(failures[BEFORE.name])
    assert "support-after-threshold" in reason(failures[SINCE.name])
