"""Every rule of a request's lifecycle, in one place: the table ``MOVES``.

Each row is one command: who may send it, from which stages, the guard that
refuses it otherwise (in words for the person who asked), what it records and
where it leads. ``check`` reads the row. It reads only the request's state, so
the Temporal update validator runs it before anything is written, and the
aggregate's method for the command (``request.Request``) runs it again when it
records. ``diagram`` draws the README's lifecycle from the rows.

The timers a request has running, and what each does when it fires, are in
``timers``; what people are told of each fact is in ``notices``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from . import commands as c
from . import guards

# re-exported: they were defined here, and are imported from here
from .days import JST as JST
from .days import end_of_day as end_of_day
from .days import shown as shown
from .days import shown_day as shown_day
from .errors import NotAllowed, Refused
from .guards import CARRY_FORWARD_TO as CARRY_FORWARD_TO
from .guards import SUPPORT_AFTER_THRESHOLD as SUPPORT_AFTER_THRESHOLD
from .guards import company_of as company_of
from .guards import extensible_deadline as extensible_deadline
from .guards import reopened_stage as reopened_stage
from .guards import reopened_support_deadline as reopened_support_deadline
from .guards import short_of_support as short_of_support
from .guards import support_open_until as support_open_until
from .guards import support_window_not_open as support_window_not_open
from .imported import ImportedRequest, RegisterMark
from .policy import Policy
from .timers import ANY_OPEN, CLOSED_FROM, LEFT, START, TIMERS, Path
from .timers import next_timer as next_timer
from .timers import pending_timers as pending_timers
from .timers import reminder_key as reminder_key
from .view import RequestView
from .vocabulary import UNKNOWN_PROPOSER, Actor, Category, Role, Stage

Cmd = TypeVar("Cmd", bound=c.Command | c.FileRequest)

#: the stages a hold may be resumed to, and that close / hold accept
OPEN_STAGES = frozenset(s for s in Stage if not s.is_terminal)


class By(Enum):
    """Who may send a command."""

    MEMBER = "a member company"
    PROPOSER = "the request's proposer"
    SECRETARIAT = "the secretariat"
    TIMER = "ringi's timers"


#: a command's own rule, past who sends it and its stage: raises ``Refused``
Guard = Callable[[RequestView, Cmd, datetime], None]


def _anything(view: RequestView, cmd: Any, at: datetime) -> None:
    """No rule past who sends it and the stage it is sent in."""


@dataclass(frozen=True)
class Move(Generic[Cmd]):
    """One row of the lifecycle: a command, who sends it, where it may be sent,
    its own rule, what it records and where it leads."""

    command: type[Cmd]
    by: By
    guard: Guard[Cmd] = _anything
    #: the stages it is sent in, checked before its guard; empty: any open stage
    stages: tuple[Stage, ...] = ()
    #: what it does, for the refusal in another stage ("cannot open the hearing: …")
    doing: str = ""
    #: it may be sent after release or close (a correction, say)
    after_the_end: bool = False
    #: the events it may record
    records: tuple[str, ...] = ()
    #: the arrows it draws on the lifecycle diagram
    paths: tuple[Path, ...] = field(default=())

    @property
    def name(self) -> str:
        """The command's kind: the name of the aggregate's method that carries it out."""
        kind: str = self.command.model_fields["kind"].default
        return kind


# --- filing --------------------------------------------------------------------


def check_filing(cmd: c.FileRequest) -> None:
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


# --- the table -----------------------------------------------------------------

_SUPPORT_MET = "support ≥ threshold"

MOVES: tuple[Move[Any], ...] = (
    # members
    Move(
        c.FileRequest,
        By.MEMBER,
        guards.filing,
        records=("Filed", "SupportGatheringOpened"),
        paths=(
            Path(START, Stage.GATHERING_SUPPORT, "要望"),
            Path(START, Stage.FILED, "意見, 質問"),
        ),
    ),
    Move(
        c.Endorse,
        By.MEMBER,
        guards.endorse,
        records=("Endorsed", "SupportThresholdMet", "HearingOpened"),
        paths=(Path(Stage.GATHERING_SUPPORT, Stage.HEARING, _SUPPORT_MET),),
    ),
    Move(
        c.WithdrawEndorsement,
        By.MEMBER,
        guards.withdraw_endorsement,
        records=("EndorsementWithdrawn",),
    ),
    Move(c.AppendNote, By.PROPOSER, records=("NoteAppended",)),
    Move(
        c.AnswerClarification,
        By.PROPOSER,
        guards.answer_clarification,
        records=("ClarificationAnswered",),
    ),
    Move(c.RaiseObjection, By.MEMBER, guards.raise_objection, records=("ObjectionRaised",)),
    Move(
        c.WithdrawObjection, By.MEMBER, guards.withdraw_objection, records=("ObjectionWithdrawn",)
    ),
    Move(
        c.Withdraw,
        By.PROPOSER,
        records=("Closed",),
        paths=(Path(ANY_OPEN, Stage.CLOSED, "withdrawn"),),
    ),
    # the secretariat
    Move(
        c.OpenSupport,
        By.SECRETARIAT,
        guards.open_support,
        stages=(Stage.FILED,),
        doing="open support gathering",
        records=("SupportGatheringOpened", "SupportThresholdMet", "HearingOpened"),
        paths=(Path(Stage.FILED, Stage.GATHERING_SUPPORT),),
    ),
    Move(
        c.AskClarification,
        By.SECRETARIAT,
        guards.ask_clarification,
        records=("ClarificationAsked",),
    ),
    Move(
        c.WithdrawClarification,
        By.SECRETARIAT,
        guards.withdraw_clarification,
        records=("ClarificationWithdrawn",),
    ),
    Move(
        c.DismissObjection,
        By.SECRETARIAT,
        guards.dismiss_objection,
        records=("ObjectionDismissed",),
    ),
    Move(
        c.IdentifyProposer,
        By.SECRETARIAT,
        guards.identify_proposer,
        records=("ProposerIdentified",),
    ),
    # an imported request only: it moves forward to one of CARRY_FORWARD_TO
    Move(c.CarryForward, By.SECRETARIAT, guards.carry_forward, records=("CarriedForward",)),
    Move(
        c.ExtendDeadline,
        By.SECRETARIAT,
        guards.extend_deadline,
        records=("SupportDeadlineExtended", "ObjectionWindowExtended"),
    ),
    Move(
        c.OpenHearing,
        By.SECRETARIAT,
        guards.open_hearing,
        stages=(Stage.GATHERING_SUPPORT,),
        doing="open the hearing",
        records=("HearingOpened",),
        paths=(Path(Stage.GATHERING_SUPPORT, Stage.HEARING, _SUPPORT_MET),),
    ),
    Move(
        c.RecordFindings,
        By.SECRETARIAT,
        stages=(Stage.HEARING,),
        doing="record hearing findings",
        records=("HearingFindingsRecorded",),
    ),
    Move(
        c.EvaluateCost,
        By.SECRETARIAT,
        guards.evaluate_cost,
        stages=(Stage.HEARING, Stage.COST_EVALUATION),
        doing="evaluate the cost",
        records=("CostEvaluated",),
        paths=(Path(Stage.HEARING, Stage.COST_EVALUATION),),
    ),
    Move(
        c.OpenObjectionWindow,
        By.SECRETARIAT,
        guards.open_objection_window,
        stages=(Stage.COST_EVALUATION,),
        doing="open an objection window",
        records=("ObjectionWindowOpened",),
        paths=(Path(Stage.COST_EVALUATION, Stage.OBJECTION_WINDOW, "cost-effective"),),
    ),
    Move(
        c.Approve,
        By.SECRETARIAT,
        guards.approve,
        stages=(Stage.IMPLEMENTATION,),
        doing="approve implementation",
        records=("ImplementationApproved",),
    ),
    Move(
        c.ChangeReleaseDate,
        By.SECRETARIAT,
        guards.change_release_date,
        stages=(Stage.IMPLEMENTATION,),
        doing="change the release date",
        records=("ReleaseDateChanged",),
    ),
    Move(
        c.Release,
        By.SECRETARIAT,
        guards.release,
        stages=(Stage.IMPLEMENTATION,),
        doing="release",
        records=("Released",),
        paths=(Path(Stage.IMPLEMENTATION, Stage.RELEASED),),
    ),
    Move(
        c.Hold,
        By.SECRETARIAT,
        guards.hold,
        records=("Held",),
        paths=(Path(ANY_OPEN, Stage.ON_HOLD),),
    ),
    Move(
        c.Resume,
        By.SECRETARIAT,
        stages=(Stage.ON_HOLD,),
        doing="resume",
        records=("Resumed",),
        paths=(Path(Stage.ON_HOLD, LEFT, "deadlines move by the time held"),),
    ),
    Move(
        c.Close,
        By.SECRETARIAT,
        guards.close,
        records=("Closed",),
        paths=(Path(ANY_OPEN, Stage.CLOSED, "a reason"),),
    ),
    # an answer also after release or close: "リリースしました", a later follow-up
    # (issue 20); tagged with its meeting, it brings the request into that register
    Move(c.RecordAnswer, By.SECRETARIAT, after_the_end=True, records=("AnswerRecorded",)),
    # what may still happen to a released or closed request: correcting what was
    # recorded, which is a new event pointing at the old one (DESIGN.md). Without it
    # a wrong closing answer would stand in the register for good.
    Move(
        c.CorrectAnswer,
        By.SECRETARIAT,
        guards.correct_answer,
        after_the_end=True,
        records=("AnswerCorrected",),
    ),
    Move(
        c.TimerFired,
        By.TIMER,
        guards.timer_fired,
        records=tuple(dict.fromkeys(e for t in TIMERS for e in t.records)),
        paths=tuple(p for t in TIMERS for p in t.paths),
    ),
    # the secretariat's discretion and after the end (issue 20)
    Move(
        c.HearBelowThreshold,
        By.SECRETARIAT,
        guards.hear_below_threshold,
        stages=(Stage.GATHERING_SUPPORT,),
        doing="hold the hearing below the threshold",
        records=("HearingOpenedBelowThreshold",),
        paths=(Path(Stage.GATHERING_SUPPORT, Stage.HEARING, "support < threshold, a reason"),),
    ),
    Move(
        c.EvaluateWithoutHearing,
        By.SECRETARIAT,
        guards.evaluate_without_hearing,
        # the threshold leaves a request gathering support where the policy does not
        # open the hearing by itself, in the hearing where it does
        stages=(Stage.GATHERING_SUPPORT, Stage.HEARING),
        doing="evaluate the cost without a hearing",
        records=("HearingSkipped", "CostEvaluated"),
        paths=(
            Path(Stage.GATHERING_SUPPORT, Stage.COST_EVALUATION, _SUPPORT_MET + ", a reason"),
            Path(Stage.HEARING, Stage.COST_EVALUATION, "unheard, a reason"),
        ),
    ),
    Move(
        c.Reopen,
        By.SECRETARIAT,
        guards.reopen,
        stages=(Stage.CLOSED,),
        doing="reopen",
        after_the_end=True,
        records=("Reopened",),
        paths=(Path(Stage.CLOSED, CLOSED_FROM, "a reason; short of support: a new deadline"),),
    ),
    # the secretariat's windows (issue 20): it moves the support deadline to a
    # meeting, and concludes a window itself, recording what the window's timer
    # would (so the timer, no longer pending, cannot do it a second time)
    Move(
        c.FinalCall,
        By.SECRETARIAT,
        guards.final_call,
        stages=(Stage.GATHERING_SUPPORT,),
        doing="issue a final call",
        records=("FinalCallIssued",),
    ),
    Move(
        c.EndSupport,
        By.SECRETARIAT,
        guards.end_support,  # its stage too: the refusal says the window has ended
        records=("SupportWindowClosed", "Closed"),
        paths=(Path(Stage.GATHERING_SUPPORT, Stage.CLOSED, "support < threshold"),),
    ),
    Move(
        c.EndObjectionWindow,
        By.SECRETARIAT,
        guards.end_objection_window,  # its stage too: the refusal says the window has ended
        records=("ObjectionWindowEnded",),
        paths=(Path(Stage.OBJECTION_WINDOW, Stage.IMPLEMENTATION, "none standing"),),
    ),
)

_MOVE: dict[type[Any], Move[Any]] = {m.command: m for m in MOVES}


def move_of(cmd: c.Command | c.FileRequest) -> Move[Any]:
    """The row of ``cmd``'s command."""
    return _MOVE[type(cmd)]


