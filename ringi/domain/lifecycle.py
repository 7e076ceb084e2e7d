"""Every rule of a request's lifecycle, in one place.

``check`` says whether a command may be carried out now and, if not, why, in
words for the person who asked. It reads only the request's state, so the
Temporal update validator can run it before anything is written and the
aggregate runs it again when the event is recorded.

``pending_timers`` says which durable timers a request has running: the
workflow sleeps until the earliest and then sends it back as a command.

What each command records is in ``request.Request``; this module decides
only whether it may.

    filed ──► gathering_support   (a 要望 at once; an 意見 when the secretariat opens support) ──(support ≥ threshold)──► hearing ──► cost_evaluation
                 │ deadline passes, support < threshold                 │ cost-effective ──► objection_window
                 ▼                                                      │      ├─ no objection ──► implementation ──► released
              closed (insufficient_support)                            │      └─ objection ──► cost_evaluation
                                                                       └ not cost-effective ──► closed
    any open stage ──hold──► on_hold ──resume──► the stage it left (deadlines move by the time held)
    any open stage ──close(reason)──► closed
    released / closed ──correct an answer──► the same stage (nothing else happens to it)
"""

from __future__ import annotations

from datetime import datetime, time

from .commands import (
    AnswerClarification,
    AppendNote,
    Approve,
    AskClarification,
    CarryForward,
    ChangeReleaseDate,
    Close,
    Command,
    CorrectAnswer,
    DismissObjection,
    Endorse,
    EvaluateCost,
    ExtendDeadline,
    FileRequest,
    Hold,
    IdentifyProposer,
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
    WithdrawClarification,
    WithdrawEndorsement,
    WithdrawObjection,
)

# re-exported: they were defined here, and are imported from here
from .days import JST as JST
from .days import end_of_day as end_of_day
from .days import shown as shown
from .days import shown_day as shown_day
from .errors import NotAllowed, Refused
from .imported import ImportedRequest, RegisterMark
from .policy import Policy
from .view import ObjectionWindow, RequestView
from .vocabulary import UNKNOWN_PROPOSER, Actor, Category, CloseReason, Role, Stage

MEMBER_COMMANDS = (
    Endorse,
    WithdrawEndorsement,
    AppendNote,
    AnswerClarification,
    RaiseObjection,
    WithdrawObjection,
    Withdraw,
)
PROPOSER_ONLY = (AppendNote, AnswerClarification, Withdraw)

#: the stages a hold may be resumed to, and that close / hold accept
OPEN_STAGES = frozenset(s for s in Stage if not s.is_terminal)

#: the stages after the threshold where endorsements are still taken until the
#: support deadline: the request is open and its implementation not yet decided
SUPPORT_AFTER_THRESHOLD = frozenset({Stage.HEARING, Stage.COST_EVALUATION, Stage.OBJECTION_WINDOW})

#: where the secretariat may carry an imported request forward (``CarryForward``), in
#: the lifecycle's order; a hold, a close and an objection window have commands of
#: their own, and gathering support is where the import starts what it cannot place
CARRY_FORWARD_TO = (Stage.HEARING, Stage.COST_EVALUATION, Stage.IMPLEMENTATION)

#: what may still happen to a released or closed request: correcting what was
#: recorded, which is a new event pointing at the old one (DESIGN.md). Without it
#: a wrong closing answer would stand in the register for good.
AFTER_THE_END = (CorrectAnswer,)


# --- filing --------------------------------------------------------------------


def check_filing(cmd: FileRequest) -> None:
    if cmd.actor.role is not Role.MEMBER:
        raise NotAllowed("only a member company files a request")
    _not_the_unknown_proposer(cmd.actor)


# --- importing a register ----------------------------------------------------------


def check_import(item: ImportedRequest, actor: Actor) -> None:
    """An imported row may be written: the secretariat imports, the facts lie
    between the filing and the register's meeting, and the last column is a
    count or a mark, not both."""
    no = f"No.{item.number}"
    if actor.role is not Role.SECRETARIAT:
        raise NotAllowed("only the secretariat imports a register")
    if (item.support is None) == (item.mark is None):
        raise Refused(f"{no}: the register gives either a support count or 保留 / クローズ")
    for at in [n.at for n in item.notes] + [a.at for a in item.answers]:
        if not item.filed_at <= at <= item.settled_at:
            raise Refused(
                f"{no}: a fact dated {at.isoformat()} lies outside "
                f"{item.filed_at.isoformat()} .. {item.settled_at.isoformat()}"
            )


