"""The words of the domain, with the Japanese the register uses."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator


class Stage(StrEnum):
    FILED = "filed"
    GATHERING_SUPPORT = "gathering_support"
    HEARING = "hearing"
    COST_EVALUATION = "cost_evaluation"
    OBJECTION_WINDOW = "objection_window"
    IMPLEMENTATION = "implementation"
    ON_HOLD = "on_hold"
    RELEASED = "released"
    CLOSED = "closed"

    @property
    def is_terminal(self) -> bool:
        return self in (Stage.RELEASED, Stage.CLOSED)

    @property
    def label_ja(self) -> str:
        return _STAGE_JA[self]


_STAGE_JA = {
    Stage.FILED: "受付",
    Stage.GATHERING_SUPPORT: "賛同募集中",
    Stage.HEARING: "事業者ヒアリング",
    Stage.COST_EVALUATION: "費用対効果評価",
    Stage.OBJECTION_WINDOW: "意見照会中",
    Stage.IMPLEMENTATION: "改修実施",
    Stage.ON_HOLD: "保留",
    Stage.RELEASED: "リリース済",
    Stage.CLOSED: "クローズ",
}


class Category(StrEnum):
    """区分: what kind of item a member filed."""

    REQUEST = "要望"
    OPINION = "意見"
    QUESTION = "質問"

    @classmethod
    def parse(cls, text: str) -> Category:
        aliases = {"request": cls.REQUEST, "opinion": cls.OPINION, "question": cls.QUESTION}
        key = text.strip()
        if key.lower() in aliases:
            return aliases[key.lower()]
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(f"{a} ({c.value})" for a, c in aliases.items())
            raise ValueError(f"unknown category {text!r}; use one of: {names}") from None


class CloseReason(StrEnum):
    INSUFFICIENT_SUPPORT = "insufficient_support"
    NOT_COST_EFFECTIVE = "not_cost_effective"
    OUT_OF_SCOPE = "out_of_scope"
    RESOLVED_WITHOUT_CHANGE = "resolved_without_change"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"
    ANSWERED = "answered"
    #: closed before ringi: an imported register says クローズ and gives no reason
    #: but its answers; only ``ringi import`` records it
    IMPORTED = "imported"


#: the proposer of a request imported from a register that does not name it
UNKNOWN_PROPOSER = "(不明)"


class Role(StrEnum):
    MEMBER = "member"
    SECRETARIAT = "secretariat"
    AUDITOR = "auditor"
    TIMER = "timer"


class Actor(BaseModel):
    """Who did something: a role, the company a member acts for, and the person."""

    model_config = ConfigDict(frozen=True)

    role: Role
    company: str | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _members_act_for_a_company(self) -> Actor:
        if self.role is Role.MEMBER and not (self.company and self.company.strip()):
            raise ValueError("a member acts for a company: give the company name")
        return self

    @classmethod
    def member(cls, company: str, user: str | None = None) -> Actor:
        return cls(role=Role.MEMBER, company=company, user=user)

    @classmethod
    def secretariat(cls, user: str | None = None) -> Actor:
        return cls(role=Role.SECRETARIAT, user=user)

    @classmethod
    def timer(cls) -> Actor:
        return cls(role=Role.TIMER, user="ringi-timer")

    def describe(self) -> str:
        if self.role is Role.MEMBER:
            return f"{self.company}" + (f" ({self.user})" if self.user else "")
        return self.role.value + (f" ({self.user})" if self.user else "")