def _commands_by(*who: By) -> tuple[type[c.Command], ...]:
    return tuple(m.command for m in MOVES if m.by in who and m.command is not c.FileRequest)


#: the commands a member sends, and of those the proposer's alone
MEMBER_COMMANDS = _commands_by(By.MEMBER, By.PROPOSER)
PROPOSER_ONLY = _commands_by(By.PROPOSER)
AFTER_THE_END = tuple(m.command for m in MOVES if m.after_the_end)


def check(view: RequestView, cmd: c.Command, at: datetime) -> None:
    """Refuse ``cmd`` unless its row allows it now. Raises ``Refused``
    (``NotAllowed`` when the sender may not send it at all)."""
    move = move_of(cmd)
    _check_sender(view, cmd, move.by)
    if view.stage.is_terminal and not move.after_the_end:
        reopening = ", or its reopening" if view.stage is Stage.CLOSED else ""
        raise Refused(
            f"No.{view.number} is {view.stage.value}; nothing more can happen to it "
            f"but an answer, a correction of one{reopening}"
        )
    if move.stages:
        _require_stage(view, move.stages, move.doing)
    move.guard(view, cmd, at)


def diagram() -> str:
    """The lifecycle as a Mermaid state diagram, drawn from the table: the README
    shows it, and a test keeps the two the same."""
    lines = [
        "stateDiagram-v2",
        f'    state "any open stage" as {ANY_OPEN}',
        f'    state "the stage it left" as {LEFT}',
        f'    state "the stage it was closed from" as {CLOSED_FROM}',
    ]
    for label, path in _arrows():
        when = f" ({path.when})" if path.when else ""
        lines.append(f"    {_node(path.source)} --> {_node(path.target)}: {label}{when}")
    return "\n".join(lines) + "\n"


