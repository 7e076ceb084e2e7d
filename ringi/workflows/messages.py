"""Payloads that cross the workflow boundary (Temporal's pydantic converter)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ..domain.commands import Command, FileRequest
from ..domain.policy import Policy
from ..domain.view import RequestView

#: history events after which a request starts afresh (continue-as-new) even if
#: the server does not suggest it yet; far below Temporal's own 50k limit
HISTORY_LIMIT = 10_000


class RequestStart(BaseModel):
    """How a request workflow starts: filing a new request, taking up one that the
    store already holds (an import, a recovery), or carrying on after
    continue-as-new with the state it had."""

    number: int
    filing: FileRequest | None = None
    policy: Policy | None = None
    carried: RequestView | None = None
    history_limit: int = HISTORY_LIMIT


class FileInput(BaseModel):
    number: int
    command: FileRequest
    policy: Policy
    at: datetime


class ExecuteInput(BaseModel):
    number: int
    command: Command
    at: datetime
    expected_version: int | None = None


def workflow_id(number: int) -> str:
    return f"request-{number}"


#: the one outbox dispatcher of a namespace
DISPATCHER_ID = "ringi-outbox"


class DispatcherStart(BaseModel):
    """Where in the notification log the outbox dispatcher reads on from."""

    position: int = 0
    poll_seconds: float = 1.0
    #: handed to every delivery it starts (``Delivery.patience_seconds``)
    delivery_patience_seconds: float = 3 * 24 * 3600
    #: polls after which the dispatcher starts afresh (continue-as-new)
    polls_per_run: int = 500


def delivery_workflow_id(delivery_id: str) -> str:
    return f"delivery-{delivery_id}"
