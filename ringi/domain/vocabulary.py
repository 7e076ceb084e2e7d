"""The words of the domain, with the Japanese the register uses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

# re-exported: they were defined here, and are imported from here
from .enums import Category as Category
from .enums import CloseReason as CloseReason
from .enums import Role as Role
from .enums import Stage as Stage

#: the proposer of a request imported from a register that does not name it
UNKNOWN_PROPOSER = "(不明)"


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
