"""Each command's own rule, past who sends it and the stage it is sent in: the
guards the lifecycle table (``lifecycle.MOVES``) names, and the rules they share.

A guard reads only the request's state and raises ``Refused`` in words for the
person who asked.
"""

from __future__ import annotations

from datetime import datetime

from . import commands as c
from .days import shown
from .errors import Refused
from .timers import pending_timers
from .view import ObjectionWindow, RequestView
from .vocabulary import UNKNOWN_PROPOSER, Actor, Category, CloseReason, Stage

#: the stages after the threshold where endorsements are still taken until the
#: support deadline: the request is open and its implementation not yet decided
SUPPORT_AFTER_THRESHOLD = frozenset({Stage.HEARING, Stage.COST_EVALUATION, Stage.OBJECTION_WINDOW})

#: where the secretariat may carry an imported request forward (``CarryForward``), in
#: the lifecycle's order; a hold, a close and an objection window have commands of
#: their own, and gathering support is where the import starts what it cannot place
CARRY_FORWARD_TO = (Stage.HEARING, Stage.COST_EVALUATION, Stage.IMPLEMENTATION)


def filing(view: RequestView, cmd: c.FileRequest, at: datetime) -> None:
    """Filing has no request to read yet: ``check_filing`` is its rule."""


def endorse(view: RequestView, cmd: c.Endorse, at: datetime) -> None:
    no, company = f"No.{view.number}", company_of(cmd.actor)
    if company == view.proposer:
        raise Refused(f"{company} proposed {no}; its support is already counted")
    require_support_window_open(view, at)
    if company in view.endorsers:
        raise Refused(f"{company} already endorses {no}; an endorsement counts once")


def withdraw_endorsement(view: RequestView, cmd: c.WithdrawEndorsement, at: datetime) -> None:
    company = company_of(cmd.actor)
    require_support_window_open(view, at)
    if company not in view.endorsers:
        raise Refused(f"{company} does not endorse No.{view.number}; there is nothing to withdraw")


def answer_clarification(view: RequestView, cmd: c.AnswerClarification, at: datetime) -> None:
    if view.pending_clarification is None:
        raise Refused(f"No.{view.number} has no open clarification question to answer")


def raise_objection(view: RequestView, cmd: c.RaiseObjection, at: datetime) -> None:
    no = f"No.{view.number}"
    window = require_objection_window_open(view, at)
    if cmd.actor.company == view.proposer:
        raise Refused(
            f"{view.proposer} proposed {no}: an objection is another member's "
            "(withdraw the request to stop it)"
        )
    if any(o.company == cmd.actor.company for o in window.objections):
        raise Refused(f"{cmd.actor.company} has already objected to {no} in this window")


def withdraw_objection(view: RequestView, cmd: c.WithdrawObjection, at: datetime) -> None:
    window = require_objection_window_open(view, at)
    if window.standing_by(company_of(cmd.actor)) is None:
        raise Refused(
            f"{cmd.actor.company} has no standing objection to No.{view.number} to withdraw"
        )


def open_support(view: RequestView, cmd: c.OpenSupport, at: datetime) -> None:
    if view.category is Category.QUESTION:
        raise Refused(
            f"No.{view.number} is a question (質問); questions are answered, not supported"
        )
    if cmd.deadline is not None and cmd.deadline <= at:
        raise Refused("a support deadline must lie in the future")


def ask_clarification(view: RequestView, cmd: c.AskClarification, at: datetime) -> None:
    no = f"No.{view.number}"
    if view.stage is Stage.ON_HOLD:
        raise Refused(f"{no} is on hold; resume it before asking the proposer")
    if view.proposer == UNKNOWN_PROPOSER:
        raise Refused(
            f"{no} came from an imported register that does not name its proposer: "
            "nobody could answer a question"
        )
    if view.pending_clarification is not None:
        raise Refused(
            f"{no} already has an unanswered clarification question; withdraw it to ask another"
        )


def withdraw_clarification(view: RequestView, cmd: c.WithdrawClarification, at: datetime) -> None:
    if view.pending_clarification is None:
        raise Refused(f"No.{view.number} has no open clarification question to withdraw")


def dismiss_objection(view: RequestView, cmd: c.DismissObjection, at: datetime) -> None:
    window = require_objection_window_open(view, at)
    if window.standing_by(cmd.company) is None:
        raise Refused(f"{cmd.company} has no standing objection to No.{view.number} in this window")


