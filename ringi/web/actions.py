"""The actions a request's page offers: a form for each action on a request
(``ringi.api.actions``: its slug, its domain command, the API's body model, and
how that body becomes the command), with the form's fields and a probe.

The API's body model validates the form as it validates a JSON body (the same
limits, one set of rules), and the command is built as the API builds it. Which
actions a page shows is not decided here: ``available`` asks ``lifecycle.check``
with a probe of each command, so the page offers exactly what the domain would
accept from this actor in this state (what depends on the values typed, such as
a deadline that must be later, is checked when the form is sent, and refused
there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ..api import actions as api_actions
from ..domain import lifecycle
from ..domain.cost import CostBearer, CostInputs, CostItem
from ..domain.errors import Refused
from ..domain.lifecycle import end_of_day
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, CloseReason, Role, Stage

Kind = Literal[
    "text",
    "textarea",
    "date",
    "number",
    "checkbox",
    "meeting",
    "close_reason",
    "answer",
    "objection",
    "carry_stage",
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


#: a payload the command would be made with, to ask the domain whether to offer the
#: action at all (None: not on this request)
Probe = Callable[[RequestView], dict[str, Any] | None]


@dataclass(frozen=True)
class Action:
    api: api_actions.Action[Any]  # what it does, declared once for the API and the pages
    probe: Probe
    fields: tuple[Field, ...] = ()

    @property
    def slug(self) -> str:
        return self.api.slug

    @property
    def role(self) -> Role:
        return self.api.role


@dataclass
class FormErrors(Exception):
    """Fields the form got wrong: field name -> (i18n key, values)."""

    fields: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)


# --- the actions ------------------------------------------------------------------------

TEXT = 20_000
REASON = 2_000


def _always(_: RequestView) -> dict[str, Any]:
    return {}


def _text(name: str) -> Callable[[RequestView], dict[str, Any]]:
    return lambda _: {name: "?"}


def _correctable(view: RequestView) -> dict[str, Any] | None:
    current = [a for a in view.answers if a.superseded_by is None]
    if not current:
        return None
    return {"answer_id": current[-1].answer_id, "text": "?", "reason": "?"}


def _standing_objection(view: RequestView) -> dict[str, Any] | None:
    window = view.objection_window
    standing = window.standing if window is not None else []
    return {"company": standing[0].company, "reason": "?"} if standing else None


def _other_release(view: RequestView) -> dict[str, Any]:
    return {"planned_release": _FAR if view.planned_release != _FAR else date(2199, 12, 29)}


def _probe_cost(view: RequestView) -> dict[str, Any]:
    return {
        "inputs": CostInputs(
            horizon_years=view.policy.cost_horizon_years,  # the rule's: no other is taken
            total_benefit_yen=Decimal(0),
            cost_items=(CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(0)),),
        )
    }


_MEETING = Field("meeting", "field.meeting", "meeting")


def _form(slug: str, probe: Probe, *fields: Field) -> Action:
    return Action(api_actions.BY_SLUG[slug], probe, fields)


#: in the order the page lists them
ACTIONS: tuple[Action, ...] = (
    # members
    _form("endorse", _always),
    _form("unendorse", _always),
    _form("notes", _text("text"), Field("text", "field.note", "textarea", True, TEXT)),
    _form(
        "clarification-answer",
        _text("text"),
        Field("text", "field.reply", "textarea", True, TEXT),
    ),
    _form(
        "objections", _text("reason"), Field("reason", "field.objection", "textarea", True, TEXT)
    ),
    _form(
        "objection-withdrawal",
        _always,
        Field("reason", "field.reason", "text", False, REASON),
    ),
    _form("withdraw", _always, Field("reason", "field.reason", "text", False, REASON)),
    # the secretariat
    _form(
        "answers",
        _text("text"),
        Field("text", "field.answer", "textarea", True, TEXT),
        Field("continued", "field.continued", "checkbox"),
        _MEETING,
    ),
    _form(
        "open-support",
        _always,
        Field("deadline", "field.support_deadline", "date", moment=True),
        Field("until_meeting", "field.until_meeting", "meeting"),
    ),
    _form(
        "ask-clarification",
        _text("question"),
        Field("question", "field.question", "textarea", True, TEXT),
        _MEETING,
    ),
    _form(
        "clarification-withdrawal",
        _text("reason"),
        Field("reason", "field.reason", "text", True, REASON),
        _MEETING,
    ),
    _form(
        "objection-dismissals",
        _standing_objection,
        Field("company", "field.objection_company", "objection", True),
        Field("reason", "field.dismissal", "textarea", True, TEXT),
        _MEETING,
    ),
    _form(
        "proposer",
        _text("company"),
        Field("company", "field.company", "text", True, 200),
        _MEETING,
    ),
    _form(
        "carry-forward",
        lambda view: {"stage": Stage.IMPLEMENTATION, "reason": "?"},
        Field("stage", "field.stage", "carry_stage", True),
        Field("reason", "field.carry_reason", "textarea", True, TEXT),
        _MEETING,
    ),
    _form(
        "extend-deadline",
        lambda _: {"deadline": end_of_day(_FAR)},
        Field("deadline", "field.deadline", "date", moment=True),
        Field("until_meeting", "field.until_meeting", "meeting"),
        Field("reason", "field.reason", "text", False, REASON),
        _MEETING,
    ),
    _form("open-hearing", _always, _MEETING),
    _form(
        "findings",
        _text("text"),
        Field("text", "field.findings", "textarea", True, TEXT),
        _MEETING,
    ),
    _form(
        "cost-evaluation",
        _probe_cost,
        Field("monthly_volume", "field.monthly_volume", "number"),
        Field("benefit_per_unit_yen", "field.benefit_per_unit_yen", "number"),
        Field("total_benefit_yen", "field.total_benefit_yen", "number"),
        Field("cost_central", "field.cost_central", "number"),
        Field("cost_members", "field.cost_members", "number"),
        Field("cost_network_operators", "field.cost_network_operators", "number"),
        _MEETING,
    ),
    _form(
        "open-objection-window",
        _always,
        Field("ends_at", "field.objection_deadline", "date", moment=True),
        Field("until_meeting", "field.until_meeting", "meeting"),
        _MEETING,
    ),
    _form(
        "approve",
        lambda _: {"planned_release": _FAR},
        Field("planned_release", "field.planned_release", "date", True),
        _MEETING,
    ),
    _form(
        "change-release",
        _other_release,
        Field("planned_release", "field.planned_release", "date", True),
        Field("reason", "field.reason", "text", False, REASON),
        _MEETING,
    ),
    _form(
        "release",
        _always,
        Field("released_on", "field.released_on", "date"),
        _MEETING,
    ),
    _form(
        "hold",
        _text("reason"),
        Field("reason", "field.reason", "textarea", True, TEXT),
        _MEETING,
    ),
    _form(
        "resume",
        _always,
        Field("reason", "field.reason", "text", False, REASON),
        _MEETING,
    ),
    _form(
        "close",
        lambda _: {"reason": CloseReason.OUT_OF_SCOPE},
        Field("reason", "field.close_reason", "close_reason", True),
        Field("duplicate_of", "field.duplicate_of", "number"),
        Field("note", "field.close_note", "text", False, REASON),
        _MEETING,
    ),
    _form(
        "answer-corrections",
        _correctable,
        Field("answer_id", "field.answer_id", "answer", True),
        Field("text", "field.correction", "textarea", True, TEXT),
        Field("reason", "field.reason", "textarea", True, TEXT),
        _MEETING,
    ),
    # the secretariat's discretion and after the end (issue 20)
    _form(
        "hear-below-threshold",
        _text("reason"),
        Field("reason", "field.discretion_reason", "textarea", True, TEXT),
        _MEETING,
    ),
    _form(
        "cost-evaluation-without-hearing",
        lambda view: {**_probe_cost(view), "reason": "?"},
        Field("reason", "field.discretion_reason", "textarea", True, TEXT),
        Field("monthly_volume", "field.monthly_volume", "number"),
        Field("benefit_per_unit_yen", "field.benefit_per_unit_yen", "number"),
        Field("total_benefit_yen", "field.total_benefit_yen", "number"),
        Field("cost_central", "field.cost_central", "number"),
        Field("cost_members", "field.cost_members", "number"),
        Field("cost_network_operators", "field.cost_network_operators", "number"),
        _MEETING,
    ),
    _form(
        "reopen",
        _text("reason"),
        Field("reason", "field.discretion_reason", "textarea", True, TEXT),
        Field("deadline", "field.reopen_deadline", "date", moment=True),
        Field("until_meeting", "field.until_meeting", "meeting"),
        _MEETING,
    ),
)
# the secretariat's windows (issue 20)
ACTIONS += (
    _form(
        "final-call",
        lambda _: {"until_meeting": 1, "deadline": end_of_day(_FAR)},
        Field("until_meeting", "field.final_call_meeting", "meeting", True),
        _MEETING,
    ),
    _form("end-support", _always, _MEETING),
    _form("end-objection-window", _always, _MEETING),
)
BY_SLUG: dict[str, Action] = {a.slug: a for a in ACTIONS}
if BY_SLUG.keys() != api_actions.BY_SLUG.keys():  # a new action of the API needs its form here
    raise RuntimeError(f"no form for {sorted(api_actions.BY_SLUG.keys() - BY_SLUG.keys())}")


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
            lifecycle.check(view, action.api.command(actor=actor, **payload), at)  # type: ignore[arg-type]
        except Refused:
            continue
        offered.append(action)
    return offered


#: the forms of a cost evaluation's figures
_COST_FORMS = ("cost-evaluation", "cost-evaluation-without-hearing")


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
                raw[f.name] = end_of_day(date.fromisoformat(value))
            except ValueError:
                errors.fields[f.name] = ("form.err.date", {})
            continue
        # a form sends text; the body takes a number as a number (ringi.domain.text)
        digits = f.kind in ("number", "meeting") and value.isascii() and value.isdigit()
        raw[f.name] = int(value) if digits and len(value) <= 18 else value
    if action.slug in _COST_FORMS:
        items = [
            {"bearer": bearer.value, "amount_yen": raw.pop(f"cost_{bearer.value}")}
            for bearer in CostBearer
            if f"cost_{bearer.value}" in raw
        ]
        raw["cost_items"] = items
    if errors.fields:
        raise errors
    try:
        body: BaseModel = action.api.body.model_validate(raw)
    except ValidationError as invalid:
        raise FormErrors(_field_errors(action, invalid)) from None
    return body


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


def build_errors(
    action: Action, invalid: ValidationError
) -> dict[str, tuple[str, dict[str, object]]]:
    """What the command refused that the form let through, on the form's fields."""
    if action.slug in _COST_FORMS:  # the figures do not state the benefit one way
        return {"total_benefit_yen": ("form.err.benefit", {})}
    detail = "; ".join(str(e["msg"]) for e in invalid.errors())
    name = action.fields[0].name if action.fields else "form"
    return {name: ("form.err.invalid", {"detail": detail})}
