"""The path at the secretariat's discretion, and what happens after the end
(issue 20), told as the reference register's rows tell them: driven live, with
today's dates, on the time-skipping server with a real worker and a real
SQLite store. After each meeting a row is checked by its stage, its timers and
its rendered 回答 cell in that meeting's register."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from ringi.audit.verify import verify
from ringi.config import Settings
from ringi.domain.commands import (
    Close,
    EvaluateCost,
    EvaluateWithoutHearing,
    ExtendDeadline,
    HearBelowThreshold,
    Hold,
    OpenHearing,
    RecordAnswer,
    Reopen,
    Withdraw,
)
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Category, CloseReason, Stage
from ringi.register.document import register_document
from ringi.register.render import cells
from ringi.service import Ringi

from .helpers import (
    PROPOSER,
    SECRETARIAT,
    SUPPORTERS,
    assert_refused,
    assert_store_matches_workflow,
    cost_inputs_no61,
    endorse_by,
    event_names,
    file_request,
    member,
    open_meeting,
    pending_timers,
    release_date,
    request_in_hearing,
    request_in_objection_window,
    use_policy,
)

#: the reference register, beside the repository in the team's tree
REGISTER = Path(__file__).resolve().parents[2] / "shared/fixtures/switching-requests-register.tsv"
TAG = re.compile(r"\s*\(第(\d+)回\)$")


def reference_row(number: int) -> tuple[str, list[str], str]:
    """The row of the reference register: its body, its answers as given (split at
    →, spaces around them dropped) and its last column."""
    with REGISTER.open(encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            if row and row[0].strip() == str(number):
                parts = [
                    p.strip() for p in row[4].removeprefix("<p>").removesuffix("</p>").split("→")
                ]
                return row[3], [p for p in parts if p], row[5].strip()
    raise AssertionError(f"No.{number} is not in {REGISTER}")


def answer_cell(ringi: Ringi, number: int, meeting: int) -> str | None:
    """The 回答 cell of No.``number`` in meeting ``meeting``'s register; None: no row."""
    doc = register_document(ringi.store, meeting=meeting)
    rows = [r for r in doc.rows if r.number == number]
    return cells(rows[0], "ja")[4] if rows else None


async def timer_kinds(ringi: Ringi, number: int) -> list[str]:
    return [t.timer.value for t in await pending_timers(ringi, number)]


async def now(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


async def meeting_now(ringi: Ringi, env: WorkflowEnvironment, number: int) -> None:
    open_meeting(ringi, number, await now(env))


# --- No.13: a hearing below the threshold ---------------------------------------------------


async def test_no13_the_secretariat_holds_the_hearing_below_the_threshold(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    _, (first, second), last = reference_row(13)
    assert second.endswith("(継続)") and last == "4"
    second = second.removesuffix("(継続)").strip()
    n = (await file_request(ringi, target="供給地点特定番号検索")).number
    await endorse_by(ringi, n, SUPPORTERS[:3])  # 4 of 5, as the register counts

    await meeting_now(ringi, time_skipping_env, 20)
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text=first, meeting=20))
    view = ringi.view(n)
    assert (view.stage, view.support) == (Stage.GATHERING_SUPPORT, 4)
    assert await timer_kinds(ringi, n) == ["deadline_approaching", "support_deadline"]
    assert answer_cell(ringi, n, 20) == f"{first}(第20回)"

    await time_skipping_env.sleep(timedelta(days=30))
    await meeting_now(ringi, time_skipping_env, 21)
    await assert_refused(ringi, n, OpenHearing(actor=SECRETARIAT), "the hearing needs 5")
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text=second, continued=True, meeting=21))
    view = await ringi.act(
        n,
        HearBelowThreshold(actor=SECRETARIAT, reason="どのような形での実装を目指すか", meeting=21),
    )
    assert (view.stage, view.support) == (Stage.HEARING, 4)
    assert [(d.kind, d.meeting) for d in view.discretions] == [("hear_below_threshold", 21)]
    assert await timer_kinds(ringi, n) == []  # the hearing has no deadline of its own
    assert answer_cell(ringi, n, 21) == f"{first}(第20回)\n→{second}(第21回)(継続)"
    assert "HearingOpenedBelowThreshold" in event_names(ringi.store, n)

    # the fifth company may still back it: the threshold met does not open the hearing again
    view = await endorse_by(ringi, n, SUPPORTERS[3:])
    assert view.stage is Stage.HEARING and event_names(ringi.store, n).count("HearingOpened") == 0
    await assert_refused(
        ringi,
        n,
        HearBelowThreshold(actor=SECRETARIAT, reason="x"),
        "cannot hold the hearing below the threshold",
    )
    await assert_store_matches_workflow(ringi, n)


