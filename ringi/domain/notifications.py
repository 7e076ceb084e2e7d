"""What a request wants people told. Drafts are pure values; the store writes
them to the outbox in the same transaction as the events that caused them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

SECRETARIAT = "secretariat"
#: a recipient that stands for every member company: what any member may act on
#: (a new request to support, an objection window, a final call)
EVERY_MEMBER = "*members"


class NotificationKind(StrEnum):
    FILED = "filed"
    ANSWERED = "answered"
    STAGE_CHANGED = "stage_changed"
    AUTO_CLOSED = "auto_closed"
    DEADLINE_APPROACHING = "deadline_approaching"
    FINAL_CALL = "final_call"
    CLARIFICATION_ASKED = "clarification_asked"
    CLARIFICATION_ANSWERED = "clarification_answered"
    CLARIFICATION_OVERDUE = "clarification_overdue"
    HOLD_REVIEW_DUE = "hold_review_due"
    PLANNED_RELEASE_DUE = "planned_release_due"
    OBJECTION_RAISED = "objection_raised"
    OBJECTION_WITHDRAWN = "objection_withdrawn"
    OBJECTION_DISMISSED = "objection_dismissed"


class NotificationDraft(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str  # unique: the outbox writes a key once, however often it is asked to
    kind: NotificationKind
    request_number: int
    recipients: tuple[str, ...]
    subject: str
    body: str = ""
