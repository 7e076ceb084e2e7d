"""What a request wants people told. Drafts are pure values; the store writes
them to the outbox in the same transaction as the events that caused them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .enums import NotificationKind as NotificationKind  # re-exported: it was defined here

SECRETARIAT = "secretariat"
#: a recipient that stands for every member company: what any member may act on
#: (a new request to support, an objection window, a final call)
EVERY_MEMBER = "*members"


class NotificationDraft(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str  # unique: the outbox writes a key once, however often it is asked to
    kind: NotificationKind
    request_number: int
    recipients: tuple[str, ...]
    subject: str
    body: str = ""