def identify_proposer(view: RequestView, cmd: c.IdentifyProposer, at: datetime) -> None:
    if view.proposer != UNKNOWN_PROPOSER:
        raise Refused(f"No.{view.number} names its proposer already: {view.proposer}")
    if cmd.company.strip() in ("", UNKNOWN_PROPOSER):
        raise Refused(f"name the company that proposed No.{view.number}")


def carry_forward(view: RequestView, cmd: c.CarryForward, at: datetime) -> None:
    no = f"No.{view.number}"
    if view.imported is None:
        raise Refused(f"only an imported request is carried forward; {no} moves by the lifecycle")
    if view.stage is Stage.ON_HOLD:
        raise Refused(f"{no} is on hold; resume it before carrying it forward")
    if view.category is not Category.REQUEST:
        raise Refused(
            f"{no} is {view.category.value}: only a request (要望) is heard and evaluated"
        )
    if cmd.stage not in CARRY_FORWARD_TO:
        names = ", ".join(s.value for s in CARRY_FORWARD_TO)
        raise Refused(f"an imported request is carried forward to {names}")
    reached = CARRY_FORWARD_TO.index(view.stage) if view.stage in CARRY_FORWARD_TO else -1
    if CARRY_FORWARD_TO.index(cmd.stage) <= reached:
        raise Refused(f"{no} is in stage {view.stage.value}: it is carried forward, not back")


def extend_deadline(view: RequestView, cmd: c.ExtendDeadline, at: datetime) -> None:
    current = extensible_deadline(view, at)
    if current is None:
        raise Refused(f"No.{view.number} has no deadline running in stage {view.stage.value}")
    if cmd.deadline <= current:
        raise Refused(
            f"the new deadline {shown(cmd.deadline)} is not later than "
            f"the current one, {shown(current)}"
        )


def open_hearing(view: RequestView, cmd: c.OpenHearing, at: datetime) -> None:
    if not view.threshold_met:
        raise Refused(
            f"No.{view.number} has the support of {view.support} companies; "
            f"the hearing needs {view.policy.support_threshold}"
        )


def evaluate_cost(view: RequestView, cmd: c.EvaluateCost, at: datetime) -> None:
    # the cost rule is the policy's: an evaluation does not choose its horizon
    horizon = view.policy.cost_horizon_years
    if cmd.inputs.horizon_years != horizon:
        raise Refused(
            f"the cost rule weighs the benefit over {horizon} years (the policy's "
            f"horizon), not {cmd.inputs.horizon_years}"
        )


def open_objection_window(view: RequestView, cmd: c.OpenObjectionWindow, at: datetime) -> None:
    latest = view.latest_evaluation
    if latest is None or not latest.cost_effective:
        raise Refused(
            f"No.{view.number} has no cost-effective evaluation; only those go to objection"
        )
    if not view.threshold_met:
        raise Refused(short_of_support(view))
    if cmd.ends_at is not None and cmd.ends_at <= at:
        raise Refused(f"an objection window must end in the future, not {shown(cmd.ends_at)}")


def approve(view: RequestView, cmd: c.Approve, at: datetime) -> None:
    if view.approved_at is not None:
        raise Refused(f"No.{view.number} is already approved; change the release date instead")


def change_release_date(view: RequestView, cmd: c.ChangeReleaseDate, at: datetime) -> None:
    no = f"No.{view.number}"
    if view.approved_at is None:
        raise Refused(f"{no} has no planned release yet; approve it with a date first")
    if cmd.planned_release == view.planned_release:
        raise Refused(f"{no} is already planned for {cmd.planned_release}")


def release(view: RequestView, cmd: c.Release, at: datetime) -> None:
    if view.approved_at is None:
        raise Refused(f"No.{view.number} has not been approved for implementation")


def hold(view: RequestView, cmd: c.Hold, at: datetime) -> None:
    if view.stage is Stage.ON_HOLD:
        raise Refused(f"No.{view.number} is already on hold")


def close(view: RequestView, cmd: c.Close, at: datetime) -> None:
    no = f"No.{view.number}"
    match cmd.reason:
        case CloseReason.WITHDRAWN:
            raise Refused("a request is withdrawn by its proposer, not closed as withdrawn")
        case CloseReason.IMPORTED:
            raise Refused("'imported' is the reason `ringi import` records; give the real one")
        case CloseReason.DUPLICATE:
            if cmd.duplicate_of is None:
                raise Refused("closing as a duplicate needs the number it duplicates")
            if cmd.duplicate_of == view.number or view.number in cmd.duplicates:
                raise Refused(f"{no} cannot duplicate itself")
        case CloseReason.NOT_COST_EFFECTIVE:
            latest = view.latest_evaluation
            if latest is None or latest.cost_effective:
                raise Refused(f"{no} has no evaluation finding it not cost-effective")
        case CloseReason.ANSWERED:
            if not view.answers:
                raise Refused(f"{no} has no recorded answer; record the answer before closing")
        case CloseReason.INSUFFICIENT_SUPPORT:
            if view.threshold_met:
                raise Refused(
                    f"{no} has the support of {view.support} companies, at or above the "
                    f"threshold of {view.policy.support_threshold}"
                )
    if cmd.duplicates and cmd.duplicate_of is None:
        raise Refused("name the first request it duplicates as duplicate_of, the others after it")
    if cmd.duplicate_of is not None and cmd.reason is not CloseReason.DUPLICATE:
        raise Refused("a duplicate-of link goes only with the reason 'duplicate'")


