"""Requests in every state, built the only way a request gets anywhere: by
running real commands through the ``Request`` aggregate (or the store).

A ``Scenario`` is the filing plus the dated commands that bring a request into
one ``State``. States are finer than stages where the rules care: a request in
``implementation`` behaves differently before and after it is approved.

The calendar follows the register: filed on 2017-06-01 (JST), endorsed over the
following days, implementation approved with a release planned for Feb 2019.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from ringi.domain.commands import (
    Approve,
    Close,
    Command,
    Endorse,
    EvaluateCost,
    FileRequest,
    Hold,
    OpenObjectionWindow,
    RecordAnswer,
    RecordFindings,
    Release,
    TimerFired,
    TimerKind,
)
from ringi.domain.cost import CostBearer, CostInputs, CostItem
from ringi.domain.lifecycle import JST
from ringi.domain.policy import Policy
from ringi.domain.request import Request
from ringi.domain.view import RequestView
from ringi.domain.vocabulary import Actor, Category, CloseReason, Stage

NUMBER = 1
PROPOSER = "A社"
ENDORSER = "B社"  # the first company to endorse, in every state after filing
OTHERS = ("C社", "D社", "E社")  # with the proposer and B社: the threshold of 5
OUTSIDER = "F社"  # a company that has nothing to do with the request yet

T0 = datetime(2017, 6, 1, 10, 0, tzinfo=JST)
PLANNED_RELEASE = date(2019, 2, 1)
RELEASED_AT = datetime(2019, 2, 1, 10, 0, tzinfo=JST)


def day(n: float) -> datetime:
    """``n`` days after the filing."""
    return T0 + timedelta(days=n)


def member(company: str = PROPOSER) -> Actor:
    return Actor.member(company, user=f"{company}担当")


def secretariat() -> Actor:
    return Actor.secretariat("事務局")


def timer() -> Actor:
    return Actor.timer()


def auditor() -> Actor:
    return Actor(role="auditor", user="監査")


# --- cost figures --------------------------------------------------------------------


def no61_inputs() -> CostInputs:
    """No.61: ~6,000 applications a month, a 5-year benefit of ~50M yen against
    ~1B yen of members' system cost."""
    return CostInputs(
        horizon_years=5,
        monthly_volume=6_000,
        total_benefit_yen=Decimal(50_000_000),
        cost_items=(CostItem(bearer=CostBearer.MEMBERS, amount_yen=Decimal(1_000_000_000)),),
    )


def cost_effective_inputs() -> CostInputs:
    """A benefit of 100 yen an application at 6,000 a month (36M yen over 5 years)
    against 30M yen in all."""
    return CostInputs(
        horizon_years=5,
        monthly_volume=6_000,
        benefit_per_unit_yen=Decimal(100),
        cost_items=(
            CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(20_000_000)),
            CostItem(bearer=CostBearer.MEMBERS, amount_yen=Decimal(10_000_000)),
        ),
    )


# --- scenarios -------------------------------------------------------------------------


class State(StrEnum):
    FILED = "filed"  # an opinion (意見): it waits for the secretariat to open support
    GATHERING_SUPPORT = "gathering_support"  # support 2 of 5
    THRESHOLD_MET = "threshold_met"  # support 5 of 5; the policy leaves the hearing to a person
    HEARING = "hearing"
    COST_EVALUATION = "cost_evaluation"  # the evaluation found it cost-effective
    NOT_COST_EFFECTIVE = "not_cost_effective"  # No.61's figures
    OBJECTION_WINDOW = "objection_window"
    IMPLEMENTATION = "implementation"  # the window ended with no objection; not yet approved
    APPROVED = "approved"  # in implementation, release planned
    ON_HOLD = "on_hold"  # held while gathering support
    ANSWERED = "answered"  # a question with its answer recorded
    RELEASED = "released"
    CLOSED = "closed"  # out of scope


STAGE_OF = {
    State.FILED: Stage.FILED,
    State.GATHERING_SUPPORT: Stage.GATHERING_SUPPORT,
    State.THRESHOLD_MET: Stage.GATHERING_SUPPORT,
    State.HEARING: Stage.HEARING,
    State.COST_EVALUATION: Stage.COST_EVALUATION,
    State.NOT_COST_EFFECTIVE: Stage.COST_EVALUATION,
    State.OBJECTION_WINDOW: Stage.OBJECTION_WINDOW,
    State.IMPLEMENTATION: Stage.IMPLEMENTATION,
    State.APPROVED: Stage.IMPLEMENTATION,
    State.ON_HOLD: Stage.ON_HOLD,
    State.ANSWERED: Stage.FILED,
    State.RELEASED: Stage.RELEASED,
    State.CLOSED: Stage.CLOSED,
}