def imported_stage(
    category: Category, mark: RegisterMark | None, support: int | None, policy: Policy
) -> tuple[Stage, Stage | None]:
    """The stage an imported request is in after the register's meeting, and the
    stage a held one resumes to.

    The register shows only a count or 保留 / クローズ, so: クローズ is closed; a
    request (要望) whose count reaches the threshold is in the hearing (what came
    after is in its answers, which ringi does not interpret: the secretariat
    carries the request forward, ``CarryForward``), one below it gathers
    support (with no deadline: it has been open over a year, so its workflow
    issues the final call at once, as for any request); an opinion or question
    waits for the secretariat (filed). 保留 is on hold, resuming to where a
    request with no known count starts: gathering support, or filed.
    """
    start = Stage.GATHERING_SUPPORT if category is Category.REQUEST else Stage.FILED
    if mark is RegisterMark.CLOSED:
        return Stage.CLOSED, None
    if mark is RegisterMark.HELD:
        return Stage.ON_HOLD, start
    assert support is not None
    if start is Stage.GATHERING_SUPPORT and support >= policy.support_threshold:
        return Stage.HEARING, None
    return start, None


# --- commands on an existing request ----------------------------------------------


def check(view: RequestView, cmd: Command, at: datetime) -> None:
    """Refuse ``cmd`` unless the rules allow it now. Raises ``Refused``."""
    _check_role(view, cmd)
    no = f"No.{view.number}"
    if view.stage.is_terminal and not isinstance(cmd, AFTER_THE_END):
        raise Refused(
            f"{no} is {view.stage.value}; nothing more can happen to it "
            "but a correction of an answer"
        )

    match cmd:
        case Endorse():
            company = company_of(cmd.actor)
            if company == view.proposer:
                raise Refused(f"{company} proposed {no}; its support is already counted")
            _require_support_window_open(view, at)
            if company in view.endorsers:
                raise Refused(f"{company} already endorses {no}; an endorsement counts once")
        case WithdrawEndorsement():
            company = company_of(cmd.actor)
            _require_support_window_open(view, at)
            if company not in view.endorsers:
                raise Refused(f"{company} does not endorse {no}; there is nothing to withdraw")
        case AppendNote() | Withdraw():
            pass
        case AnswerClarification():
            if view.pending_clarification is None:
                raise Refused(f"{no} has no open clarification question to answer")
        case RaiseObjection():
            window = _require_objection_window_open(view, at)
            if cmd.actor.company == view.proposer:
                raise Refused(
                    f"{view.proposer} proposed {no}: an objection is another member's "
                    "(withdraw the request to stop it)"
                )
            if any(o.company == cmd.actor.company for o in window.objections):
                raise Refused(f"{cmd.actor.company} has already objected to {no} in this window")
        case WithdrawObjection():
            window = _require_objection_window_open(view, at)
            if window.standing_by(company_of(cmd.actor)) is None:
                raise Refused(f"{cmd.actor.company} has no standing objection to {no} to withdraw")
        case OpenSupport():
            _require_stage(view, Stage.FILED, "open support gathering")
            if view.category is Category.QUESTION:
                raise Refused(f"{no} is a question (質問); questions are answered, not supported")
            if cmd.deadline is not None and cmd.deadline <= at:
                raise Refused("a support deadline must lie in the future")
        case AskClarification():
            if view.stage is Stage.ON_HOLD:
                raise Refused(f"{no} is on hold; resume it before asking the proposer")
            if view.proposer == UNKNOWN_PROPOSER:
                raise Refused(
                    f"{no} came from an imported register that does not name its proposer: "
                    "nobody could answer a question"
                )
            if view.pending_clarification is not None:
                raise Refused(
                    f"{no} already has an unanswered clarification question; "
                    "withdraw it to ask another"
                )
        case WithdrawClarification():
            if view.pending_clarification is None:
                raise Refused(f"{no} has no open clarification question to withdraw")
        case DismissObjection():
            window = _require_objection_window_open(view, at)
            if window.standing_by(cmd.company) is None:
                raise Refused(f"{cmd.company} has no standing objection to {no} in this window")
        case IdentifyProposer():
            if view.proposer != UNKNOWN_PROPOSER:
                raise Refused(f"{no} names its proposer already: {view.proposer}")
            if cmd.company.strip() in ("", UNKNOWN_PROPOSER):
                raise Refused(f"name the company that proposed {no}")
        case CarryForward():
            if view.imported is None:
                raise Refused(
                    f"only an imported request is carried forward; {no} moves by the lifecycle"
                )
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
                raise Refused(
                    f"{no} is in stage {view.stage.value}: it is carried forward, not back"
                )
        case ExtendDeadline():
            current = extensible_deadline(view, at)
            if current is None:
                raise Refused(f"{no} has no deadline running in stage {view.stage.value}")
            if cmd.deadline <= current:
                raise Refused(
                    f"the new deadline {shown(cmd.deadline)} is not later than "
                    f"the current one, {shown(current)}"
                )
        case OpenHearing():
            _require_stage(view, Stage.GATHERING_SUPPORT, "open the hearing")
            if not view.threshold_met:
                raise Refused(
                    f"{no} has the support of {view.support} companies; "
                    f"the hearing needs {view.policy.support_threshold}"
                )
        case RecordFindings():
            _require_stage(view, Stage.HEARING, "record hearing findings")
        case EvaluateCost():
            _require_stage(view, (Stage.HEARING, Stage.COST_EVALUATION), "evaluate the cost")
            # the cost rule is the policy's: an evaluation does not choose its horizon
            horizon = view.policy.cost_horizon_years
            if cmd.inputs.horizon_years != horizon:
                raise Refused(
                    f"the cost rule weighs the benefit over {horizon} years (the policy's "
                    f"horizon), not {cmd.inputs.horizon_years}"
                )
        case OpenObjectionWindow():
            _require_stage(view, Stage.COST_EVALUATION, "open an objection window")
            latest = view.latest_evaluation
            if latest is None or not latest.cost_effective:
                raise Refused(f"{no} has no cost-effective evaluation; only those go to objection")
            if not view.threshold_met:
                raise Refused(short_of_support(view))
        case Approve():
            _require_stage(view, Stage.IMPLEMENTATION, "approve implementation")
            if view.approved_at is not None:
                raise Refused(f"{no} is already approved; change the release date instead")
        case ChangeReleaseDate():
            _require_stage(view, Stage.IMPLEMENTATION, "change the release date")
            if view.approved_at is None:
                raise Refused(f"{no} has no planned release yet; approve it with a date first")
            if cmd.planned_release == view.planned_release:
                raise Refused(f"{no} is already planned for {cmd.planned_release}")
        case Release():
            _require_stage(view, Stage.IMPLEMENTATION, "release")
            if view.approved_at is None:
                raise Refused(f"{no} has not been approved for implementation")
        case Hold():
            if view.stage is Stage.ON_HOLD:
                raise Refused(f"{no} is already on hold")
        case Resume():
            _require_stage(view, Stage.ON_HOLD, "resume")
        case Close():
            _check_close(view, cmd)
        case RecordAnswer():
            pass
        case CorrectAnswer():
            answer = view.answer(cmd.answer_id)
            if answer is None:
                raise Refused(f"{no} has no answer {cmd.answer_id!r}")
            if answer.superseded_by is not None:
                raise Refused(
                    f"answer {cmd.answer_id} was already corrected by {answer.superseded_by}; "
                    "correct that one"
                )
        case TimerFired():
            due = {(t.timer, t.due) for t in pending_timers(view)}
            if (cmd.timer, cmd.due) not in due:
                raise Refused(
                    f"the {cmd.timer.value} timer of {no} for {shown(cmd.due)} no longer applies"
                )
            if cmd.due > at:
                raise Refused(
                    f"the {cmd.timer.value} timer of {no} is not due until {shown(cmd.due)}"
                )