# --- No.78: cost evaluation straight from support ------------------------------------------


@pytest.mark.parametrize("hearing_by_itself", [True, False], ids=["auto-hearing", "no-auto"])
async def test_no78_the_cost_is_evaluated_without_a_hearing(
    ringi: Ringi,
    settings: Settings,
    time_skipping_env: WorkflowEnvironment,
    hearing_by_itself: bool,
) -> None:
    use_policy(settings, auto_open_hearing=hearing_by_itself)
    _, parts, last = reference_row(78)
    first, waits, evaluated = parts[:3]
    found = TAG.search(evaluated)
    assert found is not None and found.group(1) == "28" and last == "6"
    evaluated = evaluated[: found.start()]
    n = (await file_request(ringi, target="廃止取次登録")).number
    await endorse_by(ringi, n, SUPPORTERS[:1])

    await meeting_now(ringi, time_skipping_env, 26)
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text=first, meeting=26))
    assert answer_cell(ringi, n, 26) == f"{first}(第26回)"

    await time_skipping_env.sleep(timedelta(days=30))
    await meeting_now(ringi, time_skipping_env, 27)
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text=waits, meeting=27))
    later = ringi.view(n).support_deadline + timedelta(days=60)  # type: ignore[operator]
    await ringi.act(n, ExtendDeadline(actor=SECRETARIAT, deadline=later, reason=waits, meeting=27))
    assert ringi.view(n).stage is Stage.GATHERING_SUPPORT
    assert "support_deadline" in await timer_kinds(ringi, n)
    assert answer_cell(ringi, n, 27) == f"{first}(第26回)\n→{waits}(第27回)"

    await time_skipping_env.sleep(timedelta(days=40))
    view = await endorse_by(ringi, n, [*SUPPORTERS[1:], "F社"])  # 6 companies
    assert view.support == 6
    if hearing_by_itself:
        assert view.stage is Stage.HEARING
        assert await timer_kinds(ringi, n) == []
    else:  # the threshold met leaves the path to the secretariat; support is still taken
        assert view.stage is Stage.GATHERING_SUPPORT
        assert "support_deadline" in await timer_kinds(ringi, n)
    await meeting_now(ringi, time_skipping_env, 28)
    view = await ringi.act(
        n,
        EvaluateWithoutHearing(
            actor=SECRETARIAT,
            inputs=cost_inputs_no61(),
            reason="賛同数の条件を満たした",
            meeting=28,
        ),
    )
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text=evaluated, meeting=28))
    view = ringi.view(n)
    assert view.stage is Stage.COST_EVALUATION and view.findings == []
    assert view.latest_evaluation is not None and not view.latest_evaluation.cost_effective
    assert [d.kind for d in view.discretions] == ["evaluate_without_hearing"]
    assert await timer_kinds(ringi, n) == []
    assert answer_cell(ringi, n, 28) == f"{first}(第26回)\n→{waits}(第27回)\n→{parts[2]}"
    names = event_names(ringi.store, n)
    assert names.index("HearingSkipped") + 1 == names.index("CostEvaluated")
    await assert_store_matches_workflow(ringi, n)


async def test_a_cost_evaluation_without_a_hearing_needs_the_threshold_and_no_findings(
    ringi: Ringi,
) -> None:
    short = (await file_request(ringi)).number
    skip = EvaluateWithoutHearing(actor=SECRETARIAT, inputs=cost_inputs_no61(), reason="r")
    await assert_refused(ringi, short, skip, "evaluating it without a hearing needs 5")
    heard = (await request_in_hearing(ringi)).number
    from ringi.domain.commands import RecordFindings

    await ringi.act(heard, RecordFindings(actor=SECRETARIAT, text="各社とも必要"))
    await assert_refused(ringi, heard, skip, "has been heard")
    assert "HearingSkipped" not in event_names(ringi.store, heard)


