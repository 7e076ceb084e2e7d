"""The actions a request's page offers, one per API action slug.

Each action names the domain command it carries out, the fields of its form,
and the API's own body model, which validates the form as it validates a JSON
body (the same limits, one set of rules). Which actions a page shows is not
decided here: ``available`` asks ``lifecycle.check`` with a probe of each
command, so the page offers exactly what the domain would accept from this
actor in this state (what depends on the values typed, such as a deadline that
must be later, is checked when the form is sent, and refused there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ..api import models as m
from ..domain import commands as c
from ..domain import lifecycle
from ..domain.cost import CostBearer, CostInputs, CostItem
from ..domain.errors import Refused
from ..domain.lifecycle import JST
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, CloseReason, Role

Kind = Literal[
    "text", "textarea", "date", "number", "checkbox", "meeting", "close_reason", "answer"
]

#: close reasons a person may choose (withdrawn is the proposer's own action;
#: imported is what ``ringi import`` records)
CHOOSABLE_CLOSE_REASONS = tuple(
    r for r in CloseReason if r not in (CloseReason.WITHDRAWN, CloseReason.IMPORTED)
)
_FAR = date(2199, 12, 30)  # a probe date later than any real one


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # i18n key
    kind: Kind = "text"
    required: bool = False
    maxlength: int | None = None
    #: a date that stands for a moment: the end of that day in Japan
    moment: bool = False


@dataclass(frozen=True)
class Action:
    slug: str
    command: type[BaseModel]
    body: type[m.Body]
    build: Callable[[Any, dict[str, Any], Context], c.Command]
    probe: Callable[[RequestView], dict[str, Any] | None]
    fields: tuple[Field, ...] = ()

    @property
    def role(self) -> Role:
        """Who may take it, as the domain says (members' commands, or the secretariat's)."""
        return (
            Role.MEMBER if issubclass(self.command, lifecycle.MEMBER_COMMANDS) else Role.SECRETARIAT
        )

    @property
    def takes_meeting(self) -> bool:
        return self.role is Role.SECRETARIAT and "meeting" in self.body.model_fields


@dataclass(frozen=True)
class Context:
    """What building a command may need beyond the form."""

    view: RequestView
    meetings: Mapping[int, datetime]


@dataclass
class FormErrors(Exception):
    """Fields the form got wrong: field name -> (i18n key, values)."""

    fields: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)


# --- the actions ------------------------------------------------------------------------

TEXT = 20_000
REASON = 2_000


def day_end(day: date) -> datetime:
    """A deadline given as a day lasts to the end of that day in Japan."""
    return datetime.combine(day, time.max, JST)


def _always(_: RequestView) -> dict[str, Any]:
    return {}


def _text(name: str) -> Callable[[RequestView], dict[str, Any]]:
    return lambda _: {name: "?"}


def _extend(body: m.ExtendDeadlineBody, base: dict[str, Any], ctx: Context) -> c.Command:
    deadline = body.deadline
    if body.until_meeting is not None:
        if body.until_meeting not in ctx.meetings:
            raise Refused(
                f"meeting {body.until_meeting} (第{body.until_meeting}回) has not been opened; "
                "open it with its date first"
            )
        deadline = ctx.meetings[body.until_meeting]
    assert deadline is not None
    return c.ExtendDeadline(**base, deadline=deadline, reason=body.reason, meeting=body.meeting)


def _evaluate(body: m.EvaluateCostBody, base: dict[str, Any], ctx: Context) -> c.Command:
    try:
        inputs = body.inputs(ctx.view.policy.cost_horizon_years)
    except ValidationError:
        raise FormErrors({"total_benefit_yen": ("form.err.benefit", {})}) from None
    return c.EvaluateCost(**base, inputs=inputs, meeting=body.meeting)


def _correctable(view: RequestView) -> dict[str, Any] | None:
    current = [a for a in view.answers if a.superseded_by is None]
    if not current:
        return None
    return {"answer_id": current[-1].answer_id, "text": "?", "reason": "?"}


def _other_release(view: RequestView) -> dict[str, Any]:
    return {"planned_release": _FAR if view.planned_release != _FAR else date(2199, 12, 29)}


_PROBE_COST = {
    "inputs": CostInputs(
        horizon_years=1,
        total_benefit_yen=Decimal(0),
        cost_items=(CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(0)),),
    )
}
_MEETING = Field("meeting", "field.meeting", "meeting")

ACTIONS: tuple[Action, ...] = (
    # members
    Action("endorse", c.Endorse, m.AtMeeting, lambda b, base, _: c.Endorse(**base), _always),
    Action(
        "unendorse",
        c.WithdrawEndorsement,
        m.AtMeeting,
        lambda b, base, _: c.WithdrawEndorsement(**base),
        _always,
    ),
    Action(
        "notes",
        c.AppendNote,
        m.NoteBody,
        lambda b, base, _: c.AppendNote(**base, text=b.text),
        _text("text"),
        (Field("text", "field.note", "textarea", True, TEXT),),
    ),
    Action(
        "clarification-answer",
        c.AnswerClarification,
        m.ClarificationAnswerBody,
        lambda b, base, _: c.AnswerClarification(**base, text=b.text),
        _text("text"),
        (Field("text", "field.reply", "textarea", True, TEXT),),
    ),
    Action(
        "objections",
        c.RaiseObjection,
        m.ObjectionBody,
        lambda b, base, _: c.RaiseObjection(**base, reason=b.reason),
        _text("reason"),
        (Field("reason", "field.objection", "textarea", True, TEXT),),
    ),
    Action(
        "withdraw",
        c.Withdraw,
        m.WithdrawBody,
        lambda b, base, _: c.Withdraw(**base, reason=b.reason),
        _always,
        (Field("reason", "field.reason", "text", False, REASON),),
    ),
    # the secretariat
    Action(
        "answers",
        c.RecordAnswer,
        m.AnswerBody,
        lambda b, base, _: c.RecordAnswer(
            **base, text=b.text, continued=b.continued, meeting=b.meeting
        ),
        _text("text"),
        (
            Field("text", "field.answer", "textarea", True, TEXT),
            Field("continued", "field.continued", "checkbox"),
            _MEETING,
        ),
    ),
    Action(
        "open-support",
        c.OpenSupport,
        m.OpenSupportBody,
        lambda b, base, _: c.OpenSupport(**base, deadline=b.deadline),
        _always,
        (Field("deadline", "field.support_deadline", "date", moment=True),),
    ),
    Action(
        "ask-clarification",
        c.AskClarification,
        m.QuestionBody,
        lambda b, base, _: c.AskClarification(**base, question=b.question, meeting=b.meeting),
        _text("question"),
        (Field("question", "field.question", "textarea", True, TEXT), _MEETING),
    ),
    Action(
        "extend-deadline",
        c.ExtendDeadline,
        m.ExtendDeadlineBody,
        _extend,
        lambda _: {"deadline": day_end(_FAR)},
        (
            Field("deadline", "field.deadline", "date", moment=True),
            Field("until_meeting", "field.until_meeting", "meeting"),
            Field("reason", "field.reason", "text", False, REASON),
            _MEETING,
        ),
    ),
    Action(
        "open-hearing",
        c.OpenHearing,
        m.AtMeeting,
        lambda b, base, _: c.OpenHearing(**base, meeting=b.meeting),
        _always,
        (_MEETING,),
    ),
    Action(
        "findings",
        c.RecordFindings,
        m.FindingsBody,
        lambda b, base, _: c.RecordFindings(**base, text=b.text, meeting=b.meeting),
        _text("text"),
        (Field("text", "field.findings", "textarea", True, TEXT), _MEETING),
    ),
    Action(
        "cost-evaluation",
        c.EvaluateCost,
        m.EvaluateCostBody,
        _evaluate,
        lambda _: _PROBE_COST,
        (
            Field("monthly_volume", "field.monthly_volume", "number"),
            Field("benefit_per_unit_yen", "field.benefit_per_unit_yen", "number"),
            Field("total_benefit_yen", "field.total_benefit_yen", "number"),
            Field("horizon_years", "field.horizon_years", "number"),
            Field("cost_central", "field.cost_central", "number"),
            Field("cost_members", "field.cost_members", "number"),
            Field("cost_network_operators", "field.cost_network_operators", "number"),
            _MEETING,
        ),
    ),
    Action(
        "open-objection-window",
        c.OpenObjectionWindow,
        m.AtMeeting,
        lambda b, base, _: c.OpenObjectionWindow(**base, meeting=b.meeting),
        _always,
        (_MEETING,),
    ),
    Action(
        "approve",
        c.Approve,
        m.ApproveBody,
        lambda b, base, _: c.Approve(**base, planned_release=b.planned_release, meeting=b.meeting),
        lambda _: {"planned_release": _FAR},
        (Field("planned_release", "field.planned_release", "date", True), _MEETING),
    ),
    Action(
        "change-release",
        c.ChangeReleaseDate,
        m.ChangeReleaseBody,
        lambda b, base, _: c.ChangeReleaseDate(
            **base, planned_release=b.planned_release, reason=b.reason, meeting=b.meeting
        ),
        _other_release,
        (
            Field("planned_release", "field.planned_release", "date", True),
            Field("reason", "field.reason", "text", False, REASON),
            _MEETING,
        ),
    ),
    Action(
        "release",
        c.Release,
        m.ReleaseBody,
        lambda b, base, _: c.Release(**base, released_on=b.released_on, meeting=b.meeting),
        _always,
        (Field("released_on", "field.released_on", "date"), _MEETING),
    ),
    Action(
        "hold",
        c.Hold,
        m.HoldBody,
        lambda b, base, _: c.Hold(**base, reason=b.reason, meeting=b.meeting),
        _text("reason"),
        (Field("reason", "field.reason", "textarea", True, TEXT), _MEETING),
    ),
    Action(
        "resume",
        c.Resume,
        m.ResumeBody,
        lambda b, base, _: c.Resume(**base, reason=b.reason, meeting=b.meeting),
        _always,
        (Field("reason", "field.reason", "text", False, REASON), _MEETING),
    ),
    Action(
        "close",
        c.Close,
        m.CloseBody,
        lambda b, base, _: c.Close(
            **base, reason=b.reason, duplicate_of=b.duplicate_of, note=b.note, meeting=b.meeting
        ),
        lambda _: {"reason": CloseReason.OUT_OF_SCOPE},
        (
            Field("reason", "field.close_reason", "close_reason", True),
            Field("duplicate_of", "field.duplicate_of", "number"),
            Field("note", "field.close_note", "text", False, REASON),
            _MEETING,
        ),
    ),
    Action(
        "answer-corrections",
        c.CorrectAnswer,
        m.CorrectAnswerBody,
        lambda b, base, _: c.CorrectAnswer(
            **base, answer_id=b.answer_id, text=b.text, reason=b.reason, meeting=b.meeting
        ),
        _correctable,
        (
            Field("answer_id", "field.answer_id", "answer", True),
            Field("text", "field.correction", "textarea", True, TEXT),
            Field("reason", "field.reason", "textarea", True, TEXT),
            _MEETING,
        ),
    ),
)
BY_SLUG: dict[str, Action] = {a.slug: a for a in ACTIONS}


def available(view: RequestView, actor: Actor, at: datetime) -> list[Action]:
    """The actions the domain would accept from ``actor`` on ``view`` now."""
    offered = []
    for action in ACTIONS:
        if actor.role is not action.role:
            continue
        payload = action.probe(view)
        if payload is None:
            continue
        try:
            lifecycle.check(view, action.command(actor=actor, **payload), at)  # type: ignore[arg-type]
        except Refused:
            continue
        offered.append(action)
    return offered


# --- reading a form ---------------------------------------------------------------------


def parse(action: Action, form: Mapping[str, str]) -> BaseModel:
    """The form as the action's API body; ``FormErrors`` naming the fields if not."""
    raw: dict[str, Any] = {}
    errors = FormErrors()
    for f in action.fields:
        value = form.get(f.name, "")
        if f.kind == "checkbox":
            raw[f.name] = bool(value)
            continue
        value = value.strip()
        if not value:
            continue
        if f.moment:
            try:
                raw[f.name] = day_end(date.fromisoformat(value))
            except ValueError:
                errors.fields[f.name] = ("form.err.date", {})
            continue
        raw[f.name] = value
    if action.slug == "cost-evaluation":
        items = [
            {"bearer": bearer.value, "amount_yen": raw.pop(f"cost_{bearer.value}")}
            for bearer in CostBearer
            if f"cost_{bearer.value}" in raw
        ]
        raw["cost_items"] = items
    if errors.fields:
        raise errors
    try:
        return action.body.model_validate(raw)
    except ValidationError as invalid:
        raise FormErrors(_field_errors(action, invalid)) from None