def correct_answer(view: RequestView, cmd: c.CorrectAnswer, at: datetime) -> None:
    answer = view.answer(cmd.answer_id)
    if answer is None:
        raise Refused(f"No.{view.number} has no answer {cmd.answer_id!r}")
    if answer.superseded_by is not None:
        raise Refused(
            f"answer {cmd.answer_id} was already corrected by {answer.superseded_by}; "
            "correct that one"
        )


def timer_fired(view: RequestView, cmd: c.TimerFired, at: datetime) -> None:
    no = f"No.{view.number}"
    due = {(t.timer, t.due) for t in pending_timers(view)}
    if (cmd.timer, cmd.due) not in due:
        raise Refused(f"the {cmd.timer.value} timer of {no} for {shown(cmd.due)} no longer applies")
    if cmd.due > at:
        raise Refused(f"the {cmd.timer.value} timer of {no} is not due until {shown(cmd.due)}")


# --- the secretariat's discretion and after the end (issue 20) ----------------------


def hear_below_threshold(view: RequestView, cmd: c.HearBelowThreshold, at: datetime) -> None:
    if view.category is not Category.REQUEST:
        raise Refused(f"No.{view.number} is {view.category.value}: only a request (要望) is heard")
    if view.threshold_met:
        raise Refused(
            f"No.{view.number} has the support of {view.support} companies, enough for "
            "the hearing: open it (open-hearing)"
        )


def evaluate_without_hearing(
    view: RequestView, cmd: c.EvaluateWithoutHearing, at: datetime
) -> None:
    no = f"No.{view.number}"
    if view.category is not Category.REQUEST:
        raise Refused(f"{no} is {view.category.value}: only a request (要望) is evaluated")
    if not view.threshold_met:
        raise Refused(
            f"{no} has the support of {view.support} companies; evaluating it without a "
            f"hearing needs {view.policy.support_threshold} (or hold the hearing below the "
            "threshold: hear-below-threshold)"
        )
    if view.findings:
        raise Refused(f"{no} has been heard (its findings are recorded): evaluate the cost")
    horizon = view.policy.cost_horizon_years  # the same rule as evaluate_cost's
    if cmd.inputs.horizon_years != horizon:
        raise Refused(
            f"the cost rule weighs the benefit over {horizon} years (the policy's "
            f"horizon), not {cmd.inputs.horizon_years}"
        )


def reopen(view: RequestView, cmd: c.Reopen, at: datetime) -> None:
    if cmd.deadline is not None and cmd.deadline <= at:
        raise Refused("a support deadline must lie in the future")
    given = cmd.deadline is not None or cmd.until_meeting is not None
    if given and reopened_support_deadline(view, cmd, at) is None:
        raise Refused(
            f"No.{view.number} returns to stage {reopened_stage(view).value} with no "
            "support deadline to set: reopen it without one"
        )


def reopened_stage(view: RequestView) -> Stage:
    """Where a closed request returns when reopened: the stage it was closed from;
    closed in an imported register (not known), where the import starts what it
    cannot place."""
    closure = view.closure
    if closure is not None and closure.closed_from is not None:
        return closure.closed_from
    return Stage.GATHERING_SUPPORT if view.category is Category.REQUEST else Stage.FILED


def reopened_support_deadline(view: RequestView, cmd: c.Reopen, at: datetime) -> datetime | None:
    """The new support deadline of a request reopened into gathering support whose
    window had closed or run out (closed short of support): the one given, or the
    policy's window; None where its window still runs. (Closed in an imported
    register, it had none: it gets one.)"""
    if reopened_stage(view) is not Stage.GATHERING_SUPPORT:
        return None
    ran_out = view.support_deadline is None or view.support_deadline <= at
    if not (view.support_window_closed or ran_out):
        return None
    return cmd.deadline or at + view.policy.support_window


# --- the secretariat's windows (issue 20) ------------------------------------------