# --- No.43 with No.44: one answer given to both ----------------------------------------------


async def test_no43_and_no44_are_given_one_answer_and_held_together(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    _, (first, second), last43 = reference_row(43)
    _, (same,), last44 = reference_row(44)
    assert same == "No43に同じ。" and last43 == last44 == "保留"
    a = (await file_request(ringi, target="設備情報変更(低圧FIT電源)")).number
    b = (await file_request(ringi, target="低圧FIT電源")).number

    async def answer_both(text: str, meeting: int) -> None:
        for n, other in ((a, b), (b, a)):
            await ringi.act(
                n,
                RecordAnswer(actor=SECRETARIAT, text=text, meeting=meeting, together_with=(other,)),
            )

    await meeting_now(ringi, time_skipping_env, 24)
    await answer_both(first, 24)
    for n, other in ((a, b), (b, a)):
        view = ringi.view(n)
        assert view.stage is Stage.GATHERING_SUPPORT
        assert [x.together_with for x in view.answers] == [[other]]
        assert answer_cell(ringi, n, 24) == f"{first}(第24回)"  # on each row

    await time_skipping_env.sleep(timedelta(days=30))
    await meeting_now(ringi, time_skipping_env, 25)
    await answer_both(second, 25)
    for n in (a, b):
        await ringi.act(n, Hold(actor=SECRETARIAT, reason="法改正への対応", meeting=25))
        assert ringi.view(n).stage is Stage.ON_HOLD
        assert await timer_kinds(ringi, n) == ["hold_review"]
        assert answer_cell(ringi, n, 25) == f"{first}(第24回)\n→{second}(第25回)"
    doc = register_document(ringi.store, meeting=25)
    marks = {r.number: cells(r, "ja")[5] for r in doc.rows}
    assert marks[a] == marks[b] == "保留"


# --- after the end -------------------------------------------------------------------------


async def test_an_answer_after_the_release_is_in_the_register_of_its_meeting(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    from ringi.domain.commands import Approve, Release

    n = (await request_in_objection_window(ringi, meeting=40)).number
    await time_skipping_env.sleep(timedelta(days=15))
    planned = release_date(ringi.view(n), 10)
    await ringi.act(n, Approve(actor=SECRETARIAT, planned_release=planned))
    await ringi.act(n, Release(actor=SECRETARIAT))
    await meeting_now(ringi, time_skipping_env, 41)
    assert answer_cell(ringi, n, 41) == ""  # released since the meeting before: its row, no answer

    await time_skipping_env.sleep(timedelta(days=30))
    await meeting_now(ringi, time_skipping_env, 42)
    assert answer_cell(ringi, n, 42) is None  # ended before: not in the register
    view = await ringi.act(
        n, RecordAnswer(actor=SECRETARIAT, text="リリースしました。", meeting=42)
    )
    assert view.stage is Stage.RELEASED and await timer_kinds(ringi, n) == []
    assert answer_cell(ringi, n, 42) == "リリースしました。(第42回)"
    await assert_store_matches_workflow(ringi, n)
    assert verify(ringi.store).clean


async def test_a_question_closed_as_answered_takes_a_follow_up(ringi: Ringi) -> None:
    n = (await file_request(ringi, category=Category.QUESTION)).number
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text="上限は20件です。"))
    await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED))
    view = await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text="なお、来年度に拡張します。"))
    assert view.stage is Stage.CLOSED
    assert [a.text for a in view.answers] == ["上限は20件です。", "なお、来年度に拡張します。"]
    await assert_store_matches_workflow(ringi, n)


async def closed_short_of_support(ringi: Ringi, env: WorkflowEnvironment) -> int:
    n = (await file_request(ringi)).number
    await endorse_by(ringi, n, SUPPORTERS[:2])
    await env.sleep(timedelta(days=91))
    assert ringi.view(n).closure is not None
    return n