def _field_errors(
    action: Action, invalid: ValidationError
) -> dict[str, tuple[str, dict[str, object]]]:
    names = [f.name for f in action.fields]
    found: dict[str, tuple[str, dict[str, object]]] = {}
    for error in invalid.errors():
        loc = [str(part) for part in error["loc"]]
        name = loc[0] if loc else ""
        if name == "cost_items":
            name = "cost_central"
            found.setdefault(name, ("form.err.cost", {}))
            continue
        if name not in names:  # a rule across fields (exactly one deadline, say)
            name = names[0]
            if action.slug == "extend-deadline":
                found.setdefault(name, ("form.err.one_deadline", {}))
                continue
        found.setdefault(name, message_of(error))
    return found


def message_of(error: Any) -> tuple[str, dict[str, object]]:
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "missing":
        return "form.err.missing", {}
    if kind == "string_too_short":
        return "form.err.missing", {}
    if kind == "string_too_long":
        return "form.err.too_long", {"limit": context.get("max_length", "")}
    if kind in ("enum", "literal_error"):
        return "form.err.choice", {}
    if kind.startswith(("int_", "decimal_", "float_", "greater_than", "less_than")):
        return "form.err.number", {}
    if kind.startswith(("date_", "datetime_")):
        return "form.err.date", {}
    return "form.err.invalid", {"detail": str(error.get("msg", ""))}


def base_of(actor: Actor, command_id: str) -> dict[str, Any]:
    return {"actor": actor, "command_id": command_id}
