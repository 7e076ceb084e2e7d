"""Cost-effectiveness: benefit over the horizon against every cost item."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ringi.domain.cost import CostBearer, CostEvaluation, CostInputs
from tests.domain_builders import no61_inputs


def members(amount: int) -> dict[str, Any]:
    return {"bearer": CostBearer.MEMBERS, "amount_yen": amount}


def test_no61_is_not_cost_effective() -> None:
    """50M yen of benefit over 5 years against 1B yen of members' cost."""
    evaluation = CostEvaluation.of(no61_inputs())

    assert evaluation.benefit_yen == Decimal(50_000_000)
    assert evaluation.total_cost_yen == Decimal(1_000_000_000)
    assert evaluation.ratio == Decimal("0.05")
    assert evaluation.cost_effective is False


def test_benefit_per_unit_is_counted_every_month_of_the_horizon() -> None:
    inputs = CostInputs(
        horizon_years=5,
        monthly_volume=6_000,
        benefit_per_unit_yen=Decimal("150"),
        cost_items=(members(50_000_000),),
    )

    evaluation = CostEvaluation.of(inputs)

    assert evaluation.benefit_yen == Decimal(150 * 6_000 * 12 * 5)  # 54M yen
    assert evaluation.ratio == Decimal("1.08")
    assert evaluation.cost_effective is True


def test_the_horizon_scales_a_per_unit_benefit() -> None:
    def benefit(years: int) -> Decimal:
        inputs = CostInputs(
            horizon_years=years,
            monthly_volume=1_000,
            benefit_per_unit_yen=Decimal("10"),
            cost_items=(members(1),),
        )
        return CostEvaluation.of(inputs).benefit_yen

    assert benefit(1) == Decimal(120_000)
    assert benefit(3) == Decimal(360_000)


def test_all_cost_items_count_whoever_bears_them() -> None:
    inputs = CostInputs(
        horizon_years=5,
        total_benefit_yen=Decimal(100),
        cost_items=(
            {"bearer": CostBearer.CENTRAL, "amount_yen": 40, "label": "広域機関システム"},
            {"bearer": CostBearer.MEMBERS, "amount_yen": 40},
            {"bearer": CostBearer.NETWORK_OPERATORS, "amount_yen": 21},
        ),
    )

    evaluation = CostEvaluation.of(inputs)

    assert evaluation.total_cost_yen == Decimal(101)
    assert evaluation.cost_effective is False


@pytest.mark.parametrize(
    ("benefit", "cost", "cost_effective", "ratio"),
    [
        (1_000, 999, True, Decimal("1.0010")),
        (1_000, 1_000, True, Decimal("1")),  # the rule is benefit ≥ cost: equal is enough
        (999, 1_000, False, Decimal("0.999")),
    ],
)
def test_benefit_equal_to_the_cost_is_cost_effective(
    benefit: int, cost: int, cost_effective: bool, ratio: Decimal
) -> None:
    inputs = CostInputs(
        horizon_years=5, total_benefit_yen=Decimal(benefit), cost_items=(members(cost),)
    )

    evaluation = CostEvaluation.of(inputs)

    assert evaluation.cost_effective is cost_effective
    assert evaluation.ratio == ratio


@pytest.mark.parametrize("benefit", [0, 1_000])
def test_nothing_to_pay_is_cost_effective_with_no_ratio(benefit: int) -> None:
    inputs = CostInputs(
        horizon_years=5, total_benefit_yen=Decimal(benefit), cost_items=(members(0),)
    )

    evaluation = CostEvaluation.of(inputs)

    assert evaluation.total_cost_yen == 0
    assert evaluation.ratio is None
    assert evaluation.cost_effective is True


def test_an_evaluation_keeps_its_figures_through_json() -> None:
    """The CostEvaluated event stores the evaluation as JSON; nothing may drift."""
    evaluation = CostEvaluation.of(no61_inputs())

    assert CostEvaluation.model_validate(evaluation.model_dump(mode="json")) == evaluation


# --- inputs that do not make an evaluation ------------------------------------------------

VALID: dict[str, Any] = {
    "horizon_years": 5,
    "monthly_volume": 6_000,
    "benefit_per_unit_yen": Decimal(100),
    "cost_items": (members(1_000),),
}


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        pytest.param(
            {"total_benefit_yen": Decimal(50_000_000)},
            None,
            "state the benefit one way",
            id="both-benefit-forms",
        ),
        pytest.param(
            {"benefit_per_unit_yen": None},
            None,
            "state the benefit one way",
            id="no-benefit-at-all",
        ),
        pytest.param(
            {"monthly_volume": None},
            None,
            "a benefit per unit needs the monthly volume",
            id="per-unit-without-volume",
        ),
        pytest.param({"cost_items": ()}, "cost_items", "at least 1 item", id="no-cost-items"),
        pytest.param(
            {"cost_items": (members(-1),)},
            "amount_yen",
            "greater than or equal to 0",
            id="negative-cost",
        ),
        pytest.param(
            {"benefit_per_unit_yen": Decimal(-5)},
            "benefit_per_unit_yen",
            "greater than or equal to 0",
            id="negative-benefit-per-unit",
        ),
        pytest.param(
            {"benefit_per_unit_yen": None, "total_benefit_yen": Decimal(-1)},
            "total_benefit_yen",
            "greater than or equal to 0",
            id="negative-total-benefit",
        ),
        pytest.param(
            {"monthly_volume": -6_000},
            "monthly_volume",
            "greater than or equal to 0",
            id="negative-volume",
        ),
        pytest.param(
            {"horizon_years": 0},
            "horizon_years",
            "greater than or equal to 1",
            id="no-horizon",
        ),
    ],
)
def test_invalid_inputs_are_refused_naming_the_problem(
    change: dict[str, Any], field: str | None, problem: str
) -> None:
    CostInputs(**VALID)  # the baseline is valid: only the change makes it wrong

    with pytest.raises(ValidationError) as raised:
        CostInputs(**{**VALID, **change})

    named = [
        error
        for error in raised.value.errors()
        if problem in error["msg"] and (field is None or field in error["loc"])
    ]
    assert named, raised.value.errors()