def _arrows() -> Iterator[tuple[str, Path]]:
    for move in MOVES:
        if move.command is c.TimerFired:
            for timer in TIMERS:
                for path in timer.paths:
                    yield f"{timer.kind.value} timer", path
        else:
            for path in move.paths:
                yield move.name, path


def _node(place: Stage | str) -> str:
    return place.value if isinstance(place, Stage) else place


# --- what the moves decide ---------------------------------------------------------


def support_deadline(
    view: RequestView, cmd: c.OpenSupport | c.FileRequest, at: datetime
) -> datetime:
    """When support gathering opened at ``at`` ends: the deadline given, or the policy's window."""
    given = cmd.deadline if isinstance(cmd, c.OpenSupport) else None
    return given or at + view.policy.support_window


def threshold_newly_met(view: RequestView) -> bool:
    """The support has just reached the threshold for the first time."""
    return view.threshold_met_at is None and view.threshold_met


def hearing_opens_by_itself(view: RequestView) -> bool:
    """The threshold, once met, opens the hearing without the secretariat (the policy
    says), unless the secretariat has moved the request on already (a hearing held
    below the threshold)."""
    return view.policy.auto_open_hearing and view.stage is Stage.GATHERING_SUPPORT


def closes_at_support_deadline(view: RequestView) -> bool:
    """At its support deadline a request short of the threshold is closed."""
    return not view.threshold_met