async def reopened(ringi: Ringi, n: int) -> tuple[RequestView, RequestView]:
    before = ringi.view(n)
    assert before.stage is Stage.CLOSED
    after = await ringi.act(n, Reopen(actor=SECRETARIAT, reason="再検討の依頼"))
    assert after.number == n and after.endorsers == before.endorsers
    assert after.closure is None and after.answers == before.answers
    assert event_names(ringi.store, n)[-1] == "Reopened"
    assert await assert_store_matches_workflow(ringi, n) == after
    assert verify(ringi.store).clean
    return before, after


async def test_reopened_after_each_kind_of_close_in_the_stage_it_was_closed_from(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    # withdrawn while gathering support: its window still runs
    n = (await file_request(ringi)).number
    await endorse_by(ringi, n, SUPPORTERS[:1])
    deadline = ringi.view(n).support_deadline
    await ringi.act(n, Withdraw(actor=member(PROPOSER), reason="取り下げ"))
    _, view = await reopened(ringi, n)
    assert view.stage is Stage.GATHERING_SUPPORT and view.support_deadline == deadline
    # closed as a duplicate of several, from the hearing
    n = (await request_in_hearing(ringi)).number
    view = await ringi.act(
        n, Close(actor=SECRETARIAT, reason=CloseReason.DUPLICATE, duplicate_of=1, duplicates=(9, 1))
    )
    assert view.closure is not None and view.closure.duplicates == [1, 9]
    _, view = await reopened(ringi, n)
    assert view.stage is Stage.HEARING
    # not cost-effective, from the evaluation
    n = (await request_in_hearing(ringi)).number
    await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_no61()))
    await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.NOT_COST_EFFECTIVE))
    _, view = await reopened(ringi, n)
    assert view.stage is Stage.COST_EVALUATION and len(view.evaluations) == 1
    # a question answered, from filed
    n = (await file_request(ringi, category=Category.QUESTION)).number
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text="上限は20件です。"))
    await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED))
    _, view = await reopened(ringi, n)
    assert view.stage is Stage.FILED
    # out of scope during the objection window: the window keeps the time it had left
    n = (await request_in_objection_window(ringi)).number
    window = ringi.view(n).objection_window
    assert window is not None
    left = window.ends_at - (await now(time_skipping_env))
    await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.OUT_OF_SCOPE))
    await time_skipping_env.sleep(timedelta(days=20))  # longer than the window
    _, view = await reopened(ringi, n)
    assert view.stage is Stage.OBJECTION_WINDOW and view.objection_window is not None
    assert abs((view.objection_window.ends_at - await now(time_skipping_env)) - left) < timedelta(
        minutes=5
    )
    assert await timer_kinds(ringi, n) == ["objection_window_end"]


async def test_reopened_short_of_support_it_gathers_again_until_a_new_deadline(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    n = await closed_short_of_support(ringi, time_skipping_env)
    closed = ringi.view(n)
    assert closed.closure is not None
    assert closed.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
    _, view = await reopened(ringi, n)
    assert view.stage is Stage.GATHERING_SUPPORT and not view.support_window_closed
    assert view.support_deadline is not None
    assert view.support_deadline - await now(time_skipping_env) > timedelta(days=89)
    assert await timer_kinds(ringi, n) == ["deadline_approaching", "support_deadline"]
    # its workflow runs its timers again: short of support at the new deadline, closed again
    await time_skipping_env.sleep(timedelta(days=91))
    again = ringi.view(n)
    assert again.stage is Stage.CLOSED and again.endorsers == closed.endorsers
    assert event_names(ringi.store, n).count("Closed") == 2
    assert verify(ringi.store).clean


async def test_a_reopening_is_refused_where_it_does_not_apply(ringi: Ringi) -> None:
    n = (await file_request(ringi)).number
    await assert_refused(
        ringi, n, Reopen(actor=SECRETARIAT, reason="r"), "cannot reopen: No.1 is in stage"
    )
    await ringi.act(n, Withdraw(actor=member(PROPOSER), reason="取り下げ"))
    far = ringi.view(n).filed_at + timedelta(days=400)
    await assert_refused(
        ringi,
        n,
        Reopen(actor=SECRETARIAT, reason="r", deadline=far),
        "no support deadline to set",
    )
    assert ringi.view(n).stage is Stage.CLOSED