def _not_the_unknown_proposer(actor: Actor) -> None:
    if actor.role is Role.MEMBER and actor.company == UNKNOWN_PROPOSER:
        raise NotAllowed(
            f"{UNKNOWN_PROPOSER} stands for the unknown proposer of an imported request; "
            "act for your own company"
        )


def _check_role(view: RequestView, cmd: Command) -> None:
    role = cmd.actor.role
    _not_the_unknown_proposer(cmd.actor)
    if isinstance(cmd, TimerFired):
        if role is not Role.TIMER:
            raise NotAllowed("only ringi's timers fire timers")
        return
    if isinstance(cmd, MEMBER_COMMANDS):
        if role is not Role.MEMBER:
            raise NotAllowed(f"only a member company may {_verb(cmd)}")
        if isinstance(cmd, PROPOSER_ONLY) and cmd.actor.company != view.proposer:
            raise NotAllowed(
                f"only the proposer ({view.proposer}) may {_verb(cmd)} on No.{view.number}"
            )
        return
    if role is not Role.SECRETARIAT:
        raise NotAllowed(f"only the secretariat may {_verb(cmd)}")


def _check_close(view: RequestView, cmd: Close) -> None:
    no = f"No.{view.number}"
    match cmd.reason:
        case CloseReason.WITHDRAWN:
            raise Refused("a request is withdrawn by its proposer, not closed as withdrawn")
        case CloseReason.IMPORTED:
            raise Refused("'imported' is the reason `ringi import` records; give the real one")
        case CloseReason.DUPLICATE:
            if cmd.duplicate_of is None:
                raise Refused("closing as a duplicate needs the number it duplicates")
            if cmd.duplicate_of == view.number:
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
    if cmd.duplicate_of is not None and cmd.reason is not CloseReason.DUPLICATE:
        raise Refused("a duplicate-of link goes only with the reason 'duplicate'")


