"""The rules of ``ringi.domain.lifecycle``, table by table.

Every request here got where it is by running real commands through the
``Request`` aggregate (``tests.domain_builders``). Each refusal is checked on
both doors: ``lifecycle.check`` (what the workflow's validator asks) and
``Request.handle`` (what the store records), which must refuse the same and
record nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import product

import pytest
from pydantic import ValidationError

from ringi.domain import lifecycle
from ringi.domain.commands import (
    AnswerClarification,
    AppendNote,
    Approve,
    AskClarification,
    ChangeReleaseDate,
    Close,
    Command,
    CorrectAnswer,
    DismissObjection,
    Endorse,
    EvaluateCost,
    EvaluateWithoutHearing,
    ExtendDeadline,
    FileRequest,
    HearBelowThreshold,
    Hold,
    OpenHearing,
    OpenObjectionWindow,
    OpenSupport,
    RaiseObjection,
    RecordAnswer,
    RecordFindings,
    Release,
    Reopen,
    Resume,
    TimerFired,
    TimerKind,
    Withdraw,
    WithdrawClarification,
    WithdrawEndorsement,
    WithdrawObjection,
)
from ringi.domain.errors import NotAllowed, Refused
from ringi.domain.lifecycle import JST, pending_timers
from ringi.domain.meeting import after_its_day
from ringi.domain.notifications import NotificationKind
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.vocabulary import UNKNOWN_PROPOSER, Actor, Category, CloseReason, Role, Stage
from tests.domain_builders import (
    ENDORSER,
    NUMBER,
    OPEN_STATES,
    OUTSIDER,
    PLANNED_RELEASE,
    PROPOSER,
    RELEASED_AT,
    STAGE_OF,
    T0,
    Scenario,
    State,
    auditor,
    cost_effective_inputs,
    day,
    filing,
    member,
    no61_inputs,
    objection_window_ends,
    request_in,
    run,
    scenario,
    secretariat,
    soon_after,
    timer,
)


def refuses(request: Request, command: Command, at: datetime) -> Refused:
    """Both doors refuse ``command`` and nothing is recorded; returns the refusal."""
    before = request.view()
    with pytest.raises(Refused) as checked:
        lifecycle.check(before, command, at)
    with pytest.raises(type(checked.value)) as handled:
        request.handle(command, at)
    assert str(handled.value) == str(checked.value)
    assert request.version == before.version
    assert request.view() == before
    assert request.take_notifications() == []
    return checked.value


def allows(request: Request, command: Command, at: datetime) -> None:
    """Both doors allow ``command`` and it is recorded."""
    before = request.view().version
    lifecycle.check(request.view(), command, at)
    request.handle(command, at)
    assert request.version > before
    assert request.has_handled(command.command_id)
    request.take_notifications()  # what it raised is the store's business (test_store)


@pytest.mark.parametrize("state", list(State))
def test_each_built_state_is_in_its_stage(state: State) -> None:
    view = request_in(state).view()

    assert view.stage is STAGE_OF[state]


# --- which command in which stage ---------------------------------------------------------

GATHERING = frozenset({State.GATHERING_SUPPORT, State.THRESHOLD_MET})
#: where endorsements are taken (within the support deadline, as these states are):
#: gathering support, and after the threshold until implementation is decided
ENDORSABLE = GATHERING | {
    State.HEARING,
    State.COST_EVALUATION,
    State.NOT_COST_EFFECTIVE,
    State.OBJECTION_WINDOW,
}
NOT_HELD = OPEN_STATES - {State.ON_HOLD}

#: each command, made by the role allowed to give it, and the states it is allowed in.
#: Everything else (every other stage, and released or closed) refuses it.
STAGE_RULES: dict[str, tuple[Callable[[], Command], frozenset[State]]] = {
    # members
    "endorse": (lambda: Endorse(actor=member(OUTSIDER)), ENDORSABLE),
    "withdraw_endorsement": (lambda: WithdrawEndorsement(actor=member(ENDORSER)), ENDORSABLE),
    "append_note": (lambda: AppendNote(actor=member(PROPOSER), text="追記: API"), OPEN_STATES),
    "raise_objection": (
        lambda: RaiseObjection(actor=member("C社"), reason="自社システムの改修が間に合わない"),
        frozenset({State.OBJECTION_WINDOW}),
    ),
    "withdraw": (lambda: Withdraw(actor=member(PROPOSER), reason="取り下げ"), OPEN_STATES),
    # the secretariat. A request (要望) opens support as it is filed; an opinion
    # (意見) waits in `filed` until the secretariat opens it.
    "open_support": (lambda: OpenSupport(actor=secretariat()), frozenset({State.FILED})),
    "ask_clarification": (
        lambda: AskClarification(actor=secretariat(), question="Web・APIいずれの機能ですか"),
        NOT_HELD,
    ),
    # the support window, also after the threshold while endorsements are taken, or
    # the objection window
    "extend_deadline": (
        lambda: ExtendDeadline(actor=secretariat(), deadline=day(300), reason="第27回まで"),
        ENDORSABLE,
    ),
    "open_hearing": (lambda: OpenHearing(actor=secretariat()), frozenset({State.THRESHOLD_MET})),
    "record_findings": (
        lambda: RecordFindings(actor=secretariat(), text="ヒアリング結果"),
        frozenset({State.HEARING}),
    ),
    "evaluate_cost": (
        lambda: EvaluateCost(actor=secretariat(), inputs=cost_effective_inputs()),
        frozenset({State.HEARING, State.COST_EVALUATION, State.NOT_COST_EFFECTIVE}),
    ),
    "open_objection_window": (
        lambda: OpenObjectionWindow(actor=secretariat()),
        frozenset({State.COST_EVALUATION}),
    ),
    "approve": (
        lambda: Approve(actor=secretariat(), planned_release=PLANNED_RELEASE),
        frozenset({State.IMPLEMENTATION}),
    ),
    "change_release_date": (
        lambda: ChangeReleaseDate(actor=secretariat(), planned_release=date(2019, 3, 1)),
        frozenset({State.APPROVED}),
    ),
    "release": (lambda: Release(actor=secretariat()), frozenset({State.APPROVED})),
    "hold": (lambda: Hold(actor=secretariat(), reason="他の改修を優先"), NOT_HELD),
    "resume": (lambda: Resume(actor=secretariat()), frozenset({State.ON_HOLD})),
    "close": (
        lambda: Close(actor=secretariat(), reason=CloseReason.OUT_OF_SCOPE),
        OPEN_STATES,
    ),
    # also after release or close: "リリースしました", a later follow-up (issue 20)
    "record_answer": (
        lambda: RecordAnswer(actor=secretariat(), text="運用で対応します"),
        frozenset(State),
    ),
    # the secretariat's discretion and after the end (issue 20)
    "hear_below_threshold": (
        lambda: HearBelowThreshold(actor=secretariat(), reason="起案者及び賛同者へのヒアリング"),
        frozenset({State.GATHERING_SUPPORT}),
    ),
    "evaluate_without_hearing": (
        lambda: EvaluateWithoutHearing(
            actor=secretariat(), inputs=cost_effective_inputs(), reason="賛同数の条件を満たした"
        ),
        frozenset({State.THRESHOLD_MET, State.HEARING}),
    ),
    "reopen": (
        lambda: Reopen(actor=secretariat(), reason="再検討"),
        frozenset({State.CLOSED}),
    ),
}


@pytest.mark.parametrize(
    ("kind", "state"),
    [pytest.param(k, s, id=f"{k}-in-{s}") for k, s in product(STAGE_RULES, State)],
)
def test_a_command_is_allowed_only_in_the_stages_the_lifecycle_gives_it(
    kind: str, state: State
) -> None:
    make, allowed_in = STAGE_RULES[kind]
    request = request_in(state)
    at = soon_after(request.view())

    if state in allowed_in:
        allows(request, make(), at)
    else:
        refusal = refuses(request, make(), at)
        assert not isinstance(refusal, NotAllowed)  # the stage refuses, not the role


def test_the_stage_table_names_every_command_a_person_gives() -> None:
    people = {c.model_fields["kind"].default for c in lifecycle.MEMBER_COMMANDS}
    secretariat_kinds = {
        "open_support",
        "ask_clarification",
        "extend_deadline",
        "open_hearing",
        "record_findings",
        "evaluate_cost",
        "open_objection_window",
        "approve",
        "change_release_date",
        "release",
        "hold",
        "resume",
        "close",
        "record_answer",
        "hear_below_threshold",
        "evaluate_without_hearing",
        "reopen",
    }
    # answering a clarification, withdrawing an objection and correcting an answer
    # need something to refer to; they have tests of their own below
    referring = {"answer_clarification", "withdraw_objection"}
    assert set(STAGE_RULES) == (people | secretariat_kinds) - referring


# --- where the stage-changing commands lead ------------------------------------------------

TRANSITIONS: list[tuple[State, Callable[[], Command], Stage]] = [
    (State.THRESHOLD_MET, lambda: OpenHearing(actor=secretariat()), Stage.HEARING),
    (
        State.HEARING,
        lambda: EvaluateCost(actor=secretariat(), inputs=no61_inputs()),
        Stage.COST_EVALUATION,
    ),
    (
        State.COST_EVALUATION,
        lambda: OpenObjectionWindow(actor=secretariat()),
        Stage.OBJECTION_WINDOW,
    ),
    (
        State.OBJECTION_WINDOW,
        lambda: TimerFired.at(TimerKind.OBJECTION_WINDOW_END, objection_window_ends()),
        Stage.IMPLEMENTATION,
    ),
    (State.APPROVED, lambda: Release(actor=secretariat()), Stage.RELEASED),
    (State.HEARING, lambda: Hold(actor=secretariat(), reason="法改正待ち"), Stage.ON_HOLD),
    (State.ON_HOLD, lambda: Resume(actor=secretariat()), Stage.GATHERING_SUPPORT),
    (
        State.NOT_COST_EFFECTIVE,
        lambda: Close(actor=secretariat(), reason=CloseReason.NOT_COST_EFFECTIVE),
        Stage.CLOSED,
    ),
    (State.IMPLEMENTATION, lambda: Withdraw(actor=member(PROPOSER)), Stage.CLOSED),
]


@pytest.mark.parametrize(
    ("state", "make", "stage"),
    [pytest.param(*t, id=f"{t[0]}-to-{t[2]}") for t in TRANSITIONS],
)
def test_stage_changing_commands_lead_where_the_diagram_says(
    state: State, make: Callable[[], Command], stage: Stage
) -> None:
    request = request_in(state)
    command = make()
    at = command.due if isinstance(command, TimerFired) else soon_after(request.view())

    allows(request, command, at)

    assert request.view().stage is stage


def test_the_fifth_company_opens_the_hearing_and_the_threshold_counts_the_proposer() -> None:
    request = request_in(State.GATHERING_SUPPORT)  # the proposer and B社
    for i, company in enumerate(["C社", "D社"], start=2):
        allows(request, Endorse(actor=member(company)), day(i))
        assert request.view().stage is Stage.GATHERING_SUPPORT

    allows(request, Endorse(actor=member("E社")), day(4))

    view = request.view()
    assert (view.support, view.stage, view.threshold_met_at) == (5, Stage.HEARING, day(4))


def test_a_hold_resumes_to_the_stage_it_left_with_its_deadlines_moved_by_the_time_held() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    ends = request.view().current_deadline
    assert ends == objection_window_ends()

    allows(request, Hold(actor=secretariat(), reason="他の改修を優先"), day(10))
    allows(request, Resume(actor=secretariat()), day(40))

    view = request.view()
    assert view.stage is Stage.OBJECTION_WINDOW
    assert view.current_deadline == ends + timedelta(days=30)


def test_an_objection_sends_the_request_back_to_the_evaluation() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    own = refuses(request, RaiseObjection(actor=member(PROPOSER), reason="やはり不要"), day(8))
    assert "proposed No.1: an objection is another member's" in str(own)
    allows(request, RaiseObjection(actor=member("C社"), reason="費用負担が大きい"), day(8))
    refuses(request, RaiseObjection(actor=member("C社"), reason="再度"), day(9))
    end = objection_window_ends()
    refuses(request, RaiseObjection(actor=member("D社"), reason="締切後"), end)

    allows(request, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)

    view = request.view()
    assert view.stage is Stage.COST_EVALUATION
    assert [o.company for o in view.objection_windows[0].objections] == ["C社"]


def test_only_a_standing_objection_blocks_implementation() -> None:
    """No *blocking* objection is the third condition: an objection its member
    withdrew, or the secretariat ruled not blocking (with its reason), no longer
    sends the request back when the window ends."""
    request = request_in(State.OBJECTION_WINDOW)
    allows(request, RaiseObjection(actor=member("C社"), reason="費用負担が大きい"), day(8))
    allows(request, RaiseObjection(actor=member("D社"), reason="改修が間に合わない"), day(8))
    dismiss = DismissObjection(actor=secretariat(), company="D社", reason="移行期間を設ける")
    assert "no standing objection" in str(
        refuses(request, dismiss.model_copy(update={"company": "E社"}), day(9))
    )
    with pytest.raises(NotAllowed):
        lifecycle.check(request.view(), WithdrawObjection(actor=secretariat()), day(9))
    with pytest.raises(NotAllowed):
        lifecycle.check(request.view(), dismiss.model_copy(update={"actor": member("C社")}), day(9))
    refuses(request, WithdrawObjection(actor=member("E社")), day(9))  # E社 did not object

    allows(request, WithdrawObjection(actor=member("C社"), reason="社内で解決"), day(9))
    allows(request, dismiss, day(10))
    refuses(request, WithdrawObjection(actor=member("C社")), day(10))  # withdrawn already
    refuses(request, dismiss.model_copy(update={"command_id": "again"}), day(10))
    refuses(request, RaiseObjection(actor=member("D社"), reason="再度"), day(11))  # once a window
    window = request.view().objection_window
    assert window is not None and window.standing == []
    c, d = window.objections
    assert (c.withdrawn_at, c.dismissed_at) == (day(9), None)
    assert (d.dismissed_at, d.dismissal_reason) == (day(10), "移行期間を設ける")

    end = objection_window_ends()
    refuses(request, WithdrawObjection(actor=member("C社")), end)
    allows(request, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)
    assert request.view().stage is Stage.IMPLEMENTATION


def test_a_standing_objection_beside_a_dismissed_one_still_blocks() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    allows(request, RaiseObjection(actor=member("C社"), reason="費用負担が大きい"), day(8))
    allows(request, RaiseObjection(actor=member("D社"), reason="改修が間に合わない"), day(8))
    allows(request, DismissObjection(actor=secretariat(), company="D社", reason="移行期間"), day(9))
    end = objection_window_ends()
    allows(request, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)
    assert request.view().stage is Stage.COST_EVALUATION


def test_support_withdrawn_after_the_hearing_opened_keeps_the_request_from_implementation() -> None:
    """Enough support is the first of the three conditions for implementing, and
    endorsements taken after the threshold may be withdrawn until implementation is
    decided: the objection window opens only with enough support, and a window that
    ends with too little sends the request back to the evaluation, like an objection."""
    request = request_in(State.COST_EVALUATION)
    allows(request, WithdrawEndorsement(actor=member("E社")), day(7))
    refusal = str(refuses(request, OpenObjectionWindow(actor=secretariat()), day(7)))
    assert "support of 4 companies" in refusal and "needs 5" in refusal
    allows(request, Endorse(actor=member(OUTSIDER)), day(8))
    allows(request, OpenObjectionWindow(actor=secretariat()), day(8))

    allows(request, WithdrawEndorsement(actor=member("D社")), day(9))
    end = day(8) + Policy().objection_window
    allows(request, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)

    view = request.view()
    window = view.objection_window
    assert window is not None and window.ended and window.standing == []
    assert (view.stage, view.support, window.short_of_support) == (Stage.COST_EVALUATION, 4, True)


def test_a_window_that_ends_with_enough_support_and_no_objection_leads_to_implementation() -> None:
    request = request_in(State.OBJECTION_WINDOW)
    allows(request, WithdrawEndorsement(actor=member("E社")), day(8))
    allows(request, Endorse(actor=member(OUTSIDER)), day(9))
    end = objection_window_ends()
    allows(request, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end), end)

    view = request.view()
    window = view.objection_window
    assert window is not None and not window.short_of_support
    assert (view.stage, view.support) == (Stage.IMPLEMENTATION, 5)


def test_a_support_deadline_with_too_little_support_closes_the_request() -> None:
    request = request_in(State.GATHERING_SUPPORT)
    deadline = day(90)
    refuses(request, Endorse(actor=member(OUTSIDER)), deadline)  # the window is closed then

    allows(request, TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline), deadline)

    view = request.view()
    assert view.stage is Stage.CLOSED
    assert view.closure is not None
    assert (view.closure.reason, view.closure.by.role) == (
        CloseReason.INSUFFICIENT_SUPPORT,
        Role.TIMER,
    )


# --- who may ---------------------------------------------------------------------------------

#: (state, command, refused as NotAllowed?) - each refusal has a neighbour that is allowed
ROLE_RULES: list[tuple[str, State, Callable[[], Command], bool]] = [
    ("a member endorses", State.GATHERING_SUPPORT, lambda: Endorse(actor=member(OUTSIDER)), False),
    (
        "the secretariat endorses",
        State.GATHERING_SUPPORT,
        lambda: Endorse(actor=secretariat()),
        True,
    ),
    ("a timer endorses", State.GATHERING_SUPPORT, lambda: Endorse(actor=timer()), True),
    ("an auditor endorses", State.GATHERING_SUPPORT, lambda: Endorse(actor=auditor()), True),
    (
        "the proposer appends",
        State.HEARING,
        lambda: AppendNote(actor=member(PROPOSER), text="追記"),
        False,
    ),
    (
        "an endorser appends to another's request",
        State.HEARING,
        lambda: AppendNote(actor=member(ENDORSER), text="追記"),
        True,
    ),
    ("the proposer withdraws", State.HEARING, lambda: Withdraw(actor=member(PROPOSER)), False),
    (
        "another company withdraws the request",
        State.HEARING,
        lambda: Withdraw(actor=member(ENDORSER)),
        True,
    ),
    (
        "the secretariat withdraws for the proposer",
        State.HEARING,
        lambda: Withdraw(actor=secretariat()),
        True,
    ),
    (
        "a member objects",
        State.OBJECTION_WINDOW,
        lambda: RaiseObjection(actor=member("C社"), reason="r"),
        False,
    ),
    (
        "the secretariat objects",
        State.OBJECTION_WINDOW,
        lambda: RaiseObjection(actor=secretariat(), reason="r"),
        True,
    ),
    ("the secretariat holds", State.HEARING, lambda: Hold(actor=secretariat(), reason="r"), False),
    (
        "the proposer holds its own request",
        State.HEARING,
        lambda: Hold(actor=member(PROPOSER), reason="r"),
        True,
    ),
    (
        "the proposer opens the hearing",
        State.THRESHOLD_MET,
        lambda: OpenHearing(actor=member(PROPOSER)),
        True,
    ),
    (
        "the proposer answers its own question",
        State.FILED,
        lambda: RecordAnswer(actor=member(PROPOSER), text="a"),
        True,
    ),
    (
        "a timer closes",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=timer(), reason=CloseReason.OUT_OF_SCOPE),
        True,
    ),
    (
        "an auditor closes",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=auditor(), reason=CloseReason.OUT_OF_SCOPE),
        True,
    ),
    (
        "a timer fires its timer",
        State.GATHERING_SUPPORT,
        lambda: TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90)),
        False,
    ),
    (
        "the secretariat fires a timer",
        State.GATHERING_SUPPORT,
        lambda: TimerFired(actor=secretariat(), timer=TimerKind.SUPPORT_DEADLINE, due=day(90)),
        True,
    ),
    (
        "a member fires a timer",
        State.GATHERING_SUPPORT,
        lambda: TimerFired(actor=member(PROPOSER), timer=TimerKind.SUPPORT_DEADLINE, due=day(90)),
        True,
    ),
    (
        "a member speaks on a closed request",
        State.CLOSED,
        lambda: Hold(actor=member(PROPOSER), reason="r"),
        True,
    ),
]


@pytest.mark.parametrize(
    ("state", "make", "not_allowed"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in ROLE_RULES],
)
def test_only_the_right_role_and_company_may_act(
    state: State, make: Callable[[], Command], not_allowed: bool
) -> None:
    request = request_in(state)
    command = make()
    at = day(90) if isinstance(command, TimerFired) else soon_after(request.view())

    if not_allowed:
        assert isinstance(refuses(request, command, at), NotAllowed)
    else:
        allows(request, command, at)


def test_only_the_proposer_answers_a_clarification() -> None:
    request = request_in(State.HEARING)
    allows(request, AskClarification(actor=secretariat(), question="Web・APIいずれですか"), day(5))

    refusal = refuses(request, AnswerClarification(actor=member(ENDORSER), text="API"), day(6))

    assert isinstance(refusal, NotAllowed)
    assert PROPOSER in str(refusal)
    allows(request, AnswerClarification(actor=member(PROPOSER), text="APIです"), day(6))


def test_a_member_acts_only_for_its_own_company() -> None:
    """C社 cannot withdraw B社's endorsement: a withdrawal is always the actor's own."""
    request = request_in(State.GATHERING_SUPPORT)

    refuses(request, WithdrawEndorsement(actor=member("C社")), day(2))
    assert request.view().endorsers == [ENDORSER]

    allows(request, WithdrawEndorsement(actor=member(ENDORSER)), day(2))
    assert request.view().endorsers == []


def test_the_proposer_cannot_endorse_its_own_request_nor_anyone_twice() -> None:
    request = request_in(State.GATHERING_SUPPORT)

    assert "already counted" in str(refuses(request, Endorse(actor=member(PROPOSER)), day(2)))
    assert "counts once" in str(refuses(request, Endorse(actor=member(ENDORSER)), day(2)))


def test_only_a_member_files_and_a_member_names_its_company() -> None:
    as_secretariat = FileRequest(
        actor=secretariat(), category=Category.REQUEST, target="API", body="代理で起票"
    )
    with pytest.raises(NotAllowed):
        lifecycle.check_filing(as_secretariat)
    with pytest.raises(NotAllowed):
        Request.file(NUMBER, as_secretariat, Policy(), T0)

    with pytest.raises(ValidationError, match="a member acts for a company"):
        Actor(role=Role.MEMBER, company=" ")


# --- closing, and why ------------------------------------------------------------------------

#: (state, the close, the refusal's words, or None when the close is allowed)
CLOSE_RULES: list[tuple[str, State, Callable[[], Close], str | None]] = [
    (
        "duplicate without a number",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=secretariat(), reason=CloseReason.DUPLICATE),
        "the number it duplicates",
    ),
    (
        "duplicate of itself",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=secretariat(), reason=CloseReason.DUPLICATE, duplicate_of=NUMBER),
        "cannot duplicate itself",
    ),
    (
        "duplicate of No.43",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=secretariat(), reason=CloseReason.DUPLICATE, duplicate_of=43),
        None,
    ),
    (
        "a duplicate link with another reason",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=secretariat(), reason=CloseReason.OUT_OF_SCOPE, duplicate_of=43),
        "only with the reason 'duplicate'",
    ),
    (
        "not cost-effective before any evaluation",
        State.HEARING,
        lambda: Close(actor=secretariat(), reason=CloseReason.NOT_COST_EFFECTIVE),
        "not cost-effective",
    ),
    (
        "not cost-effective after a cost-effective evaluation",
        State.COST_EVALUATION,
        lambda: Close(actor=secretariat(), reason=CloseReason.NOT_COST_EFFECTIVE),
        "not cost-effective",
    ),
    (
        "not cost-effective after No.61's evaluation",
        State.NOT_COST_EFFECTIVE,
        lambda: Close(actor=secretariat(), reason=CloseReason.NOT_COST_EFFECTIVE),
        None,
    ),
    (
        "answered with no answer",
        State.FILED,
        lambda: Close(actor=secretariat(), reason=CloseReason.ANSWERED),
        "no recorded answer",
    ),
    (
        "answered after the answer",
        State.ANSWERED,
        lambda: Close(actor=secretariat(), reason=CloseReason.ANSWERED),
        None,
    ),
    (
        "withdrawn by the secretariat",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=secretariat(), reason=CloseReason.WITHDRAWN),
        "withdrawn by its proposer",
    ),
    (
        "withdrawn on hold",
        State.ON_HOLD,
        lambda: Close(actor=secretariat(), reason=CloseReason.WITHDRAWN),
        "withdrawn by its proposer",
    ),
    (
        "insufficient support below the threshold",
        State.GATHERING_SUPPORT,
        lambda: Close(actor=secretariat(), reason=CloseReason.INSUFFICIENT_SUPPORT),
        None,
    ),
    (
        "insufficient support at the threshold",
        State.THRESHOLD_MET,
        lambda: Close(actor=secretariat(), reason=CloseReason.INSUFFICIENT_SUPPORT),
        "at or above the threshold",
    ),
    (
        "resolved by operation",
        State.ON_HOLD,
        lambda: Close(actor=secretariat(), reason=CloseReason.RESOLVED_WITHOUT_CHANGE),
        None,
    ),
]


@pytest.mark.parametrize(
    ("state", "make", "refused_because"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in CLOSE_RULES],
)
def test_a_close_needs_the_facts_its_reason_names(
    state: State, make: Callable[[], Close], refused_because: str | None
) -> None:
    request = request_in(state)
    close = make()
    at = soon_after(request.view())

    if refused_because is None:
        allows(request, close, at)
        view = request.view()
        assert view.closure is not None
        assert (view.stage, view.closure.reason) == (Stage.CLOSED, close.reason)
        assert view.closure.duplicate_of == close.duplicate_of
    else:
        assert refused_because in str(refuses(request, close, at))


def test_a_withdrawal_by_the_proposer_closes_as_withdrawn() -> None:
    request = request_in(State.HEARING)

    allows(request, Withdraw(actor=member(PROPOSER), reason="他の手段で解決"), day(5))

    closure = request.view().closure
    assert closure is not None
    assert (closure.reason, closure.by.company, closure.note) == (
        CloseReason.WITHDRAWN,
        PROPOSER,
        "他の手段で解決",
    )


def test_the_support_deadline_is_extended_after_the_threshold_while_it_runs() -> None:
    request = request_in(State.HEARING)
    allows(request, ExtendDeadline(actor=secretariat(), deadline=day(120)), day(8))
    assert request.view().support_deadline == day(120)
    assert lifecycle.support_open_until(request.view(), day(100)) == day(120)
    late = refuses(request, ExtendDeadline(actor=secretariat(), deadline=day(200)), day(121))
    assert "no deadline running in stage hearing" in str(late)


def test_an_evaluation_weighs_the_benefit_over_the_policys_horizon_only() -> None:
    """No.61's figures are not cost-effective over 5 years; over 100 they would be.
    The horizon is the policy's rule, not the evaluator's choice."""
    request = request_in(State.HEARING)
    stretched = no61_inputs().model_copy(update={"horizon_years": 100})
    refusal = refuses(request, EvaluateCost(actor=secretariat(), inputs=stretched), day(8))
    assert "over 5 years (the policy's horizon), not 100" in str(refusal)
    allows(request, EvaluateCost(actor=secretariat(), inputs=no61_inputs()), day(8))


def test_the_latest_evaluation_decides_a_close_as_not_cost_effective() -> None:
    request = request_in(State.NOT_COST_EFFECTIVE)
    allows(request, EvaluateCost(actor=secretariat(), inputs=cost_effective_inputs()), day(8))

    refuses(request, Close(actor=secretariat(), reason=CloseReason.NOT_COST_EFFECTIVE), day(9))
    allows(request, OpenObjectionWindow(actor=secretariat()), day(9))


# --- answers and clarifications -------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(NOT_HELD))
def test_a_clarification_is_asked_once_and_answered_by_the_proposer(state: State) -> None:
    request = request_in(state)
    at = soon_after(request.view())
    refuses(request, AnswerClarification(actor=member(PROPOSER), text="API"), at)

    allows(request, AskClarification(actor=secretariat(), question="Web・APIいずれ?"), at)
    refuses(request, AskClarification(actor=secretariat(), question="もう一つ"), at)
    allows(request, AnswerClarification(actor=member(PROPOSER), text="APIです"), at)

    [clarification] = request.view().clarifications
    assert (clarification.reply, clarification.replied_at) == ("APIです", at)
    refuses(request, AnswerClarification(actor=member(PROPOSER), text="再回答"), at)


def test_the_secretariat_withdraws_an_unanswered_question_and_may_ask_another() -> None:
    """A question nobody answers (settled at the meeting, or asked of a proposer
    who cannot answer) would otherwise block every further question for good."""
    request = request_in(State.HEARING)
    at = soon_after(request.view())
    withdraw = WithdrawClarification(actor=secretariat(), reason="会議で確認済み", meeting=36)
    assert "no open clarification question to withdraw" in str(refuses(request, withdraw, at))
    allows(request, AskClarification(actor=secretariat(), question="Web・APIいずれ?"), at)
    assert "withdraw it to ask another" in str(
        refuses(request, AskClarification(actor=secretariat(), question="もう一つ"), at)
    )
    assert pending_timers(request.view())[-1].timer is TimerKind.CLARIFICATION_REMINDER
    with pytest.raises(NotAllowed, match="only the secretariat"):
        lifecycle.check(
            request.view(), WithdrawClarification(actor=member(PROPOSER), reason="x"), at
        )

    allows(request, withdraw, at)
    view = request.view()
    [first] = view.clarifications
    assert (first.withdrawn_at, first.withdrawal_reason, first.reply) == (
        at,
        "会議で確認済み",
        None,
    )
    assert view.pending_clarification is None
    assert TimerKind.CLARIFICATION_REMINDER not in {t.timer for t in pending_timers(view)}
    refuses(request, AnswerClarification(actor=member(PROPOSER), text="APIです"), at)
    refuses(request, withdraw.model_copy(update={"command_id": "again"}), at)

    allows(request, AskClarification(actor=secretariat(), question="API の件数は?"), at)
    allows(request, AnswerClarification(actor=member(PROPOSER), text="月6,000件"), at)
    first, second = request.view().clarifications
    assert (first.reply, second.reply) == (None, "月6,000件")


def test_an_imported_request_is_not_asked_what_nobody_can_answer() -> None:
    view = request_in(State.HEARING).view().model_copy(update={"proposer": UNKNOWN_PROPOSER})
    ask = AskClarification(actor=secretariat(), question="Web・APIいずれ?")
    with pytest.raises(Refused, match="does not name its proposer"):
        lifecycle.check(view, ask, soon_after(view))


def test_an_answer_is_corrected_by_a_new_answer_that_names_it() -> None:
    request = request_in(State.ANSWERED)
    refuses(
        request, CorrectAnswer(actor=secretariat(), answer_id="a9", text="x", reason="y"), day(4)
    )

    allows(
        request,
        CorrectAnswer(actor=secretariat(), answer_id="a1", text="改訂", reason="誤記"),
        day(4),
    )

    first, second = request.view().answers
    assert (first.superseded_by, second.corrects, second.text) == ("a2", "a1", "改訂")
    assert first.text == "現行仕様どおりです"  # the recorded answer is not edited
    refusal = refuses(
        request, CorrectAnswer(actor=secretariat(), answer_id="a1", text="z", reason="r"), day(5)
    )
    assert "correct that one" in str(refusal)


@pytest.mark.parametrize(
    "ends",
    [
        pytest.param(lambda: Close(actor=secretariat(), reason=CloseReason.ANSWERED), id="closed"),
        pytest.param(lambda: Withdraw(actor=member(PROPOSER), reason="r"), id="withdrawn"),
    ],
)
def test_an_answer_is_still_corrected_once_the_request_has_ended(
    ends: Callable[[], Command],
) -> None:
    request = request_in(State.ANSWERED)
    request.handle(ends(), day(5))
    assert request.view().stage is Stage.CLOSED

    allows(
        request,
        CorrectAnswer(actor=secretariat(), answer_id="a1", text="改訂", reason="誤記"),
        day(40),
    )
    view = request.view()
    assert view.stage is Stage.CLOSED and view.closure is not None
    assert view.closure.at == day(5)  # the request still ended when it ended
    assert [(a.answer_id, a.superseded_by) for a in view.answers] == [("a1", "a2"), ("a2", None)]
    # and only the secretariat corrects, only what was answered, and nothing else happens
    assert isinstance(
        refuses(
            request,
            CorrectAnswer(actor=member(PROPOSER), answer_id="a2", text="x", reason="y"),
            day(41),
        ),
        NotAllowed,
    )
    refuses(
        request, CorrectAnswer(actor=secretariat(), answer_id="a9", text="x", reason="y"), day(41)
    )
    refusal = refuses(request, Hold(actor=secretariat(), reason="保留"), day(41))
    assert "nothing more can happen to it but an answer, a correction of one" in str(refusal)


def test_a_released_request_keeps_when_it_was_released() -> None:
    request = request_in(State.RELEASED)
    view = request.view()
    assert view.released_at == RELEASED_AT and view.released_on == RELEASED_AT.date()


# --- timers -------------------------------------------------------------------------------------


def hold_at_day_2() -> Scenario:
    return scenario(State.GATHERING_SUPPORT).then(day(2), Hold(actor=secretariat(), reason="r"))


def midnight_jst(d: date) -> datetime:
    return datetime.combine(d, time(0), JST)


#: (what, the requests's history, the timers it then has running, earliest first)
TIMER_SCHEDULES: list[tuple[str, Callable[[], Scenario], list[tuple[TimerKind, datetime]]]] = [
    (
        "support deadline after the window, reminder a week before",
        lambda: scenario(State.GATHERING_SUPPORT),
        [(TimerKind.DEADLINE_APPROACHING, day(83)), (TimerKind.SUPPORT_DEADLINE, day(90))],
    ),
    (
        "no reminder when the policy sends none",
        lambda: Scenario(filing(), Policy(deadline_reminder_days=0)),
        [(TimerKind.SUPPORT_DEADLINE, day(90))],
    ),
    (
        "final call a year after filing, when that is before the deadline",
        lambda: scenario(State.GATHERING_SUPPORT).then(
            day(10), ExtendDeadline(actor=secretariat(), deadline=day(400))
        ),
        [
            (TimerKind.FINAL_CALL, day(365)),
            (TimerKind.DEADLINE_APPROACHING, day(393)),
            (TimerKind.SUPPORT_DEADLINE, day(400)),
        ],
    ),
    (
        "no final call when the deadline comes first",
        lambda: scenario(State.GATHERING_SUPPORT).then(
            day(10), ExtendDeadline(actor=secretariat(), deadline=day(365))
        ),
        [(TimerKind.DEADLINE_APPROACHING, day(358)), (TimerKind.SUPPORT_DEADLINE, day(365))],
    ),
    (
        "a final call moves the deadline to its grace period, and is not called again",
        lambda: (
            scenario(State.GATHERING_SUPPORT)
            .then(day(10), ExtendDeadline(actor=secretariat(), deadline=day(400)))
            .then(day(365), TimerFired.at(TimerKind.FINAL_CALL, day(365)))
        ),
        [(TimerKind.DEADLINE_APPROACHING, day(388)), (TimerKind.SUPPORT_DEADLINE, day(395))],
    ),
    ("none while hearing", lambda: scenario(State.HEARING), []),
    (
        "the objection window's end",
        lambda: scenario(State.OBJECTION_WINDOW),
        [(TimerKind.OBJECTION_WINDOW_END, objection_window_ends())],
    ),
    (
        "the clarification reminder when the reply is due",
        lambda: scenario(State.HEARING).then(
            day(5), AskClarification(actor=secretariat(), question="q")
        ),
        [(TimerKind.CLARIFICATION_REMINDER, day(35))],
    ),
    (
        "an answered clarification leaves no reminder",
        lambda: (
            scenario(State.HEARING)
            .then(day(5), AskClarification(actor=secretariat(), question="q"))
            .then(day(6), AnswerClarification(actor=member(PROPOSER), text="a"))
        ),
        [],
    ),
    (
        "a hold review 180 days after the hold, and the support clock stopped",
        hold_at_day_2,
        [(TimerKind.HOLD_REVIEW, day(182))],
    ),
    (
        "no clarification reminder on hold",
        lambda: (
            scenario(State.HEARING)
            .then(day(5), AskClarification(actor=secretariat(), question="q"))
            .then(day(6), Hold(actor=secretariat(), reason="r"))
        ),
        [(TimerKind.HOLD_REVIEW, day(186))],
    ),
    (
        "resumed: the deadlines moved by the time held",
        lambda: hold_at_day_2().then(day(12), Resume(actor=secretariat())),
        [(TimerKind.DEADLINE_APPROACHING, day(93)), (TimerKind.SUPPORT_DEADLINE, day(100))],
    ),
    ("none before the implementation is approved", lambda: scenario(State.IMPLEMENTATION), []),
    (
        "the planned release",
        lambda: scenario(State.APPROVED),
        [(TimerKind.PLANNED_RELEASE, midnight_jst(PLANNED_RELEASE))],
    ),
    ("none once released", lambda: scenario(State.RELEASED), []),
    ("none once closed", lambda: scenario(State.CLOSED), []),
    (
        "none once closed, even with a question left unanswered",
        lambda: (
            scenario(State.HEARING)
            .then(day(5), AskClarification(actor=secretariat(), question="q"))
            .then(day(6), Close(actor=secretariat(), reason=CloseReason.OUT_OF_SCOPE))
        ),
        [],
    ),
]


@pytest.mark.parametrize(
    ("history", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in TIMER_SCHEDULES],
)
def test_pending_timers_follow_the_policy(
    history: Callable[[], Scenario], expected: list[tuple[TimerKind, datetime]]
) -> None:
    view = run(history()).view()

    timers = lifecycle.pending_timers(view)

    assert [(t.timer, t.due) for t in timers] == expected
    assert all(t.actor.role is Role.TIMER for t in timers)
    assert lifecycle.next_timer(view) == (timers[0] if timers else None)


def test_a_final_call_runs_until_the_next_meeting_when_one_is_scheduled() -> None:
    request = run(
        scenario(State.GATHERING_SUPPORT).then(
            day(10), ExtendDeadline(actor=secretariat(), deadline=day(400))
        )
    )

    request.handle(TimerFired.at(TimerKind.FINAL_CALL, day(365)), day(365), (27, day(380)))

    view = request.view()
    assert (view.final_call_at, view.support_deadline) == (day(365), day(380))
    assert view.support_until_meeting == 27  # "by the next meeting (第27回)": it follows it


def test_a_final_call_behind_an_earlier_deadline_keeps_that_deadline_and_no_meeting() -> None:
    """The deadline running already comes before the next meeting: the final call
    keeps it, and neither it nor the notification speaks of the meeting."""
    request = run(
        scenario(State.GATHERING_SUPPORT).then(
            day(10), ExtendDeadline(actor=secretariat(), deadline=day(370))
        )
    )
    request.take_notifications()

    request.handle(TimerFired.at(TimerKind.FINAL_CALL, day(365)), day(365), (27, day(380)))

    view = request.view()
    assert (view.support_deadline, view.support_until_meeting) == (day(370), None)
    (call,) = request.take_notifications()
    assert "meeting 27" not in call.subject and "2018-06-06" in call.subject


def test_a_deadline_until_a_meeting_is_known_as_such_until_a_date_or_a_hold_replaces_it() -> None:
    request = request_in(State.FILED)  # an opinion, waiting for the secretariat
    allows(request, OpenSupport(actor=secretariat(), deadline=day(40), until_meeting=27), day(2))
    assert request.view().support_until_meeting == 27
    extend = ExtendDeadline(actor=secretariat(), deadline=day(60), until_meeting=28)
    allows(request, extend, day(3))
    assert (request.view().support_deadline, request.view().support_until_meeting) == (day(60), 28)
    allows(request, ExtendDeadline(actor=secretariat(), deadline=day(70)), day(4))
    assert request.view().support_until_meeting is None

    allows(request, ExtendDeadline(actor=secretariat(), deadline=day(80), until_meeting=29), day(5))
    allows(request, Hold(actor=secretariat(), reason="保留"), day(6))
    allows(request, Resume(actor=secretariat()), day(8))
    view = request.view()
    assert (view.support_deadline, view.support_until_meeting) == (day(82), None)


#: (what, the history, the reminder that falls due, what runs after it is sent)
REMINDERS: list[
    tuple[str, Callable[[], Scenario], TimerKind, datetime, list[tuple[TimerKind, datetime]]]
] = [
    (
        "deadline approaching",
        lambda: scenario(State.GATHERING_SUPPORT),
        TimerKind.DEADLINE_APPROACHING,
        day(83),
        [(TimerKind.SUPPORT_DEADLINE, day(90))],
    ),
    (
        "clarification",
        lambda: scenario(State.HEARING).then(
            day(5), AskClarification(actor=secretariat(), question="q")
        ),
        TimerKind.CLARIFICATION_REMINDER,
        day(35),
        [],
    ),
    (
        "hold review: the next counted from this one",
        hold_at_day_2,
        TimerKind.HOLD_REVIEW,
        day(182),
        [(TimerKind.HOLD_REVIEW, day(362))],
    ),
    (
        "hold review, the second",
        lambda: hold_at_day_2().then(day(182), TimerFired.at(TimerKind.HOLD_REVIEW, day(182))),
        TimerKind.HOLD_REVIEW,
        day(362),
        [(TimerKind.HOLD_REVIEW, day(542))],
    ),
    (
        "planned release",
        lambda: scenario(State.APPROVED),
        TimerKind.PLANNED_RELEASE,
        midnight_jst(PLANNED_RELEASE),
        [],
    ),
]


def test_a_hold_review_sent_late_is_not_followed_by_the_ones_missed_meanwhile() -> None:
    """Held three years unreviewed (an imported register's old dates, say): one
    review is sent, and the next falls due on the hold's cadence after it, not at
    once for each review missed meanwhile."""
    request = run(hold_at_day_2())
    late = day(182) + timedelta(days=3 * 365)  # six review periods (180 days) and more
    allows(request, TimerFired.at(TimerKind.HOLD_REVIEW, day(182)), late)
    assert lifecycle.pending_timers(request.view()) == [
        TimerFired.at(TimerKind.HOLD_REVIEW, day(182) + 7 * Policy().hold_review)
    ]


@pytest.mark.parametrize(
    ("history", "kind", "due", "after"),
    [pytest.param(*case[1:], id=case[0]) for case in REMINDERS],
)
def test_a_reminder_is_sent_once_and_not_rearmed(
    history: Callable[[], Scenario],
    kind: TimerKind,
    due: datetime,
    after: list[tuple[TimerKind, datetime]],
) -> None:
    request = run(history())
    reminder = TimerFired.at(kind, due)
    assert reminder in lifecycle.pending_timers(request.view())
    stage = request.view().stage

    allows(request, reminder, due)

    view = request.view()
    assert [(t.timer, t.due) for t in lifecycle.pending_timers(view)] == after
    assert view.stage is stage  # a reminder tells people; it moves nothing
    assert "no longer applies" in str(refuses(request, reminder, due + timedelta(days=1)))


def test_a_new_release_date_arms_a_new_reminder() -> None:
    request = request_in(State.APPROVED)
    release = midnight_jst(PLANNED_RELEASE)
    allows(request, TimerFired.at(TimerKind.PLANNED_RELEASE, release), release)

    allows(
        request, ChangeReleaseDate(actor=secretariat(), planned_release=date(2019, 3, 1)), release
    )

    timers = lifecycle.pending_timers(request.view())
    assert [(t.timer, t.due) for t in timers] == [
        (TimerKind.PLANNED_RELEASE, midnight_jst(date(2019, 3, 1)))
    ]


def test_a_timer_fires_only_when_due_and_only_while_it_runs() -> None:
    request = request_in(State.GATHERING_SUPPORT)

    early = refuses(request, TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(90)), day(89))
    assert "not due" in str(early)
    stale = refuses(request, TimerFired.at(TimerKind.SUPPORT_DEADLINE, day(80)), day(90))
    assert "no longer applies" in str(stale)
    foreign = refuses(request, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, day(90)), day(90))
    assert "no longer applies" in str(foreign)


def test_a_question_is_answered_not_supported() -> None:
    question = Request.file(NUMBER, filing(Category.QUESTION), Policy(), T0)
    (filed,) = question.take_notifications()  # the filing, to every member
    assert filed.kind is NotificationKind.FILED and "support" not in filed.subject

    refusal = refuses(question, OpenSupport(actor=secretariat()), day(1))

    assert "question" in str(refusal)
    assert question.view().stage is Stage.FILED


def test_an_opinion_gathers_support_once_the_secretariat_opens_it() -> None:
    opinion = Request.file(NUMBER, filing(Category.OPINION), Policy(), T0)
    assert opinion.view().stage is Stage.FILED

    allows(opinion, OpenSupport(actor=secretariat(), deadline=day(60)), day(1))

    assert opinion.view().stage is Stage.GATHERING_SUPPORT
    assert opinion.view().support_deadline == day(60)


def test_a_refusal_gives_its_times_in_japan_whatever_zone_they_were_recorded_in() -> None:
    """A timer records UTC; a clerk reads Japan's time. A refusal that compares a
    deadline given in JST with one recorded in UTC gives both in JST."""
    request = request_in(State.GATHERING_SUPPORT)
    current = request.view().support_deadline
    assert current is not None
    in_utc = current.astimezone(UTC)
    earlier = ExtendDeadline(actor=secretariat(), deadline=in_utc - timedelta(hours=1))

    refusal = str(refuses(request, earlier, day(2)))

    expected = current.astimezone(JST)
    assert f"the current one, {expected:%Y-%m-%d %H:%M} JST" in refusal
    assert "UTC" not in refusal and "+00:00" not in refusal


def test_recording_after_a_meetings_day_is_told_which_register_shows_it() -> None:
    meetings = {27: datetime(2017, 7, 20, tzinfo=JST)}
    on_the_day = datetime(2017, 7, 20, 23, 59, tzinfo=JST)
    assert after_its_day(meetings, 27, on_the_day) is None
    assert after_its_day(meetings, 28, on_the_day + timedelta(days=9)) is None  # not opened
    late = after_its_day(meetings, 27, datetime(2017, 7, 20, 15, 0, tzinfo=UTC))  # 00:00 JST
    assert late is not None and "held on 2017-07-20" in late and "next meeting's" in late
