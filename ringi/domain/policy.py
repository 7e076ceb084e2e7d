"""The rules a secretariat may tune, with the defaults of DESIGN.md.

The policy in force is recorded in the ``Filed`` event, so replaying a request
later applies the rules it was filed under, not whatever the policy is today.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    support_threshold: int = Field(5, ge=1, description="companies, proposer included")
    support_window_days: int = Field(90, ge=1)
    final_call_after_days: int = Field(365, ge=1, description="open this long: final call")
    final_call_grace_days: int = Field(
        30, ge=1, description="how long a final call leaves when no meeting is scheduled"
    )
    objection_window_days: int = Field(14, ge=1)
    clarification_reply_days: int = Field(30, ge=1)
    hold_review_days: int = Field(180, ge=1)
    deadline_reminder_days: int = Field(7, ge=0, description="warn this long before a deadline")
    cost_horizon_years: int = Field(5, ge=1)
    auto_open_hearing: bool = Field(True, description="threshold met opens the hearing")

    @property
    def support_window(self) -> timedelta:
        return timedelta(days=self.support_window_days)

    @property
    def final_call_after(self) -> timedelta:
        return timedelta(days=self.final_call_after_days)

    @property
    def final_call_grace(self) -> timedelta:
        return timedelta(days=self.final_call_grace_days)

    @property
    def objection_window(self) -> timedelta:
        return timedelta(days=self.objection_window_days)

    @property
    def clarification_reply(self) -> timedelta:
        return timedelta(days=self.clarification_reply_days)

    @property
    def hold_review(self) -> timedelta:
        return timedelta(days=self.hold_review_days)

    @property
    def deadline_reminder(self) -> timedelta:
        return timedelta(days=self.deadline_reminder_days)