def final_call_deadline(
    view: RequestView, at: datetime, next_meeting: tuple[int, datetime] | None
) -> tuple[datetime, int | None]:
    """The deadline a final call issued at ``at`` sets, and the meeting it is the day
    of: the next meeting when one is scheduled, the policy's grace otherwise; never
    later than a deadline already running."""
    deadline, meeting = at + view.policy.final_call_grace, None
    if next_meeting is not None and next_meeting[1] > at:
        meeting, deadline = next_meeting
    if view.support_deadline is not None and view.support_deadline < deadline:
        return view.support_deadline, None  # the deadline running already comes first
    return deadline, meeting


def objection_window_ends(view: RequestView, cmd: c.OpenObjectionWindow, at: datetime) -> datetime:
    """When an objection window opened at ``at`` ends: the end given (a meeting's
    day, say), or the policy's window."""
    return cmd.ends_at or at + view.policy.objection_window


def stage_after_objection_window(objections: int, short_of_support: bool) -> Stage:
    """Enough support and no blocking objection are the first and third conditions
    for implementing; either unmet sends the request back to the secretariat's
    evaluation."""
    blocked = objections > 0 or short_of_support
    return Stage.COST_EVALUATION if blocked else Stage.IMPLEMENTATION


# --- the rules the guards share -------------------------------------------------------


