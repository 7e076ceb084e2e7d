"""The actions taken on one request, declared once: each names its slug (the
last part of ``POST /v1/requests/{number}/<slug>``), the domain command it
carries out, the API's body model, and how that body becomes the command.

The API makes one endpoint of each (``routers.request_actions``); the web pages
make one form of each (``ringi.web.actions``), validated by the same body model
and built into the same command, so a page and the API cannot drift apart.
Who may take an action is the domain's to say, from its command.

The table is in the order the OpenAPI document lists the endpoints.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from ..domain import commands as c
from ..domain import lifecycle
from ..domain.meeting import meeting_day
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, Role, Stage
from . import models as m

if TYPE_CHECKING:
    from .context import ApiContext

B = TypeVar("B", bound=m.Body)

#: what every command takes besides its own fields: who acts, and the command's id
Base = dict[str, Any]


def base(actor: Actor, command_id: str) -> Base:
    return {"actor": actor, "command_id": command_id}


class Known:
    """What building a command may read besides its body, read only when asked:
    most commands need nothing, and their invalid input is refused (422) before
    the request is looked for (404)."""

    def __init__(self, ctx: ApiContext, number: int) -> None:
        self._ctx, self._number = ctx, number

    async def view(self) -> RequestView:
        return await self._ctx.reads.view(self._number)

    async def meetings(self) -> Mapping[int, datetime]:
        return await self._ctx.in_thread(self._ctx.ringi.store.meetings)


#: the command from the body; awaitable where it must read something first (``Known``)
Build = Callable[[B, Base, Known], c.Command | Awaitable[c.Command]]


@dataclass(frozen=True)
class Action(Generic[B]):
    slug: str
    command: type[BaseModel]
    body: type[B]
    build: Build[B]
    summary: str  # the OpenAPI summary
    description: str | None = None
    #: the API call may leave the body out, and is then as if it sent ``{}``
    body_optional: bool = False
    #: the endpoint's name, where it is not the slug's: operationIds start with it
    named: str | None = None

    @property
    def name(self) -> str:
        return self.named or self.slug.replace("-", "_")

    @property
    def role(self) -> Role:
        """Who may take it, as the domain says (members' commands, or the secretariat's)."""
        return (
            Role.MEMBER if issubclass(self.command, lifecycle.MEMBER_COMMANDS) else Role.SECRETARIAT
        )

    async def command_for(self, body: B, base: Base, known: Known) -> c.Command:
        """The command (``ValidationError`` if the domain finds it invalid, ``Refused``
        if what it names does not exist)."""
        made = self.build(body, base, known)
        if isinstance(made, Awaitable):
            return await made
        return made


async def _until(
    deadline: datetime | None, until_meeting: int | None, known: Known
) -> datetime | None:
    """The deadline a body gives: its own, or the day meeting N is held."""
    if until_meeting is None:
        return deadline
    return meeting_day(await known.meetings(), until_meeting)


async def _open_support(body: m.OpenSupportBody, base: Base, known: Known) -> c.Command:
    deadline = await _until(body.deadline, body.until_meeting, known)
    return c.OpenSupport(**base, deadline=deadline, until_meeting=body.until_meeting)


async def _extend(body: m.ExtendDeadlineBody, base: Base, known: Known) -> c.Command:
    deadline = await _until(body.deadline, body.until_meeting, known)
    assert deadline is not None  # the body holds exactly one of the two
    return c.ExtendDeadline(
        **base,
        deadline=deadline,
        reason=body.reason,
        meeting=body.meeting,
        until_meeting=body.until_meeting,
    )


# the secretariat's windows (issue 20)
async def _open_objection_window(
    body: m.OpenObjectionWindowBody, base: Base, known: Known
) -> c.Command:
    ends_at = await _until(body.ends_at, body.until_meeting, known)
    return c.OpenObjectionWindow(
        **base, ends_at=ends_at, until_meeting=body.until_meeting, meeting=body.meeting
    )


async def _final_call(body: m.FinalCallBody, base: Base, known: Known) -> c.Command:
    deadline = meeting_day(await known.meetings(), body.until_meeting)
    return c.FinalCall(
        **base, until_meeting=body.until_meeting, deadline=deadline, meeting=body.meeting
    )


async def _evaluate(body: m.EvaluateCostBody, base: Base, known: Known) -> c.Command:
    years = body.horizon_years or (await known.view()).policy.cost_horizon_years
    return c.EvaluateCost(**base, inputs=body.inputs(years), meeting=body.meeting)


async def _evaluate_without_hearing(
    body: m.EvaluateWithoutHearingBody, base: Base, known: Known
) -> c.Command:
    years = body.horizon_years or (await known.view()).policy.cost_horizon_years
    return c.EvaluateWithoutHearing(
        **base, inputs=body.inputs(years), reason=body.reason, meeting=body.meeting
    )


async def _reopen(body: m.ReopenBody, base: Base, known: Known) -> c.Command:
    deadline = await _until(body.deadline, body.until_meeting, known)
    return c.Reopen(
        **base,
        reason=body.reason,
        deadline=deadline,
        until_meeting=body.until_meeting,
        meeting=body.meeting,
    )


ACTIONS: tuple[Action[Any], ...] = (
    # members
    Action(
        "endorse",
        c.Endorse,
        m.AtMeeting,
        lambda b, base, _: c.Endorse(**base, meeting=b.meeting),
        "Endorse (賛同)",
        body_optional=True,
    ),
    Action(
        "unendorse",
        c.WithdrawEndorsement,
        m.AtMeeting,
        lambda b, base, _: c.WithdrawEndorsement(**base, meeting=b.meeting),
        "Withdraw your endorsement",
        body_optional=True,
    ),
    Action(
        "notes",
        c.AppendNote,
        m.NoteBody,
        lambda b, base, _: c.AppendNote(**base, text=b.text, meeting=b.meeting),
        "Append a note to your own request (追記)",
        named="append",
    ),
    Action(
        "clarification-answer",
        c.AnswerClarification,
        m.ClarificationAnswerBody,
        lambda b, base, _: c.AnswerClarification(**base, text=b.text),
        "Answer the secretariat's clarification question on your request",
        named="answer_clarification",
    ),
    Action(
        "objections",
        c.RaiseObjection,
        m.ObjectionBody,
        lambda b, base, _: c.RaiseObjection(**base, reason=b.reason),
        "Object during the objection window",
        named="object_",
    ),
    Action(
        "objection-withdrawal",
        c.WithdrawObjection,
        m.WithdrawBody,
        lambda b, base, _: c.WithdrawObjection(**base, reason=b.reason),
        "Withdraw your objection while the window is open",
        body_optional=True,
        named="withdraw_objection",
    ),
    Action(
        "withdraw",
        c.Withdraw,
        m.WithdrawBody,
        lambda b, base, _: c.Withdraw(**base, reason=b.reason),
        "Withdraw your own request",
        body_optional=True,
    ),
    # the secretariat
    Action(
        "open-support",
        c.OpenSupport,
        m.OpenSupportBody,
        _open_support,
        "Open support gathering for a filed opinion (意見)",
        body_optional=True,
    ),
    Action(
        "ask-clarification",
        c.AskClarification,
        m.QuestionBody,
        lambda b, base, _: c.AskClarification(**base, question=b.question, meeting=b.meeting),
        "Ask the proposer to clarify",
    ),
    Action(
        "clarification-withdrawal",
        c.WithdrawClarification,
        m.WithdrawQuestionBody,
        lambda b, base, _: c.WithdrawClarification(**base, reason=b.reason, meeting=b.meeting),
        "Withdraw the unanswered clarification question",
        description="Settled another way, or asked of nobody who can answer (an imported "
        "request's proposer is unknown). Another question may then be asked.",
        named="withdraw_clarification",
    ),
    Action(
        "objection-dismissals",
        c.DismissObjection,
        m.DismissObjectionBody,
        lambda b, base, _: c.DismissObjection(
            **base, company=b.company, reason=b.reason, meeting=b.meeting
        ),
        "Rule a member's objection not blocking",
        description="While the objection window is open. When it ends, only the objections "
        "still standing (neither withdrawn nor dismissed) send the request back to the "
        "cost evaluation.",
        named="dismiss_objection",
    ),
    Action(
        "proposer",
        c.IdentifyProposer,
        m.ProposerBody,
        lambda b, base, _: c.IdentifyProposer(**base, company=b.company, meeting=b.meeting),
        "Name the proposer of an imported request",
        description="A register imported from a spreadsheet does not say who proposed each "
        "request; once named, that company appends notes, answers clarifications and "
        "withdraws as the proposer. 409 if the request names its proposer already.",
        named="identify_proposer",
    ),
    Action(
        "carry-forward",
        c.CarryForward,
        m.CarryForwardBody,
        lambda b, base, _: c.CarryForward(
            **base, stage=Stage(b.stage), reason=b.reason, meeting=b.meeting
        ),
        "Carry an imported request forward to where its answers say it stands",
        description="An imported register shows only a count or 保留 / クローズ, so the import "
        "places a request by that alone (a count that met the threshold: the hearing). The "
        "secretariat carries it forward, never back: to the cost evaluation, or to "
        "implementation (then approve it with its planned release). Only an imported "
        "request (要望), not on hold.",
    ),
    Action(
        "extend-deadline",
        c.ExtendDeadline,
        m.ExtendDeadlineBody,
        _extend,
        "Extend the running deadline (support window or objection window)",
    ),
    Action(
        "open-hearing",
        c.OpenHearing,
        m.AtMeeting,
        lambda b, base, _: c.OpenHearing(**base, meeting=b.meeting),
        "Open the members' hearing (needs enough support)",
        body_optional=True,
    ),
    Action(
        "findings",
        c.RecordFindings,
        m.FindingsBody,
        lambda b, base, _: c.RecordFindings(**base, text=b.text, meeting=b.meeting),
        "Record what the hearing found",
        named="record_findings",
    ),
    Action(
        "cost-evaluation",
        c.EvaluateCost,
        m.EvaluateCostBody,
        _evaluate,
        "Record a cost-effectiveness evaluation",
        description="State the benefit one way: benefit_per_unit_yen with monthly_volume, or "
        "total_benefit_yen over the horizon (default: the request's policy, 5 years).",
        named="evaluate_cost",
    ),
    Action(
        "open-objection-window",
        c.OpenObjectionWindow,
        m.OpenObjectionWindowBody,
        _open_objection_window,
        "Open the objection window after a cost-effective evaluation",
        description="By default for the policy's objection window; or until a moment "
        "(ends_at), or until meeting N is held (until_meeting), which it then follows "
        "when the meeting is moved later.",
        body_optional=True,
    ),
    Action(
        "approve",
        c.Approve,
        m.ApproveBody,
        lambda b, base, _: c.Approve(**base, planned_release=b.planned_release, meeting=b.meeting),
        "Approve implementation with a planned release",
    ),
    Action(
        "change-release",
        c.ChangeReleaseDate,
        m.ChangeReleaseBody,
        lambda b, base, _: c.ChangeReleaseDate(
            **base, planned_release=b.planned_release, reason=b.reason, meeting=b.meeting
        ),
        "Change the planned release date",
    ),
    Action(
        "release",
        c.Release,
        m.ReleaseBody,
        lambda b, base, _: c.Release(**base, released_on=b.released_on, meeting=b.meeting),
        "Record the release",
        body_optional=True,
    ),
    Action(
        "hold",
        c.Hold,
        m.HoldBody,
        lambda b, base, _: c.Hold(**base, reason=b.reason, meeting=b.meeting),
        "Put a request on hold (保留); its deadlines stop",
    ),
    Action(
        "resume",
        c.Resume,
        m.ResumeBody,
        lambda b, base, _: c.Resume(**base, reason=b.reason, meeting=b.meeting),
        "Resume a held request in the stage it left",
        body_optional=True,
    ),
    Action(
        "close",
        c.Close,
        m.CloseBody,
        lambda b, base, _: c.Close(
            **base,
            reason=b.reason,
            duplicate_of=b.duplicate_of,
            note=b.note,
            meeting=b.meeting,
            duplicates=tuple(b.duplicates),
        ),
        "Close a request (クローズ) with a reason",
    ),
    Action(
        "answers",
        c.RecordAnswer,
        m.AnswerBody,
        lambda b, base, _: c.RecordAnswer(
            **base, text=b.text, continued=b.continued, meeting=b.meeting
        ),
        "Record an answer (回答), usually at a meeting",
        named="answer",
    ),
    Action(
        "answer-corrections",
        c.CorrectAnswer,
        m.CorrectAnswerBody,
        lambda b, base, _: c.CorrectAnswer(
            **base, answer_id=b.answer_id, text=b.text, reason=b.reason, meeting=b.meeting
        ),
        "Correct an answer: a new answer that points at the old one",
        named="correct_answer",
    ),
    # the secretariat's discretion and after the end (issue 20)
    Action(
        "hear-below-threshold",
        c.HearBelowThreshold,
        m.HearBelowThresholdBody,
        lambda b, base, _: c.HearBelowThreshold(**base, reason=b.reason, meeting=b.meeting),
        "Hold the members' hearing before the support reaches the threshold, with a reason",
    ),
    Action(
        "cost-evaluation-without-hearing",
        c.EvaluateWithoutHearing,
        m.EvaluateWithoutHearingBody,
        _evaluate_without_hearing,
        "Evaluate the cost of a request with enough support without a hearing, with a reason",
        description="From gathering support (where the policy does not open the hearing by "
        "itself) or from a hearing with no findings. The body is a cost evaluation's, "
        "with its reason.",
        named="evaluate_without_hearing",
    ),
    Action(
        "reopen",
        c.Reopen,
        m.ReopenBody,
        _reopen,
        "Reopen a closed request in the stage it was closed from",
        description="Its number, endorsers and history are kept; the reopening is a new "
        "event. One closed short of support gathers it again until a new deadline (the "
        "policy's window unless given). 409 if it is not closed.",
    ),
)
# the secretariat's windows (issue 20)
ACTIONS += (
    Action(
        "final-call",
        c.FinalCall,
        m.FinalCallBody,
        _final_call,
        "Issue a final call: support runs until meeting N, earlier or later",
        description="次回会議(第N回)までに多数の賛同がなければクローズ: the support deadline "
        "becomes the day meeting N is held, and follows it when the meeting is moved later. "
        "The proposer, the endorsers and every member are told. 409 unless support is "
        "being gathered, or if the meeting's day has passed.",
    ),
    Action(
        "end-support",
        c.EndSupport,
        m.AtMeeting,
        lambda b, base, _: c.EndSupport(**base, meeting=b.meeting),
        "End support gathering now, as its deadline would",
        description="What the support deadline's timer records: the support window closes, "
        "and a request short of the threshold is closed (insufficient support). 409 if the "
        "window has ended already (by its timer, say).",
        body_optional=True,
    ),
    Action(
        "end-objection-window",
        c.EndObjectionWindow,
        m.AtMeeting,
        lambda b, base, _: c.EndObjectionWindow(**base, meeting=b.meeting),
        "Conclude the objection window: on to implementation",
        description="The secretariat concludes the window (no problem was raised), before "
        "its timer. 409 while an objection stands (named in the message), when the support "
        "is short of the threshold, or if the window has ended already (by its timer, say).",
        body_optional=True,
    ),
)
BY_SLUG: dict[str, Action[Any]] = {a.slug: a for a in ACTIONS}