def _require_stage(view: RequestView, stages: Stage | tuple[Stage, ...], doing: str) -> None:
    allowed = stages if isinstance(stages, tuple) else (stages,)
    if view.stage not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise Refused(
            f"cannot {doing}: No.{view.number} is in stage {view.stage.value}, not {names}"
        )


def _require_objection_window_open(view: RequestView, at: datetime) -> ObjectionWindow:
    no = f"No.{view.number}"
    window = view.objection_window
    if view.stage is not Stage.OBJECTION_WINDOW or window is None or window.ended:
        raise Refused(f"{no} has no objection window open (stage: {view.stage.value})")
    if at >= window.ends_at:
        raise Refused(f"the objection window of {no} closed at {shown(window.ends_at)}")
    return window


def _require_support_window_open(view: RequestView, at: datetime) -> None:
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


def follows_meeting(view: RequestView, number: int) -> bool:
    """Whether ``view``'s running support deadline is "until meeting ``number``"
    (so a later date for the meeting moves it along, never an earlier one: what
    members were told they have, they keep)."""
    return (
        view.stage is Stage.GATHERING_SUPPORT
        and not view.support_window_closed
        and view.support_until_meeting == number
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
        _require_support_window_open(view, at)
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


def _verb(cmd: Command) -> str:
    return cmd.kind.replace("_", " ")


# --- who reads what --------------------------------------------------------------

#: the events of a clarification thread, whose words only those who may read the
#: thread see (``may_read_clarifications``); others see that they took place
PRIVATE_EVENTS = frozenset(
    {"ClarificationAsked", "ClarificationAnswered", "ClarificationWithdrawn"}
)


def may_read_clarifications(role: Role, company: str | None, view: RequestView) -> bool:
    """A clarification thread (the secretariat's question about the proposer's
    own systems and business, and the proposer's reply) is between the two of
    them; auditors read everything (DESIGN.md); other members do not."""
    if role in (Role.SECRETARIAT, Role.AUDITOR):
        return True
    return role is Role.MEMBER and company == view.proposer


def as_read_by(view: RequestView, role: Role, company: str | None) -> RequestView:
    """``view`` less what ``role`` (of ``company``) may not read."""
    if may_read_clarifications(role, company, view):
        return view
    return view.model_copy(update={"clarifications": []})


# --- timers --------------------------------------------------------------------


def pending_timers(view: RequestView) -> list[TimerFired]:
    """The durable timers this request has running, earliest first."""
    if view.stage.is_terminal:
        return []  # nothing more can happen to a released or closed request
    timers: list[TimerFired] = []
    policy = view.policy
    sent = set(view.reminders_sent)

    def remind(kind: TimerKind, due: datetime) -> None:
        if reminder_key(kind, due) not in sent:
            timers.append(TimerFired.at(kind, due))

    if view.stage is Stage.GATHERING_SUPPORT and not view.support_window_closed:
        deadline = view.support_deadline
        if deadline is not None:
            if policy.deadline_reminder_days:
                remind(TimerKind.DEADLINE_APPROACHING, deadline - policy.deadline_reminder)
            timers.append(TimerFired.at(TimerKind.SUPPORT_DEADLINE, deadline))
        final_call = view.filed_at + policy.final_call_after
        if view.final_call_at is None and (deadline is None or final_call < deadline):
            timers.append(TimerFired.at(TimerKind.FINAL_CALL, final_call))

    window = view.objection_window
    if view.stage is Stage.OBJECTION_WINDOW and window is not None and not window.ended:
        timers.append(TimerFired.at(TimerKind.OBJECTION_WINDOW_END, window.ends_at))

    clarification = view.pending_clarification
    if clarification is not None and view.stage is not Stage.ON_HOLD:
        remind(TimerKind.CLARIFICATION_REMINDER, clarification.reply_due)

    if view.stage is Stage.ON_HOLD and view.held_at is not None:
        last_review = view.last_hold_review or view.held_at
        remind(TimerKind.HOLD_REVIEW, last_review + policy.hold_review)

    if view.stage is Stage.IMPLEMENTATION and view.planned_release is not None:
        due = datetime.combine(view.planned_release, time(0), JST)
        remind(TimerKind.PLANNED_RELEASE, due)

    return sorted(timers, key=lambda t: t.due)


def reminder_key(kind: TimerKind, due: datetime) -> str:
    return f"{kind.value}:{due.isoformat()}"


def next_timer(view: RequestView) -> TimerFired | None:
    timers = pending_timers(view)
    return timers[0] if timers else None
