"""The paths the register records, each end to end on real servers.

Every scenario drives ringi through its workflow on Temporal (the time-skipping
server unless it needs visibility queries) with a real SQLite event store, and
ends by checking that the stored events fold to exactly the state the workflow
reports.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from ringi.config import Settings
from ringi.domain.commands import (
    Approve,
    Close,
    DismissObjection,
    EvaluateCost,
    FileRequest,
    Hold,
    OpenObjectionWindow,
    RaiseObjection,
    RecordAnswer,
    RecordFindings,
    Release,
    Resume,
)
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Category, CloseReason, Role, Stage
from ringi.service import Ringi
from ringi.store import RingiStore
from ringi.workflows.messages import RequestStart, workflow_id
from ringi.workflows.request import DEADLINE, STAGE, SUPPORT, RequestWorkflow

from .conftest import running_worker
from .helpers import (
    DAY,
    PROPOSER,
    SECRETARIAT,
    SUPPORTERS,
    assert_store_matches_workflow,
    cost_inputs_no61,
    cost_inputs_worthwhile,
    describe_run,
    endorse_by,
    event_names,
    events,
    eventually,
    file_request,
    member,
    open_meeting,
    outbox,
    release_date,
    request_in_hearing,
    request_in_objection_window,
    search_attribute,
)

RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


async def test_no39_supported_evaluated_unopposed_implemented_released(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    filed = await file_request(ringi)
    n = filed.number
    assert filed.stage is Stage.GATHERING_SUPPORT and filed.support == 1

    # 賛同数の条件を満たしましたので、事業者ヒアリングを実施中
    view = await endorse_by(ringi, n, SUPPORTERS)
    assert view.stage is Stage.HEARING and view.support == 5
    assert view.endorsers == list(SUPPORTERS)

    view = await ringi.act(
        n, RecordFindings(actor=SECRETARIAT, text="各社とも一括取得の機能を希望")
    )
    view = await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    assert view.stage is Stage.COST_EVALUATION
    evaluation = view.latest_evaluation
    assert evaluation is not None and evaluation.cost_effective
    assert (evaluation.benefit_yen, evaluation.total_cost_yen) == (36_000_000, 30_000_000)

    # no "problem" raised after the 35th meeting
    open_meeting(ringi, 35, view.updated_at)
    view = await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT, meeting=35))
    window = view.objection_window
    assert view.stage is Stage.OBJECTION_WINDOW and window is not None
    assert window.meeting == 35 and window.ends_at == window.opened_at + timedelta(days=14)

    await time_skipping_env.sleep(timedelta(days=15))
    view = store.view(n)
    assert view.stage is Stage.IMPLEMENTATION
    ended = events(store, n, "ObjectionWindowEnded")
    assert len(ended) == 1 and ended[0].details["objections"] == 0
    assert ended[0].actor is not None and ended[0].actor["role"] == Role.TIMER

    planned = release_date(view, 90)
    view = await ringi.act(n, Approve(actor=SECRETARIAT, planned_release=planned))
    assert view.planned_release == planned
    view = await ringi.act(n, Release(actor=SECRETARIAT, released_on=planned))
    assert view.stage is Stage.RELEASED and view.released_on == planned

    assert event_names(store, n) == [
        "Filed",
        "SupportGatheringOpened",
        *["Endorsed"] * 4,
        "SupportThresholdMet",
        "HearingOpened",
        "HearingFindingsRecorded",
        "CostEvaluated",
        "ObjectionWindowOpened",
        "ObjectionWindowEnded",
        "ImplementationApproved",
        "Released",
    ]
    final = await assert_store_matches_workflow(ringi, n)
    assert final.stage is Stage.RELEASED


async def test_no61_not_cost_effective_closed_with_the_figures_kept(
    ringi: Ringi, store: RingiStore
) -> None:
    n = (await request_in_hearing(ringi)).number

    view = await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_no61()))
    assert view.stage is Stage.COST_EVALUATION
    view = await ringi.act(
        n,
        Close(
            actor=SECRETARIAT,
            reason=CloseReason.NOT_COST_EFFECTIVE,
            note="費用対効果が見込めないため、対象外とさせていただきます",
        ),
    )
    assert view.stage is Stage.CLOSED

    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.closure is not None
    assert stored.closure.reason is CloseReason.NOT_COST_EFFECTIVE
    evaluation = stored.latest_evaluation
    assert evaluation is not None
    assert evaluation.inputs.monthly_volume == 6_000
    assert evaluation.benefit_yen == Decimal(50_000_000)
    assert evaluation.total_cost_yen == Decimal(1_000_000_000)
    assert evaluation.ratio == Decimal("0.05")
    assert evaluation.cost_effective is False
    # the figures are in the recorded event itself, not only in a read model
    (recorded,) = events(store, n, "CostEvaluated")
    assert Decimal(recorded.details["evaluation"]["benefit_yen"]) == 50_000_000
    assert Decimal(recorded.details["evaluation"]["ratio"]) == Decimal("0.05")


async def test_no102_support_deadline_closes_by_the_timer_alone_across_a_worker_restart(
    time_skipping_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> None:
    client = time_skipping_env.client
    ringi = Ringi(settings, client, store)
    async with running_worker(client, settings, store, sticky=False):
        filed = await file_request(ringi)
        n = filed.number
        view = await endorse_by(ringi, n, ["B社", "C社"])
        assert view.support == 3

    # no worker at all for a month: nothing is due, nothing happens
    await time_skipping_env.sleep(timedelta(days=30))
    assert store.view(n).stage is Stage.GATHERING_SUPPORT

    async with running_worker(client, settings, store):
        await time_skipping_env.sleep(timedelta(days=61))  # past the 90-day deadline
        stored = await assert_store_matches_workflow(ringi, n)

    assert stored.stage is Stage.CLOSED and stored.closure is not None
    assert stored.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
    assert stored.closure.by.role is Role.TIMER
    assert filed.support_deadline is not None and stored.closure.at >= filed.support_deadline
    assert event_names(store, n)[-2:] == ["SupportWindowClosed", "Closed"]
    (closed_note,) = outbox(store, n, "auto_closed")
    assert closed_note.recipients == [PROPOSER, "B社", "C社", "secretariat"]


async def test_hold_resumes_to_the_stage_it_left_and_moves_the_support_deadline(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    filed = await file_request(ringi)
    n = filed.number
    await endorse_by(ringi, n, ["B社"])
    deadline = filed.support_deadline
    assert deadline is not None

    await time_skipping_env.sleep(timedelta(days=10))
    view = await ringi.act(n, Hold(actor=SECRETARIAT, reason="関連法令の改正を待つため保留"))
    assert view.stage is Stage.ON_HOLD and view.held_from is Stage.GATHERING_SUPPORT
    assert view.hold_reason == "関連法令の改正を待つため保留"

    # well past the original deadline: the clock stops while a request is on hold
    await time_skipping_env.sleep(timedelta(days=100))
    assert store.view(n).stage is Stage.ON_HOLD

    view = await ringi.act(n, Resume(actor=SECRETARIAT, reason="法改正が成立"))
    assert view.stage is Stage.GATHERING_SUPPORT and view.held_from is None
    (held,), (resumed,) = events(store, n, "Held"), events(store, n, "Resumed")
    assert held.at is not None and resumed.at is not None
    held_for = resumed.at - held.at
    assert held_for >= timedelta(days=100)
    assert view.support_deadline == deadline + held_for

    # the moved deadline is the one the timer keeps
    now = await time_skipping_env.get_current_time()
    await time_skipping_env.sleep(view.support_deadline - now - DAY)
    assert store.view(n).stage is Stage.GATHERING_SUPPORT
    await time_skipping_env.sleep(2 * DAY)
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.closure is not None
    assert stored.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
    assert stored.closure.at >= view.support_deadline


async def test_hold_in_the_objection_window_moves_its_end(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    view = await request_in_objection_window(ringi)
    n = view.number
    window = view.objection_window
    assert window is not None

    await time_skipping_env.sleep(timedelta(days=5))
    await ringi.act(n, Hold(actor=SECRETARIAT, reason="他の改修を優先"))
    await time_skipping_env.sleep(timedelta(days=20))  # past the window's original end
    assert store.view(n).stage is Stage.ON_HOLD

    view = await ringi.act(n, Resume(actor=SECRETARIAT))
    assert view.stage is Stage.OBJECTION_WINDOW
    moved = view.objection_window
    assert moved is not None and not moved.ended
    assert moved.ends_at - window.ends_at >= timedelta(days=20)

    await time_skipping_env.sleep(timedelta(days=10))  # the rest of the window, and more
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION


async def test_question_answered_at_a_meeting_and_closed_as_answered(
    ringi: Ringi, store: RingiStore
) -> None:
    filed = await file_request(
        ringi,
        category=Category.QUESTION,
        target="再点検",
        body="再点検の申込期限は何営業日前か",
    )
    n = filed.number
    # a question is answered, not supported: no support window, no timer
    assert filed.stage is Stage.FILED and filed.support_deadline is None
    assert "SupportGatheringOpened" not in event_names(store, n)

    open_meeting(ringi, 27, filed.filed_at)
    view = await ringi.act(
        n, RecordAnswer(actor=SECRETARIAT, text="3営業日前までにお申込みください", meeting=27)
    )
    (answer,) = view.answers
    assert answer.meeting == 27 and answer.text == "3営業日前までにお申込みください"
    (answered,) = outbox(store, n, "answered")
    assert answered.subject == f"No.{n} answered (第27回)"
    assert answered.recipients == [PROPOSER, "secretariat"]

    view = await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED, meeting=27))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.CLOSED and stored.closure is not None
    assert stored.closure.reason is CloseReason.ANSWERED


async def test_an_objection_stops_the_move_to_implementation(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    n = (await request_in_objection_window(ringi)).number
    await ringi.act(n, RaiseObjection(actor=member("F社"), reason="当社システムへの影響が大きい"))

    await time_skipping_env.sleep(timedelta(days=15))
    view = store.view(n)
    assert view.stage is Stage.COST_EVALUATION
    window = view.objection_window
    assert window is not None and window.ended
    assert [o.company for o in window.objections] == ["F社"]
    (ended,) = events(store, n, "ObjectionWindowEnded")
    assert ended.details["objections"] == 1
    await assert_store_matches_workflow(ringi, n)

    # re-evaluated, and a second window passes without objection
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT))
    await time_skipping_env.sleep(timedelta(days=15))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION
    assert len(stored.objection_windows) == 2


async def test_an_objection_ruled_not_blocking_lets_the_window_lead_to_implementation(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    n = (await request_in_objection_window(ringi)).number
    await ringi.act(n, RaiseObjection(actor=member("F社"), reason="当社システムへの影響が大きい"))
    (raised,) = outbox(store, n, "objection_raised")
    assert raised.recipients == [PROPOSER, "secretariat"]
    assert raised.body == "当社システムへの影響が大きい"

    await ringi.act(
        n,
        DismissObjection(
            actor=SECRETARIAT, company="F社", reason="移行期間を1年設ける", meeting=35
        ),
    )
    (dismissed,) = outbox(store, n, "objection_dismissed")
    assert dismissed.recipients == ["F社", "secretariat"]

    await time_skipping_env.sleep(timedelta(days=15))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION
    window = stored.objection_window
    assert window is not None and window.standing == []
    assert window.objections[0].dismissal_reason == "移行期間を1年設ける"
    (ended,) = events(store, n, "ObjectionWindowEnded")
    assert ended.details["objections"] == 0


# --- durability and visibility ---------------------------------------------------------


async def test_continue_as_new_carries_the_state_into_the_next_run(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    client = ringi.client
    filing = FileRequest(
        actor=member(PROPOSER), category=Category.REQUEST, target="API", body="一括取得"
    )
    n = store.reserve_number(filing.command_id)
    start = RequestStart(number=n, filing=filing, policy=ringi.settings.policy(), history_limit=15)
    handle = await client.start_workflow(
        RequestWorkflow.run, start, id=workflow_id(n), task_queue=ringi.settings.task_queue
    )
    await handle.execute_update(RequestWorkflow.filed, result_type=RequestView)
    first_run, _ = await describe_run(client, n)

    view = await endorse_by(ringi, n, ["B社", "C社"])
    run, status = await eventually(
        lambda: describe_run(client, n), lambda described: described[0] != first_run
    )
    assert status == RUNNING
    # the new run holds the state the old one left, and says so to searches
    assert await ringi.live_view(n) == view
    assert await search_attribute(client, n, SUPPORT.name) == 3

    # later commands and timers work in the later runs
    view = await endorse_by(ringi, n, ["D社", "E社"])
    assert view.stage is Stage.HEARING
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    await ringi.act(n, OpenObjectionWindow(actor=SECRETARIAT))
    await time_skipping_env.sleep(timedelta(days=15))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.IMPLEMENTATION
    last_run, _ = await describe_run(client, n)
    assert last_run not in (first_run, run)
    assert await search_attribute(client, n, STAGE.name) == Stage.IMPLEMENTATION


async def test_search_attributes_follow_the_stage(ringi_dev: Ringi) -> None:
    """On the dev server: the time-skipping server has no visibility queries."""
    ringi = ringi_dev
    queue = ringi.settings.task_queue

    async def found(query: str) -> list[str]:
        scoped = f"TaskQueue = '{queue}' AND {query}"
        return [w.id async for w in ringi.client.list_workflows(scoped)]

    filed = await file_request(ringi)
    n, wid = filed.number, workflow_id(filed.number)
    await eventually(
        lambda: found("RingiStage = 'gathering_support' AND RingiSupport = 1"),
        lambda ids: ids == [wid],
    )
    described = await ringi.client.get_workflow_handle(wid).describe()
    deadline = described.typed_search_attributes.get(DEADLINE)
    assert filed.support_deadline is not None and deadline is not None
    assert abs(deadline - filed.support_deadline) < timedelta(milliseconds=1)

    await endorse_by(ringi, n, SUPPORTERS)
    await eventually(
        lambda: found("RingiStage = 'hearing' AND RingiSupport = 5"), lambda ids: ids == [wid]
    )
    assert await found("RingiStage = 'gathering_support'") == []
    described = await ringi.client.get_workflow_handle(wid).describe()
    assert described.typed_search_attributes.get(DEADLINE) is None

    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    await eventually(lambda: found("RingiStage = 'cost_evaluation'"), lambda ids: ids == [wid])
    await assert_store_matches_workflow(ringi, n)