def _not_the_unknown_proposer(actor: Actor) -> None:
    if actor.role is Role.MEMBER and actor.company == UNKNOWN_PROPOSER:
        raise NotAllowed(
            f"{UNKNOWN_PROPOSER} stands for the unknown proposer of an imported request; "
            "act for your own company"
        )


def _check_sender(view: RequestView, cmd: c.Command, by: By) -> None:
    role = cmd.actor.role
    _not_the_unknown_proposer(cmd.actor)
    if by is By.TIMER:
        if role is not Role.TIMER:
            raise NotAllowed("only ringi's timers fire timers")
        return
    if by in (By.MEMBER, By.PROPOSER):
        if role is not Role.MEMBER:
            raise NotAllowed(f"only a member company may {_verb(cmd)}")
        if by is By.PROPOSER and cmd.actor.company != view.proposer:
            raise NotAllowed(
                f"only the proposer ({view.proposer}) may {_verb(cmd)} on No.{view.number}"
            )
        return
    if role is not Role.SECRETARIAT:
        raise NotAllowed(f"only the secretariat may {_verb(cmd)}")


def _require_stage(view: RequestView, stages: Stage | tuple[Stage, ...], doing: str) -> None:
    allowed = stages if isinstance(stages, tuple) else (stages,)
    if view.stage not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise Refused(
            f"cannot {doing}: No.{view.number} is in stage {view.stage.value}, not {names}"
        )


def follows_meeting(view: RequestView, number: int) -> bool:
    """Whether ``view``'s running support deadline, or its open objection window,
    is "until meeting ``number``" (so a later date for the meeting moves it along,
    never an earlier one: what members were told they have, they keep)."""
    window = view.objection_window
    if view.stage is Stage.OBJECTION_WINDOW and window is not None and not window.ended:
        return window.until_meeting == number
    return (
        view.stage is Stage.GATHERING_SUPPORT
        and not view.support_window_closed
        and view.support_until_meeting == number
    )


def meeting_deadline(view: RequestView) -> datetime | None:
    """The running deadline a meeting's new date may move (``follows_meeting``):
    the open objection window's end, or the support deadline."""
    window = view.objection_window
    if view.stage is Stage.OBJECTION_WINDOW and window is not None and not window.ended:
        return window.ends_at
    return view.support_deadline


def _verb(cmd: c.Command) -> str:
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
