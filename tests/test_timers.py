"""Durable timers: reminders, the final call, and deadlines that move.

Time passes only through the time-skipping server (``env.sleep``); each timer
shows up as an event written by the timer actor and, where people are to be
told, as a message in the outbox written with it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from ringi.domain.commands import (
    AnswerClarification,
    Approve,
    AskClarification,
    ExtendDeadline,
    Hold,
    Release,
    TimerKind,
)
from ringi.domain.lifecycle import JST
from ringi.domain.vocabulary import CloseReason, Role, Stage
from ringi.service import Ringi
from ringi.store import RingiStore

from .helpers import (
    PROPOSER,
    SECRETARIAT,
    assert_store_matches_workflow,
    endorse_by,
    event_names,
    events,
    file_request,
    member,
    open_meeting,
    outbox,
    pending_timers,
    release_date,
    reminders,
    request_in_objection_window,
)


async def test_a_week_before_the_support_deadline_everyone_is_reminded(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    filed = await file_request(ringi)
    n = filed.number
    await endorse_by(ringi, n, ["B社"])
    assert filed.support_deadline is not None

    await time_skipping_env.sleep(timedelta(days=84))
    (reminded,) = reminders(store, n, TimerKind.DEADLINE_APPROACHING)
    assert reminded.details["due"] == filed.support_deadline - timedelta(days=7)
    assert reminded.actor is not None and reminded.actor["role"] == Role.TIMER
    (message,) = outbox(store, n, "deadline_approaching")
    assert message.recipients == [PROPOSER, "B社", "secretariat"]
    assert "support 2 of 5" in message.subject
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.GATHERING_SUPPORT


async def test_a_request_open_a_year_gets_a_final_call_until_the_next_meeting(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    filed = await file_request(ringi)
    n = filed.number
    # 多数の賛同があるまで待ちます: a support deadline well over a year away
    await ringi.act(
        n,
        ExtendDeadline(
            actor=SECRETARIAT,
            deadline=filed.filed_at + timedelta(days=500),
            reason="多数の賛同があるまで待ちます",
        ),
    )
    meeting_27 = filed.filed_at + timedelta(days=380)
    open_meeting(ringi, 27, meeting_27)

    await time_skipping_env.sleep(timedelta(days=366))
    (call,) = events(store, n, "FinalCallIssued")
    assert call.meeting == 27 and call.details["deadline"] == meeting_27
    view = store.view(n)
    assert view.stage is Stage.GATHERING_SUPPORT
    assert view.final_call_at is not None and view.support_deadline == meeting_27
    (message,) = outbox(store, n, "final_call")
    assert "closed unless supported by meeting 27" in message.subject
    await assert_store_matches_workflow(ringi, n)

    # 次回会議(第27回)までに多数の賛同がなければクローズ
    await time_skipping_env.sleep(timedelta(days=15))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.closure is not None
    assert stored.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
    assert stored.closure.at >= meeting_27


async def test_an_unanswered_clarification_is_reminded_once(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    n = (await file_request(ringi)).number
    question = "Web・APIいずれの機能のご要望か具体的にご教示願います"
    await ringi.act(n, AskClarification(actor=SECRETARIAT, question=question))
    (asked,) = outbox(store, n, "clarification_asked")
    assert asked.recipients == [PROPOSER] and asked.body == question

    await time_skipping_env.sleep(timedelta(days=31))
    (reminded,) = reminders(store, n, TimerKind.CLARIFICATION_REMINDER)
    clarification = store.view(n).pending_clarification
    assert clarification is not None and reminded.details["due"] == clarification.reply_due
    (overdue,) = outbox(store, n, "clarification_overdue")
    assert overdue.recipients == [PROPOSER, "secretariat"]

    view = await ringi.act(n, AnswerClarification(actor=member(PROPOSER), text="API です"))
    assert view.pending_clarification is None and view.clarifications[0].reply == "API です"
    await time_skipping_env.sleep(timedelta(days=31))
    assert len(reminders(store, n, TimerKind.CLARIFICATION_REMINDER)) == 1
    await assert_store_matches_workflow(ringi, n)


async def test_a_request_on_hold_is_put_up_for_review_every_180_days(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    n = (await file_request(ringi)).number
    view = await ringi.act(n, Hold(actor=SECRETARIAT, reason="他の改修を優先するため保留"))
    assert view.held_at is not None

    await time_skipping_env.sleep(timedelta(days=181))
    (first,) = reminders(store, n, TimerKind.HOLD_REVIEW)
    assert first.details["due"] == view.held_at + timedelta(days=180)
    (message,) = outbox(store, n, "hold_review_due")
    assert message.recipients == ["secretariat"] and message.body == "他の改修を優先するため保留"

    await time_skipping_env.sleep(timedelta(days=180))
    dues = [r.details["due"] for r in reminders(store, n, TimerKind.HOLD_REVIEW)]
    assert dues == [view.held_at + timedelta(days=180), view.held_at + timedelta(days=360)]
    assert len(outbox(store, n, "hold_review_due")) == 2
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.ON_HOLD


async def test_extending_the_support_deadline_rearms_the_timer(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    filed = await file_request(ringi)
    n = filed.number
    old = filed.support_deadline
    assert old is not None
    new = old + timedelta(days=30)

    view = await ringi.act(
        n, ExtendDeadline(actor=SECRETARIAT, deadline=new, reason="2017年9月まで延長")
    )
    assert view.support_deadline == new
    deadlines = [t.due for t in await pending_timers(ringi, n) if t.timer == "support_deadline"]
    assert deadlines == [new]

    await time_skipping_env.sleep(timedelta(days=91))  # past the old deadline
    assert store.view(n).stage is Stage.GATHERING_SUPPORT
    assert "SupportWindowClosed" not in event_names(store, n)

    await time_skipping_env.sleep(timedelta(days=30))  # past the new one
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.closure is not None
    assert stored.closure.reason is CloseReason.INSUFFICIENT_SUPPORT
    assert stored.closure.at >= new


async def test_the_planned_release_date_reminds_the_secretariat(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    n = (await request_in_objection_window(ringi)).number
    await time_skipping_env.sleep(timedelta(days=15))
    planned = release_date(store.view(n), 30)
    await ringi.act(n, Approve(actor=SECRETARIAT, planned_release=planned))

    await time_skipping_env.sleep(timedelta(days=31))
    (reminded,) = reminders(store, n, TimerKind.PLANNED_RELEASE)
    assert reminded.details["due"].astimezone(JST).date() == planned
    (message,) = outbox(store, n, "planned_release_due")
    assert message.recipients == ["secretariat"]
    assert store.view(n).stage is Stage.IMPLEMENTATION  # a reminder, not a release

    await ringi.act(n, Release(actor=SECRETARIAT))
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.RELEASED
