"""After a request has been released or closed its workflow has ended; what may
still happen to it (a correction of an answer, DESIGN.md: "a correction is a
new event that points at the old one") runs in a new run of the same workflow,
and a command retried after the end gets the answer it got the first time.
On the time-skipping server, with a real worker and a real SQLite store."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from ringi.domain.commands import (
    Approve,
    Close,
    CorrectAnswer,
    Endorse,
    RecordAnswer,
    Release,
    Withdraw,
)
from ringi.domain.vocabulary import Category, CloseReason, Stage
from ringi.service import Ringi

from .helpers import (
    PROPOSER,
    SECRETARIAT,
    assert_not_allowed,
    assert_refused,
    assert_store_matches_workflow,
    describe_run,
    event_names,
    file_request,
    member,
    release_date,
    request_in_objection_window,
)

COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED


async def closed_answered_question(ringi: Ringi) -> int:
    n = (await file_request(ringi, category=Category.QUESTION)).number
    await ringi.act(n, RecordAnswer(actor=SECRETARIAT, text="上限は20件です。"))
    view = await ringi.act(n, Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED))
    assert view.stage is Stage.CLOSED
    return n


async def test_an_answer_is_corrected_on_a_closed_and_on_a_released_request(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    closed = await closed_answered_question(ringi)
    released = (await request_in_objection_window(ringi)).number
    await time_skipping_env.sleep(timedelta(days=15))
    planned = release_date(ringi.view(released), 10)
    await ringi.act(released, Approve(actor=SECRETARIAT, planned_release=planned))
    await ringi.act(released, RecordAnswer(actor=SECRETARIAT, text="2月にリリースします。"))
    await ringi.act(released, Release(actor=SECRETARIAT))

    for n, stage in [(closed, Stage.CLOSED), (released, Stage.RELEASED)]:
        first_run, status = await describe_run(ringi.client, n)
        assert status == COMPLETED
        current = ringi.view(n).answers[-1]
        view = await ringi.act(
            n,
            CorrectAnswer(
                actor=SECRETARIAT, answer_id=current.answer_id, text="訂正後の回答", reason="誤記"
            ),
        )
        assert view.stage is stage
        corrected, correction = view.answers[-2:]
        assert corrected.superseded_by == correction.answer_id
        assert (correction.corrects, correction.text) == (current.answer_id, "訂正後の回答")
        assert event_names(ringi.store, n)[-1] == "AnswerCorrected"
        # a new run of the request's workflow carried it out and ended again, holding
        # exactly what the store folds to
        run, status = await describe_run(ringi.client, n)
        assert run != first_run and status == COMPLETED
        assert await assert_store_matches_workflow(ringi, n) == view


async def test_a_command_retried_after_the_workflow_ended_gets_its_first_answer(
    ringi: Ringi,
) -> None:
    n = (await file_request(ringi)).number
    withdraw = Withdraw(actor=member(PROPOSER), reason="取り下げます")
    first = await ringi.act(n, withdraw)
    assert first.stage is Stage.CLOSED
    assert (await describe_run(ringi.client, n))[1] == COMPLETED

    again = await ringi.act(n, withdraw)  # the same command id: a client's retry
    assert again == first
    assert event_names(ringi.store, n).count("Closed") == 1


async def test_a_retried_correction_is_recorded_once(ringi: Ringi) -> None:
    n = await closed_answered_question(ringi)
    correct = CorrectAnswer(
        actor=SECRETARIAT, answer_id="a1", text="上限は50件です。", reason="誤記"
    )
    first = await ringi.act(n, correct)
    again = await ringi.act(n, correct)
    assert again == first
    assert event_names(ringi.store, n).count("AnswerCorrected") == 1


async def test_what_may_not_happen_after_the_end_is_refused_without_a_new_run(
    ringi: Ringi,
) -> None:
    n = await closed_answered_question(ringi)
    run = await describe_run(ringi.client, n)

    await assert_refused(
        ringi,
        n,
        Endorse(actor=member("F社")),
        rf"No\.{n} is closed; nothing more can happen to it but an answer, a correction of one, "
        "or its reopening",
    )
    await assert_not_allowed(
        ringi,
        n,
        CorrectAnswer(actor=member(PROPOSER), answer_id="a1", text="x", reason="y"),
        "only the secretariat may",
    )
    await assert_refused(
        ringi,
        n,
        CorrectAnswer(actor=SECRETARIAT, answer_id="a7", text="x", reason="y"),
        f"No.{n} has no answer 'a7'",
    )
    assert await describe_run(ringi.client, n) == run  # refused before any run was started


async def test_a_correction_right_after_the_close_on_the_dev_server(ringi_dev: Ringi) -> None:
    """The real server starts a workflow id again only a moment after its last run
    ended; a correction sent at once waits for that moment instead of failing."""
    n = await closed_answered_question(ringi_dev)
    view = await ringi_dev.act(
        n, CorrectAnswer(actor=SECRETARIAT, answer_id="a1", text="上限は50件です。", reason="誤記")
    )
    assert [a.text for a in view.answers] == ["上限は20件です。", "上限は50件です。"]
    assert await assert_store_matches_workflow(ringi_dev, n) == view
