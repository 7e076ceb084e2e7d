"""Activities that write to and read from the event store.

Every write is idempotent (the command id) and checked against the version the
workflow decided on (optimistic concurrency), so a retried activity never
writes twice and a stale workflow never writes over newer facts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..domain.errors import Conflict, DomainError, NotAllowed, Refused
from ..domain.view import RequestView
from ..store import Outcome, RingiStore
from ..workflows.messages import ExecuteInput, FileInput

log = structlog.get_logger("ringi.activities")

#: error types the workflow treats as final: retrying cannot change the answer
NON_RETRYABLE = [Refused.__name__, NotAllowed.__name__, Conflict.__name__]


def as_application_error(error: DomainError) -> ApplicationError:
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


class StoreActivities:
    def __init__(self, store: RingiStore) -> None:
        self.store = store

    @activity.defn(name="file_request")
    def file_request(self, inp: FileInput) -> Outcome:
        bound = self._log(inp.number, inp.command.actor.describe(), "file")
        return _recorded(
            bound, lambda: self.store.file(inp.number, inp.command, inp.policy, inp.at)
        )

    @activity.defn(name="execute_command")
    def execute_command(self, inp: ExecuteInput) -> Outcome:
        bound = self._log(inp.number, inp.command.actor.describe(), inp.command.kind)
        return _recorded(
            bound,
            lambda: self.store.execute(inp.number, inp.command, inp.at, inp.expected_version),
        )

    @activity.defn(name="load_request")
    def load_request(self, number: int) -> RequestView:
        try:
            return self.store.view(number)
        except DomainError as error:
            raise as_application_error(error) from error

    def _log(self, number: int, actor: str, command: str) -> Any:
        info = activity.info()
        return log.bind(
            request=number,
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            attempt=info.attempt,
            actor=actor,
            command=command,
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.file_request, self.execute_command, self.load_request]


def _recorded(bound: Any, write: Callable[[], Outcome]) -> Outcome:
    """Run a store write, logging what it did, and turn a refusal into a final error."""
    try:
        outcome = write()
    except DomainError as error:
        bound.info("refused", reason=str(error))
        raise as_application_error(error) from error
    bound.info(
        "recorded" if outcome.written else "already recorded",
        version=outcome.view.version,
        stage=outcome.view.stage.value,
    )
    return outcome
