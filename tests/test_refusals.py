"""Refusals: every command the rules do not allow is refused with a message for
the person who asked, and nothing is written: no event, no notification, and the
workflow keeps the state it had (``assert_refused`` checks all three)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from ringi.domain.commands import (
    AnswerClarification,
    AppendNote,
    Approve,
    AskClarification,
    ChangeReleaseDate,
    Close,
    CorrectAnswer,
    Endorse,
    EvaluateCost,
    ExtendDeadline,
    FileRequest,
    Hold,
    OpenHearing,
    OpenObjectionWindow,
    OpenSupport,
    RaiseObjection,
    RecordAnswer,
    RecordFindings,
    Release,
    Resume,
    TimerFired,
    TimerKind,
    Withdraw,
    WithdrawEndorsement,
)
from ringi.domain.errors import NotAllowed, Refused
from ringi.domain.vocabulary import Category, CloseReason, Stage
from ringi.service import Ringi
from ringi.store import RingiStore

from .helpers import (
    AUDITOR,
    DAY,
    PROPOSER,
    SECRETARIAT,
    SUPPORTERS,
    assert_not_allowed,
    assert_refused,
    assert_store_matches_workflow,
    cost_inputs_no61,
    cost_inputs_worthwhile,
    endorse_by,
    event_names,
    file_request,
    member,
    release_date,
    request_in_hearing,
    request_in_objection_window,
    use_policy,
)

# --- invalid transitions, stage by stage ------------------------------------------------


async def test_a_question_is_not_supported_heard_or_closed_unanswered(ringi: Ringi) -> None:
    n = (await file_request(ringi, category=Category.QUESTION)).number
    for cmd, match in [
        (OpenSupport(actor=SECRETARIAT), r"is a question \(質問\); questions are answered"),
        (Endorse(actor=member("B社")), r"support window of No\.1 is not open \(stage: filed\)"),
        (OpenHearing(actor=SECRETARIAT), "cannot open the hearing: No.1 is in stage filed"),
        (Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED), "has no recorded answer"),
        (Resume(actor=SECRETARIAT), "cannot resume: No.1 is in stage filed, not on_hold"),
        (AnswerClarification(actor=member(PROPOSER), text="x"), "no open clarification"),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


async def test_gathering_support_refuses_every_later_step(ringi: Ringi) -> None:
    filed = await file_request(ringi)
    n = filed.number
    view = await endorse_by(ringi, n, ["B社"])
    assert view.support_deadline is not None
    planned = release_date(view, 30)
    for cmd, match in [
        (OpenHearing(actor=SECRETARIAT), "has the support of 2 companies; the hearing needs 5"),
        (RecordFindings(actor=SECRETARIAT, text="x"), "cannot record hearing findings"),
        (EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()), "cannot evaluate"),
        (OpenObjectionWindow(actor=SECRETARIAT), "cannot open an objection window"),
        (Approve(actor=SECRETARIAT, planned_release=planned), "cannot approve implementation"),
        (ChangeReleaseDate(actor=SECRETARIAT, planned_release=planned), "cannot change"),
        (Release(actor=SECRETARIAT), "cannot release: No.1 is in stage gathering_support"),
        (Resume(actor=SECRETARIAT), "cannot resume"),
        (OpenSupport(actor=SECRETARIAT), "cannot open support gathering"),
        (RaiseObjection(actor=member("C社"), reason="x"), "has no objection window open"),
        (WithdrawEndorsement(actor=member("C社")), "C社 does not endorse No.1"),
        (CorrectAnswer(actor=SECRETARIAT, answer_id="a9", text="x", reason="x"), "no answer"),
        (
            ExtendDeadline(actor=SECRETARIAT, deadline=view.support_deadline - timedelta(days=1)),
            "is not later than the current one",
        ),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


async def test_a_close_needs_a_reason_that_fits(ringi: Ringi) -> None:
    n = (await file_request(ringi)).number
    for cmd, match in [
        (
            Close(actor=SECRETARIAT, reason=CloseReason.NOT_COST_EFFECTIVE),
            "has no evaluation finding it not cost-effective",
        ),
        (
            Close(actor=SECRETARIAT, reason=CloseReason.WITHDRAWN),
            "withdrawn by its proposer, not closed as withdrawn",
        ),
        (
            Close(actor=SECRETARIAT, reason=CloseReason.DUPLICATE),
            "needs the number it duplicates",
        ),
        (
            Close(actor=SECRETARIAT, reason=CloseReason.DUPLICATE, duplicate_of=n),
            r"No\.1 cannot duplicate itself",
        ),
        (
            Close(actor=SECRETARIAT, reason=CloseReason.OUT_OF_SCOPE, duplicate_of=43),
            "a duplicate-of link goes only with the reason 'duplicate'",
        ),
        (Close(actor=SECRETARIAT, reason=CloseReason.ANSWERED), "has no recorded answer"),
    ]:
        await assert_refused(ringi, n, cmd, match)

    view = await endorse_by(ringi, n, SUPPORTERS)
    assert view.stage is Stage.HEARING
    await assert_refused(
        ringi,
        n,
        Close(actor=SECRETARIAT, reason=CloseReason.INSUFFICIENT_SUPPORT),
        "has the support of 5 companies, at or above the threshold of 5",
    )
    await assert_store_matches_workflow(ringi, n)


async def test_hearing_and_evaluation_refuse_what_comes_later(ringi: Ringi) -> None:
    view = await request_in_hearing(ringi)
    n = view.number
    for cmd, match in [
        (OpenHearing(actor=SECRETARIAT), "cannot open the hearing: No.1 is in stage hearing"),
        (OpenObjectionWindow(actor=SECRETARIAT), "cannot open an objection window"),
        (Approve(actor=SECRETARIAT, planned_release=release_date(view, 30)), "cannot approve"),
        (
            # the support deadline runs on after the threshold: only later is an extension
            ExtendDeadline(actor=SECRETARIAT, deadline=view.updated_at + timedelta(days=30)),
            "is not later than the current one",
        ),
    ]:
        await assert_refused(ringi, n, cmd, match)

    view = await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_no61()))
    assert view.stage is Stage.COST_EVALUATION
    for cmd, match in [
        (OpenObjectionWindow(actor=SECRETARIAT), "has no cost-effective evaluation"),
        (RecordFindings(actor=SECRETARIAT, text="x"), "cannot record hearing findings"),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


async def test_the_objection_window_and_implementation_refuse_steps_out_of_order(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    view = await request_in_objection_window(ringi)
    n = view.number
    window = view.objection_window
    assert window is not None
    planned = release_date(view, 60)
    await ringi.act(n, RaiseObjection(actor=member("F社"), reason="影響が大きい"))
    for cmd, match in [
        (RaiseObjection(actor=member("F社"), reason="再度"), "F社 has already objected"),
        (Approve(actor=SECRETARIAT, planned_release=planned), "cannot approve"),
        (EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()), "cannot evaluate"),
        (
            ExtendDeadline(actor=SECRETARIAT, deadline=window.ends_at - timedelta(days=1)),
            "is not later than the current one",
        ),
    ]:
        await assert_refused(ringi, n, cmd, match)

    n = (await request_in_objection_window(ringi)).number
    await time_skipping_env.sleep(timedelta(days=15))
    for cmd, match in [
        (RaiseObjection(actor=member("F社"), reason="遅れて"), "has no objection window open"),
        (Release(actor=SECRETARIAT), "has not been approved for implementation"),
        (ChangeReleaseDate(actor=SECRETARIAT, planned_release=planned), "no planned release"),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await ringi.act(n, Approve(actor=SECRETARIAT, planned_release=planned))
    for cmd, match in [
        (Approve(actor=SECRETARIAT, planned_release=planned), "is already approved"),
        (ChangeReleaseDate(actor=SECRETARIAT, planned_release=planned), "already planned for"),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


async def test_on_hold_nothing_moves_until_resumed(ringi: Ringi) -> None:
    n = (await file_request(ringi)).number
    await ringi.act(n, Hold(actor=SECRETARIAT, reason="法改正待ち"))
    for cmd, match in [
        (Hold(actor=SECRETARIAT, reason="再度"), r"No\.1 is already on hold"),
        (AskClarification(actor=SECRETARIAT, question="?"), "is on hold; resume it before"),
        (
            ExtendDeadline(actor=SECRETARIAT, deadline=ringi.view(n).updated_at + 100 * DAY),
            "has no deadline running in stage on_hold",
        ),
        (Endorse(actor=member("B社")), r"support window of No\.1 is not open \(stage: on_hold\)"),
        (OpenHearing(actor=SECRETARIAT), "cannot open the hearing: No.1 is in stage on_hold"),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


async def test_nothing_more_happens_to_a_closed_or_released_request(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment
) -> None:
    closed = (await file_request(ringi)).number
    await ringi.act(closed, Withdraw(actor=member(PROPOSER), reason="取り下げ"))
    released = (await request_in_objection_window(ringi)).number
    await time_skipping_env.sleep(timedelta(days=15))
    planned = release_date(ringi.view(released), 10)
    await ringi.act(released, Approve(actor=SECRETARIAT, planned_release=planned))
    await ringi.act(released, Release(actor=SECRETARIAT))

    for n, stage in [(closed, "closed"), (released, "released")]:
        for cmd in [
            Endorse(actor=member("F社")),
            AppendNote(actor=member(PROPOSER), text="追記"),
            Resume(actor=SECRETARIAT),
            Hold(actor=SECRETARIAT, reason="x"),
        ]:
            await assert_refused(ringi, n, cmd, rf"No\.{n} is {stage}; nothing more can happen")
        await assert_store_matches_workflow(ringi, n)


async def test_a_timer_cannot_be_fired_early_or_for_a_deadline_that_does_not_apply(
    ringi: Ringi,
) -> None:
    filed = await file_request(ringi)
    n, deadline = filed.number, filed.support_deadline
    assert deadline is not None
    for cmd, match in [
        (TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline), "is not due until"),
        (TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline + DAY), "no longer applies"),
        (TimerFired.at(TimerKind.OBJECTION_WINDOW_END, deadline), "no longer applies"),
    ]:
        await assert_refused(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


# --- support ----------------------------------------------------------------------------


async def test_endorsing_twice_counts_once(ringi: Ringi, store: RingiStore) -> None:
    n = (await file_request(ringi)).number
    view = await endorse_by(ringi, n, ["B社"])
    assert view.support == 2
    await assert_refused(
        ringi,
        n,
        Endorse(actor=member("B社")),
        "B社 already endorses No.1; an endorsement counts once",
    )
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.support == 2 and stored.endorsers == ["B社"]


async def test_endorsements_sent_at_once_are_decided_one_after_another(
    ringi: Ringi, store: RingiStore
) -> None:
    n = (await file_request(ringi)).number

    async def endorse_at_once(*companies: str) -> list[BaseException]:
        sent = [ringi.act(n, Endorse(actor=member(c))) for c in companies]
        results = await asyncio.gather(*sent, return_exceptions=True)
        return [r for r in results if isinstance(r, BaseException)]

    (twice,) = await endorse_at_once("B社", "C社", "D社", "B社")
    assert isinstance(twice, Refused) and "B社 already endorses No.1" in str(twice)
    assert store.view(n).support == 4

    # the fifth company opens the hearing, once; the sixth, sent with it, is counted
    # too: the window stays open to its deadline
    assert await endorse_at_once("E社", "F社") == []
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.HEARING and stored.support == 6
    names = event_names(store, n)
    assert names.count("SupportThresholdMet") == names.count("HearingOpened") == 1


async def test_support_still_counts_after_the_threshold_opened_the_hearing(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    """The threshold met early opens the hearing (by default) but not the end of the
    support window: others may back the request, or withdraw, until its deadline,
    through the hearing and the cost evaluation, and the register counts them (the
    reference register shows 8 companies for No.56). Nothing reopens the hearing."""
    n = (await file_request(ringi)).number
    view = await endorse_by(ringi, n, SUPPORTERS)
    assert view.stage is Stage.HEARING and view.support == 5
    view = await ringi.act(n, Endorse(actor=member("F社")))
    assert view.stage is Stage.HEARING and view.support == 6
    await ringi.act(n, RecordFindings(actor=SECRETARIAT, text="各社とも必要"))
    view = await ringi.act(n, EvaluateCost(actor=SECRETARIAT, inputs=cost_inputs_worthwhile()))
    assert view.stage is Stage.COST_EVALUATION
    view = await ringi.act(n, Endorse(actor=member("G社")))
    view = await ringi.act(n, WithdrawEndorsement(actor=member("B社")))
    assert view.stage is Stage.COST_EVALUATION and view.support == 6
    assert "B社" not in view.endorsers and view.endorsers[-1] == "G社"
    names = event_names(store, n)
    assert names.count("SupportThresholdMet") == names.count("HearingOpened") == 1

    await time_skipping_env.sleep(timedelta(days=91))  # past the support deadline
    closed = r"support window of No\.1 closed at"
    await assert_refused(ringi, n, Endorse(actor=member("H社")), closed)
    await assert_refused(ringi, n, WithdrawEndorsement(actor=member("C社")), closed)
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.stage is Stage.COST_EVALUATION and stored.support == 6


async def test_the_proposers_own_endorsement_counts_once(ringi: Ringi) -> None:
    n = (await file_request(ringi)).number
    await assert_refused(
        ringi,
        n,
        Endorse(actor=member(PROPOSER)),
        "A社 proposed No.1; its support is already counted",
    )
    stored = await assert_store_matches_workflow(ringi, n)
    assert stored.support == 1 and stored.endorsers == []


async def test_no_endorsement_once_the_support_window_has_closed(
    ringi: Ringi, time_skipping_env: WorkflowEnvironment, store: RingiStore
) -> None:
    # the secretariat opens hearings itself: the threshold met leaves the request
    # gathering support until its deadline closes the window
    use_policy(ringi.settings, auto_open_hearing=False)
    n = (await file_request(ringi)).number
    view = await endorse_by(ringi, n, SUPPORTERS)
    assert view.stage is Stage.GATHERING_SUPPORT and view.threshold_met

    await time_skipping_env.sleep(timedelta(days=91))
    view = store.view(n)
    assert view.support_window_closed and view.stage is Stage.GATHERING_SUPPORT
    window_closed = r"support window of No\.1 is not open \(stage: gathering_support\)"
    await assert_refused(ringi, n, Endorse(actor=member("F社")), window_closed)
    await assert_refused(ringi, n, WithdrawEndorsement(actor=member("B社")), window_closed)
    assert store.view(n).support == 5

    view = await ringi.act(n, OpenHearing(actor=SECRETARIAT))
    assert view.stage is Stage.HEARING
    await assert_refused(
        ringi, n, Endorse(actor=member("F社")), r"support window of No\.1 closed at"
    )
    await assert_store_matches_workflow(ringi, n)


# --- who may do what ----------------------------------------------------------------------


async def test_a_member_may_not_use_the_secretariats_commands(ringi: Ringi) -> None:
    n = (await file_request(ringi)).number
    view = await endorse_by(ringi, n, ["B社"])
    assert view.support_deadline is not None
    proposer = member(PROPOSER)
    for cmd, match in [
        (OpenHearing(actor=proposer), "only the secretariat may open hearing"),
        (Close(actor=proposer, reason=CloseReason.OUT_OF_SCOPE), "only the secretariat may close"),
        (Hold(actor=proposer, reason="x"), "only the secretariat may hold"),
        (RecordAnswer(actor=proposer, text="x"), "only the secretariat may record answer"),
        (EvaluateCost(actor=proposer, inputs=cost_inputs_worthwhile()), "only the secretariat"),
        (
            ExtendDeadline(actor=member("B社"), deadline=view.support_deadline + DAY),
            "only the secretariat may extend deadline",
        ),
        (Endorse(actor=SECRETARIAT), "only a member company may endorse"),
        (Endorse(actor=AUDITOR), "only a member company may endorse"),
        (RecordAnswer(actor=AUDITOR, text="x"), "only the secretariat may record answer"),
        (
            TimerFired.at(TimerKind.SUPPORT_DEADLINE, view.support_deadline).model_copy(
                update={"actor": SECRETARIAT}
            ),
            "only ringi's timers fire timers",
        ),
    ]:
        await assert_not_allowed(ringi, n, cmd, match)
    await assert_store_matches_workflow(ringi, n)


async def test_a_member_may_not_act_on_another_companys_request(ringi: Ringi) -> None:
    n = (await file_request(ringi)).number
    await ringi.act(n, AskClarification(actor=SECRETARIAT, question="Web・APIいずれですか"))
    other = member("B社")
    for cmd, match in [
        (
            AppendNote(actor=other, text="追記"),
            r"only the proposer \(A社\) may append note on No\.1",
        ),
        (AnswerClarification(actor=other, text="API"), r"only the proposer \(A社\) may answer"),
        (Withdraw(actor=other), r"only the proposer \(A社\) may withdraw on No\.1"),
    ]:
        await assert_not_allowed(ringi, n, cmd, match)
    view = await ringi.act(n, AppendNote(actor=member(PROPOSER), text="API の機能です"))
    assert [note.text for note in view.notes] == ["API の機能です"]
    await assert_store_matches_workflow(ringi, n)


async def test_only_a_member_files_and_a_refused_filing_takes_no_number(
    ringi: Ringi, store: RingiStore
) -> None:
    body = {"category": Category.REQUEST, "target": "API", "body": "一括取得"}
    with pytest.raises(NotAllowed, match="only a member company files a request"):
        await ringi.file(FileRequest(actor=SECRETARIAT, **body))
    with pytest.raises(Refused, match=r"meeting 99 \(第99回\) has not been opened"):
        await ringi.file(FileRequest(actor=member(PROPOSER), meeting=99, **body))
    assert store.numbers() == []

    filed = await ringi.file(FileRequest(actor=member(PROPOSER), **body))
    assert filed.number == 1
    await assert_store_matches_workflow(ringi, 1)


async def test_a_command_for_an_unknown_request_is_refused(ringi: Ringi) -> None:
    with pytest.raises(Refused, match=r"there is no request No\.7"):
        await ringi.act(7, Endorse(actor=member("B社")))


async def test_a_retried_command_is_recorded_once(ringi: Ringi, store: RingiStore) -> None:
    n = (await file_request(ringi, category=Category.QUESTION)).number
    answer = RecordAnswer(actor=SECRETARIAT, text="回答します")
    first = await ringi.act(n, answer)
    again = await ringi.act(n, answer)  # the same command id: a retry
    assert again == first and len(again.answers) == 1
    assert len([e for e in store.timeline(n) if e.event == "AnswerRecorded"]) == 1
    await assert_store_matches_workflow(ringi, n)


async def test_a_retried_endorsement_returns_the_first_result_instead_of_a_refusal(
    ringi: Ringi, store: RingiStore
) -> None:
    """A client that timed out and retries with the same command id must not be
    told "already endorses": the first call did succeed."""
    n = (await file_request(ringi)).number
    endorse = Endorse(actor=member("B社"))
    first = await ringi.act(n, endorse)

    again = await ringi.act(n, endorse)

    assert again == first and again.support == 2
    assert len([e for e in store.timeline(n) if e.event == "Endorsed"]) == 1
    with pytest.raises(Refused, match="already endorses"):  # a new command is decided afresh
        await ringi.act(n, Endorse(actor=member("B社")))
    await assert_store_matches_workflow(ringi, n)
