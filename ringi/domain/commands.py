"""What people and timers ask a request to do.

A command is intent only: the workflow stamps the time it happened, and the
rules in ``lifecycle`` decide whether it may. ``command_id`` makes a command
idempotent end to end: a retried command with the same id writes nothing new.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from .cost import CostInputs, as_given
from .text import MeetingNumber, Name, Reason, RequestNumber, Target, Text, clean_name
from .vocabulary import Actor, Category, CloseReason, Stage


def new_command_id() -> str:
    return uuid.uuid4().hex


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Actor
    command_id: str = Field(default_factory=new_command_id, min_length=1, max_length=200)
    meeting: MeetingNumber | None = Field(None, description="the meeting this was said at (第N回)")

    @field_validator("actor")
    @classmethod
    def _actor_named_by_the_policy(cls, actor: Actor) -> Actor:
        """Who acts is text like any other (``--as``, a token's company and name):
        NFC, no control or bidi character, not blank."""
        named: dict[str, str] = {}
        for part in ("company", "user"):
            value = getattr(actor, part)
            if value:
                try:
                    named[part] = clean_name(value)
                except ValueError as error:
                    raise ValueError(f"the actor's {part} {error}") from None
        return actor.model_copy(update=named) if named else actor


# --- members -----------------------------------------------------------------


class FileRequest(_Command):
    kind: Literal["file"] = "file"
    category: Category
    target: Target
    body: Text
    related: tuple[RequestNumber, ...] = ()


class Endorse(_Command):
    kind: Literal["endorse"] = "endorse"


class WithdrawEndorsement(_Command):
    kind: Literal["withdraw_endorsement"] = "withdraw_endorsement"


class AppendNote(_Command):
    kind: Literal["append_note"] = "append_note"
    text: Text


class AnswerClarification(_Command):
    kind: Literal["answer_clarification"] = "answer_clarification"
    text: Text


class RaiseObjection(_Command):
    kind: Literal["raise_objection"] = "raise_objection"
    reason: Text


class WithdrawObjection(_Command):
    """A member takes back its own objection while the window is open."""

    kind: Literal["withdraw_objection"] = "withdraw_objection"
    reason: Reason = ""


class Withdraw(_Command):
    kind: Literal["withdraw"] = "withdraw"
    reason: Reason = ""


# --- the secretariat ---------------------------------------------------------


class OpenSupport(_Command):
    kind: Literal["open_support"] = "open_support"
    deadline: datetime | None = None
    #: the deadline is "until meeting N" (held at ``deadline``): it follows the meeting
    until_meeting: MeetingNumber | None = None


class AskClarification(_Command):
    kind: Literal["ask_clarification"] = "ask_clarification"
    question: Text


class WithdrawClarification(_Command):
    """The secretariat takes back its unanswered question: settled another way (at
    the meeting, say), or asked of nobody who can answer it."""

    kind: Literal["withdraw_clarification"] = "withdraw_clarification"
    reason: Text


class DismissObjection(_Command):
    """The secretariat rules a member's objection not blocking (the problem is
    met another way, say), with its reason, while the window is open: only the
    objections still standing when it ends send the request back."""

    kind: Literal["dismiss_objection"] = "dismiss_objection"
    company: Name
    reason: Text


class IdentifyProposer(_Command):
    """The secretariat names the company that proposed an imported request (the
    register it came from does not): from then on that company is its proposer."""

    kind: Literal["identify_proposer"] = "identify_proposer"
    company: Name


class CarryForward(_Command):
    """The secretariat states where an imported request really stands: its register
    shows only a count or 保留 / クローズ, so the import places it by that alone
    (No.39, released as planned, is imported into the hearing). Its answers say
    the rest; the secretariat reads them and carries the request forward, once,
    instead of replaying years of stages today."""

    kind: Literal["carry_forward"] = "carry_forward"
    stage: Stage
    reason: Text


class ExtendDeadline(_Command):
    kind: Literal["extend_deadline"] = "extend_deadline"
    deadline: datetime
    reason: Reason = ""
    #: the new deadline is "until meeting N" (held at ``deadline``): a support
    #: deadline given so follows the meeting when it is rescheduled later
    until_meeting: MeetingNumber | None = None


class OpenHearing(_Command):
    kind: Literal["open_hearing"] = "open_hearing"


class RecordFindings(_Command):
    kind: Literal["record_findings"] = "record_findings"
    text: Text


class EvaluateCost(_Command):
    kind: Literal["evaluate_cost"] = "evaluate_cost"
    inputs: Annotated[CostInputs, AfterValidator(as_given)]


class OpenObjectionWindow(_Command):
    kind: Literal["open_objection_window"] = "open_objection_window"
    #: when the window ends; default: the policy's objection window from its opening
    ends_at: datetime | None = None
    #: the window runs "until meeting N" (held at ``ends_at``): it follows the meeting
    until_meeting: MeetingNumber | None = None


class Approve(_Command):
    kind: Literal["approve"] = "approve"
    planned_release: date


class ChangeReleaseDate(_Command):
    kind: Literal["change_release_date"] = "change_release_date"
    planned_release: date
    reason: Reason = ""


class Release(_Command):
    kind: Literal["release"] = "release"
    released_on: date | None = None


class Hold(_Command):
    kind: Literal["hold"] = "hold"
    reason: Text


class Resume(_Command):
    kind: Literal["resume"] = "resume"
    reason: Reason = ""


class Close(_Command):
    kind: Literal["close"] = "close"
    reason: CloseReason
    duplicate_of: RequestNumber | None = None
    note: Reason = ""
    #: more requests it duplicates, besides ``duplicate_of`` (issue 20)
    duplicates: tuple[RequestNumber, ...] = Field(
        (), description="more requests it duplicates, besides duplicate_of"
    )

    @property
    def duplicated(self) -> tuple[int, ...]:
        """Every request it duplicates, in the order given, each once."""
        first = () if self.duplicate_of is None else (self.duplicate_of,)
        return tuple(dict.fromkeys(first + self.duplicates))


class RecordAnswer(_Command):
    kind: Literal["record_answer"] = "record_answer"
    text: Text
    continued: bool = Field(False, description="(継続): carried over to the next meeting")
    #: the other requests the same answer was given to at once (issue 20)
    together_with: tuple[RequestNumber, ...] = Field(
        (), description="the other requests given the same answer"
    )


class CorrectAnswer(_Command):
    kind: Literal["correct_answer"] = "correct_answer"
    answer_id: str
    text: Text
    reason: Text


# --- the secretariat's discretion and after the end (issue 20) -----------------


class HearBelowThreshold(_Command):
    """The secretariat holds the hearing before the support reaches the threshold
    (No.13: "起案者及び賛同者へのヒアリングを行いたい" at 4 of 5), saying why."""

    kind: Literal["hear_below_threshold"] = "hear_below_threshold"
    reason: Text


class EvaluateWithoutHearing(_Command):
    """The secretariat evaluates the cost of a request with enough support
    without hearing the members (No.78: "賛同数の条件を満たしましたので、費用対効果の
    検討を実施しました"), saying why."""

    kind: Literal["evaluate_without_hearing"] = "evaluate_without_hearing"
    inputs: CostInputs
    reason: Text


class Reopen(_Command):
    """The secretariat re-opens a closed request: it returns to the stage it was
    closed from, with its number, endorsers and history; one closed short of
    support gathers it again until a new deadline."""

    kind: Literal["reopen"] = "reopen"
    reason: Text
    #: the new support deadline, where one is needed: the policy's window if not given
    deadline: datetime | None = None
    #: the new support deadline is "until meeting N" (held at ``deadline``)
    until_meeting: MeetingNumber | None = None


# --- the secretariat's windows (issue 20) ---------------------------------------


class FinalCall(_Command):
    """The secretariat's final call (次回会議(第N回)までに多数の賛同がなければクローズ):
    the support deadline becomes meeting N's day, earlier or later than it was, and
    follows the meeting. Everyone is told, as by the year's final-call timer."""

    kind: Literal["final_call"] = "final_call"
    until_meeting: MeetingNumber
    #: meeting ``until_meeting``'s day, as the calendar has it when the call is made
    deadline: datetime


class EndSupport(_Command):
    """The secretariat ends support gathering now, with the outcome the support
    deadline's timer would give: closed when short of the threshold."""

    kind: Literal["end_support"] = "end_support"


class EndObjectionWindow(_Command):
    """The secretariat concludes the objection window (会議後、「問題あり」というご意見は
    なかったことから): on to implementation, when no objection stands and the
    support holds."""

    kind: Literal["end_objection_window"] = "end_objection_window"


# --- timers ------------------------------------------------------------------


class TimerKind(StrEnum):
    SUPPORT_DEADLINE = "support_deadline"
    FINAL_CALL = "final_call"
    OBJECTION_WINDOW_END = "objection_window_end"
    DEADLINE_APPROACHING = "deadline_approaching"
    CLARIFICATION_REMINDER = "clarification_reminder"
    HOLD_REVIEW = "hold_review"
    PLANNED_RELEASE = "planned_release"


class TimerFired(_Command):
    """A durable timer fell due. ``due`` is when it was set for, which makes the
    command id (and so the write) the same however often the timer is retried."""

    kind: Literal["timer_fired"] = "timer_fired"
    timer: TimerKind
    due: datetime

    @classmethod
    def at(cls, timer: TimerKind, due: datetime) -> TimerFired:
        return cls(
            actor=Actor.timer(),
            timer=timer,
            due=due,
            command_id=f"timer:{timer.value}:{due.isoformat()}",
        )


Command = Annotated[
    Endorse
    | WithdrawEndorsement
    | AppendNote
    | AnswerClarification
    | RaiseObjection
    | WithdrawObjection
    | Withdraw
    | OpenSupport
    | AskClarification
    | WithdrawClarification
    | DismissObjection
    | IdentifyProposer
    | CarryForward
    | ExtendDeadline
    | OpenHearing
    | RecordFindings
    | EvaluateCost
    | OpenObjectionWindow
    | Approve
    | ChangeReleaseDate
    | Release
    | Hold
    | Resume
    | Close
    | RecordAnswer
    | CorrectAnswer
    | TimerFired
    # issue 20: the secretariat's discretion, and after the end
    | HearBelowThreshold
    | EvaluateWithoutHearing
    | Reopen
    # the secretariat's windows (issue 20)
    | FinalCall
    | EndSupport
    | EndObjectionWindow,
    Field(discriminator="kind"),
]

command_adapter: TypeAdapter[Command] = TypeAdapter(Command)