def final_call(view: RequestView, cmd: c.FinalCall, at: datetime) -> None:
    no = f"No.{view.number}"
    if view.support_window_closed:
        raise Refused(f"the support window of {no} has ended already; there is nothing to call")
    if cmd.deadline <= at:
        raise Refused(
            f"meeting {cmd.until_meeting} (第{cmd.until_meeting}回) is held on "
            f"{shown(cmd.deadline)}, not in the future: a final call runs until a meeting to come"
        )
    if view.support_deadline == cmd.deadline and view.support_until_meeting == cmd.until_meeting:
        raise Refused(
            f"the support deadline of {no} is meeting {cmd.until_meeting} "
            f"(第{cmd.until_meeting}回) already"
        )


def end_support(view: RequestView, cmd: c.EndSupport, at: datetime) -> None:
    if view.support_window_closed:
        raise Refused(
            f"the support window of No.{view.number} has ended already "
            "(its deadline's timer, or the secretariat, ended it)"
        )
    if view.stage is not Stage.GATHERING_SUPPORT:
        raise support_window_not_open(view)


def end_objection_window(view: RequestView, cmd: c.EndObjectionWindow, at: datetime) -> None:
    no, window = f"No.{view.number}", view.objection_window
    if window is not None and window.ended:
        raise Refused(
            f"the objection window of {no} has ended already (its timer, or the secretariat, "
            f"ended it); {no} is in stage {view.stage.value}"
        )
    if view.stage is not Stage.OBJECTION_WINDOW or window is None:
        raise Refused(f"{no} has no objection window open (stage: {view.stage.value})")
    if window.standing:
        named = "; ".join(f"{o.company}: {o.reason}" for o in window.standing)
        raise Refused(
            f"{len(window.standing)} objection(s) to {no} still stand: {named} "
            "(withdrawn or dismissed, they no longer block)"
        )
    if not view.threshold_met:
        raise Refused(short_of_support(view))


# --- the rules the guards share ---------------------------------------------------


def require_objection_window_open(view: RequestView, at: datetime) -> ObjectionWindow:
    no = f"No.{view.number}"
    window = view.objection_window
    if view.stage is not Stage.OBJECTION_WINDOW or window is None or window.ended:
        raise Refused(f"{no} has no objection window open (stage: {view.stage.value})")
    if at >= window.ends_at:
        raise Refused(f"the objection window of {no} closed at {shown(window.ends_at)}")
    return window


def require_support_window_open(view: RequestView, at: datetime) -> None:
    no = f"No.{view.number}"
    gathering = view.stage is Stage.GATHERING_SUPPORT and not view.support_window_closed
    # met early, the threshold opens the hearing but does not end the window:
    # others may still back the request until its deadline (the register counts
    # them: No.56 shows 8 companies), until implementation is decided
    met_early = view.stage in SUPPORT_AFTER_THRESHOLD and view.support_deadline is not None
    if not (gathering or met_early):
        raise support_window_not_open(view)
    if view.support_deadline is not None and at >= view.support_deadline:
        raise Refused(f"the support window of {no} closed at {shown(view.support_deadline)}")


def short_of_support(view: RequestView) -> str:
    """Why ``view`` may not go on to implementation: enough support is the first
    of the three conditions for implementing (DESIGN.md), and endorsements taken
    after the threshold may be withdrawn until implementation is decided. It is
    checked when the objection window opens and again when it ends."""
    return (
        f"No.{view.number} has the support of {view.support} companies; "
        f"implementing it needs {view.policy.support_threshold}"
    )


def extensible_deadline(view: RequestView, at: datetime) -> datetime | None:
    """The deadline an extension moves: the stage's own (the support window while
    gathering, the objection window), or, after the threshold opened the hearing,
    the support deadline while endorsements are still taken."""
    current = view.current_deadline
    if current is None and view.stage in (Stage.HEARING, Stage.COST_EVALUATION):
        return support_open_until(view, at)
    return current


def support_open_until(view: RequestView, at: datetime) -> datetime | None:
    """Until when members may still endorse (or withdraw) at ``at``: the support
    deadline while the window is open, also after the threshold opened the
    hearing; None when it is not open or runs without a deadline."""
    try:
        require_support_window_open(view, at)
    except Refused:
        return None
    return view.support_deadline


def support_window_not_open(view: RequestView) -> Refused:
    return Refused(
        f"the support window of No.{view.number} is not open (stage: {view.stage.value})"
    )


def company_of(actor: Actor) -> str:
    assert actor.company is not None  # Actor guarantees a member has one
    return actor.company