OPEN_STATES = frozenset(s for s in State if not STAGE_OF[s].is_terminal)


@dataclass(frozen=True)
class Step:
    at: datetime
    command: Command


@dataclass
class Scenario:
    filing: FileRequest
    policy: Policy = field(default_factory=Policy)
    steps: list[Step] = field(default_factory=list)

    def then(self, at: datetime, command: Command) -> Scenario:
        self.steps.append(Step(at, command))
        return self

    @property
    def last_at(self) -> datetime:
        return self.steps[-1].at if self.steps else T0


def filing(category: Category = Category.REQUEST, meeting: int | None = None) -> FileRequest:
    return FileRequest(
        actor=member(PROPOSER),
        category=category,
        target="マイページ（API）",
        body="一括照会のAPIを追加してほしい",
        meeting=meeting,
    )


def gathering(policy: Policy | None = None) -> Scenario:
    s = Scenario(filing(), policy or Policy())
    return s.then(day(1), Endorse(actor=member(ENDORSER)))


def fully_supported(policy: Policy | None = None) -> Scenario:
    s = gathering(policy)
    for i, company in enumerate(OTHERS, start=2):
        s.then(day(i), Endorse(actor=member(company)))
    return s


def _evaluated(inputs: CostInputs) -> Scenario:
    s = fully_supported()
    s.then(day(5), RecordFindings(actor=secretariat(), text="事業者ヒアリング: 5社とも必要"))
    return s.then(day(6), EvaluateCost(actor=secretariat(), inputs=inputs))


def _objection_window() -> Scenario:
    return _evaluated(cost_effective_inputs()).then(
        day(7), OpenObjectionWindow(actor=secretariat())
    )


def objection_window_ends() -> datetime:
    return day(7) + Policy().objection_window


def _implementation() -> Scenario:
    end = objection_window_ends()
    return _objection_window().then(end, TimerFired.at(TimerKind.OBJECTION_WINDOW_END, end))


def _approved() -> Scenario:
    return _implementation().then(
        day(30), Approve(actor=secretariat(), planned_release=PLANNED_RELEASE)
    )


_SCENARIOS: dict[State, Callable[[], Scenario]] = {
    State.FILED: lambda: Scenario(filing(Category.OPINION)),
    State.GATHERING_SUPPORT: gathering,
    State.THRESHOLD_MET: lambda: fully_supported(Policy(auto_open_hearing=False)),
    State.HEARING: fully_supported,
    State.COST_EVALUATION: lambda: _evaluated(cost_effective_inputs()),
    State.NOT_COST_EFFECTIVE: lambda: _evaluated(no61_inputs()),
    State.OBJECTION_WINDOW: _objection_window,
    State.IMPLEMENTATION: _implementation,
    State.APPROVED: _approved,
    State.ON_HOLD: lambda: gathering().then(
        day(2), Hold(actor=secretariat(), reason="法改正の動向を見極めるため保留")
    ),
    State.ANSWERED: lambda: Scenario(filing(Category.QUESTION)).then(
        day(3), RecordAnswer(actor=secretariat(), text="現行仕様どおりです", meeting=None)
    ),
    State.RELEASED: lambda: _approved().then(RELEASED_AT, Release(actor=secretariat())),
    State.CLOSED: lambda: gathering().then(
        day(2), Close(actor=secretariat(), reason=CloseReason.OUT_OF_SCOPE)
    ),
}


def scenario(state: State) -> Scenario:
    """A fresh scenario (fresh command ids) that ends in ``state``."""
    return _SCENARIOS[state]()


# --- running scenarios through the aggregate -------------------------------------------


def run(s: Scenario, number: int = NUMBER) -> Request:
    request = Request.file(number, s.filing, s.policy, T0)
    for step in s.steps:
        request.handle(step.command, step.at)
    request.take_notifications()  # as the store does when it saves
    return request


def request_in(state: State, number: int = NUMBER) -> Request:
    return run(scenario(state), number)


def view_in(state: State) -> RequestView:
    return request_in(state).view()


def soon_after(view: RequestView) -> datetime:
    """A moment just after the last thing that happened to the request."""
    return view.updated_at + timedelta(hours=1)
