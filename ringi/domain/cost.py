"""Cost-effectiveness: is the benefit over the horizon at least the total cost?

DESIGN.md: "benefit over a 5-year horizon ≥ total cost (all cost items: central
system, members' side, network operators' side)". No.61 is the worked example:
about 6,000 applications a month, a 5-year benefit of about 50M yen against
about 1B yen of members' system cost: not cost-effective.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from .bounds import MAX_HORIZON_YEARS, MAX_MONTHLY_VOLUME, MAX_YEN
from .errors import Refused
from .text import clean

__all__ = ["MAX_HORIZON_YEARS", "MAX_MONTHLY_VOLUME", "MAX_YEN"]

#: a cost item's label, at most (the API's ``Reason``)
MAX_LABEL = 2_000


class CostBearer(StrEnum):
    CENTRAL = "central"  # the shared system (広域機関)
    MEMBERS = "members"  # members' own systems (小売電気事業者)
    NETWORK_OPERATORS = "network_operators"  # 一般送配電事業者


class CostItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bearer: CostBearer
    amount_yen: Decimal = Field(ge=0)
    label: str = ""


class CostInputs(BaseModel):
    """What the secretariat measured. Give either a benefit per unit with a monthly
    volume, or a total benefit over the horizon; never both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_years: Annotated[int, Strict()] = Field(ge=1)
    monthly_volume: Annotated[int, Strict()] | None = Field(None, ge=0)
    benefit_per_unit_yen: Decimal | None = Field(None, ge=0)
    total_benefit_yen: Decimal | None = Field(None, ge=0)
    cost_items: tuple[CostItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_way_to_state_the_benefit(self) -> CostInputs:
        per_unit = self.benefit_per_unit_yen is not None
        total = self.total_benefit_yen is not None
        if per_unit == total:
            raise ValueError(
                "state the benefit one way: a benefit per unit with a monthly volume, "
                "or a total benefit over the horizon"
            )
        if per_unit and self.monthly_volume is None:
            raise ValueError("a benefit per unit needs the monthly volume")
        return self


def as_given(inputs: CostInputs) -> CostInputs:
    """``inputs`` as a command may carry them: within the bounds, the labels by
    the input policy (NFC, no control or bidi character); ``ValueError`` naming
    the first field that is not. The commands' rule, not the stored model's:
    evaluations already recorded are not held to it."""

    def bounded(what: str, value: Decimal | int | None, most: int) -> None:
        if value is not None and value > most:
            raise ValueError(f"{what} is at most {most}, not {value}")

    bounded("horizon_years", inputs.horizon_years, MAX_HORIZON_YEARS)
    bounded("monthly_volume", inputs.monthly_volume, MAX_MONTHLY_VOLUME)
    bounded("benefit_per_unit_yen", inputs.benefit_per_unit_yen, MAX_YEN)
    bounded("total_benefit_yen", inputs.total_benefit_yen, MAX_YEN)
    items = []
    for i, item in enumerate(inputs.cost_items):
        bounded(f"cost_items.{i}.amount_yen", item.amount_yen, MAX_YEN)
        try:
            label = clean(item.label)
        except ValueError as error:
            raise ValueError(f"cost_items.{i}.label {error}") from None
        if len(label) > MAX_LABEL:
            raise ValueError(f"cost_items.{i}.label is at most {MAX_LABEL} characters")
        # white space only is no label: left out, as a reason is
        items.append(item.model_copy(update={"label": label if label.strip() else ""}))
    return inputs.model_copy(update={"cost_items": tuple(items)})


class CostEvaluation(BaseModel):
    """The inputs and what follows from them; kept whole so the figures survive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: CostInputs
    benefit_yen: Decimal
    total_cost_yen: Decimal
    ratio: Decimal | None  # benefit / cost; None when nothing costs anything
    cost_effective: bool

    @classmethod
    def of(cls, inputs: CostInputs) -> CostEvaluation:
        try:
            if inputs.total_benefit_yen is not None:
                benefit = inputs.total_benefit_yen
            else:
                assert inputs.benefit_per_unit_yen is not None and inputs.monthly_volume is not None
                months = 12 * inputs.horizon_years
                benefit = inputs.benefit_per_unit_yen * inputs.monthly_volume * months
            cost = sum((item.amount_yen for item in inputs.cost_items), Decimal(0))
            ratio = (benefit / cost).quantize(Decimal("0.0001")) if cost else None
        except ArithmeticError:
            # figures beyond decimal's precision (a ratio of 10^28 and more): a
            # refusal, not an error the store activity would retry for ever
            raise Refused(
                "these figures are too large to evaluate; check the amounts and volumes"
            ) from None
        return cls(
            inputs=inputs,
            benefit_yen=benefit,
            total_cost_yen=cost,
            ratio=ratio,
            cost_effective=benefit >= cost,
        )
