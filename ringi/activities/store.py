"""Activities that write to and read from the event store.

Every write is idempotent (the command id) and checked against the version the
workflow decided on (optimistic concurrency), so a retried activity never
writes twice and a stale workflow never writes over newer facts.

Every log line an activity writes carries the request's number, the workflow
id and run id, the actor and the command (structlog context variables, bound
for the activity's duration).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..domain.errors import Conflict, DomainError, NotAllowed, Refused
from ..domain.view import Outcome, RequestView
from ..store import RingiStore
from ..workflows.messages import ExecuteInput, FileInput

log = structlog.get_logger("ringi.activities")

#: error types the workflow treats as final: retrying cannot change the answer
NON_RETRYABLE = [Refused.__name__, NotAllowed.__name__, Conflict.__name__]

#: a store call still running after this long is logged as waiting for the event
#: store (and again each time its wait doubles), naming the request: how a store
#: that is down, cut off or locked shows while the connection pool and
#: eventsourcing are still retrying underneath, before any error surfaces
SLOW_STORE_SECONDS = 2.0

#: TEST ONLY, unset in every real installation. Names a directory through which
#: tests/test_faults.py stops a store write at a known point, so that it can
#: SIGKILL the worker *inside* a transition: before the events are appended, or
#: after they are appended but before the activity reports back. See
#: ``_fault_point``.
FAULT_POINTS_ENV = "RINGI_TEST_FAULT_POINTS"


def as_application_error(error: DomainError) -> ApplicationError:
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


class StoreActivities:
    def __init__(self, store: RingiStore) -> None:
        self.store = store

    @activity.defn(name="file_request")
    def file_request(self, inp: FileInput) -> Outcome:
        cmd = inp.command
        with _context(inp.number, cmd.actor.describe(), "file", cmd.command_id):
            return _recorded(
                cmd.command_id, lambda: self.store.file(inp.number, cmd, inp.policy, inp.at)
            )

    @activity.defn(name="execute_command")
    def execute_command(self, inp: ExecuteInput) -> Outcome:
        cmd = inp.command
        with _context(inp.number, cmd.actor.describe(), cmd.kind, cmd.command_id):
            return _recorded(
                cmd.command_id,
                lambda: self.store.execute(inp.number, cmd, inp.at, inp.expected_version),
            )

    @activity.defn(name="load_request")
    def load_request(self, number: int) -> RequestView:
        with _context(number, None, "load", None):
            try:
                with _watched():
                    return self.store.view(number)
            except DomainError as error:
                raise as_application_error(error) from error
            except (OperationalError, InterfaceError) as error:
                raise _unavailable(error) from error

    def all(self) -> list[Callable[..., Any]]:
        return [self.file_request, self.execute_command, self.load_request]


@contextmanager
def _context(
    number: int, actor: str | None, command: str, command_id: str | None
) -> Iterator[None]:
    info = activity.info()
    with structlog.contextvars.bound_contextvars(
        request=number,
        workflow_id=info.workflow_id,
        run_id=info.workflow_run_id,
        activity=info.activity_type,
        attempt=info.attempt,
        actor=actor,
        command=command,
        command_id=command_id,
    ):
        yield


def _recorded(command_id: str, write: Callable[[], Outcome]) -> Outcome:
    """Run a store write, logging what it did, and turn a refusal into a final
    error and an unreachable store into a retryable one."""
    _fault_point("before", command_id)
    try:
        with _watched():
            outcome = write()
    except DomainError as error:
        log.info("refused", reason=str(error))
        raise as_application_error(error) from error
    except (OperationalError, InterfaceError) as error:
        raise _unavailable(error) from error
    _fault_point("after", command_id)
    log.info(
        "recorded" if outcome.written else "already recorded",
        version=outcome.view.version,
        stage=outcome.view.stage.value,
    )
    return outcome


def _unavailable(error: Exception) -> ApplicationError:
    """The event store could not be reached or is locked. A save is one
    transaction, so nothing of it is half-written; Temporal retries the activity,
    and the command id keeps a retry from writing what an attempt that lost its
    answer may have written."""
    log.warning(
        "event store unavailable; the activity will be retried",
        error=str(error).strip(),
        error_type=type(error).__name__,
    )
    return ApplicationError(
        f"event store unavailable: {str(error).strip()}", type="StoreUnavailable"
    )


@dataclass
class _Call:
    context: dict[str, Any]
    started: float
    warn_at: float
    warned: bool = False


class _SlowCalls:
    """One daemon thread that watches the store calls in flight (started lazily)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[int, _Call] = {}
        self.thread: threading.Thread | None = None

    @contextmanager
    def watch(self) -> Iterator[None]:
        now = time.monotonic()
        call = _Call(structlog.contextvars.get_contextvars(), now, now + SLOW_STORE_SECONDS)
        with self.lock:
            self.calls[id(call)] = call
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="ringi-slow-store", daemon=True
                )
                self.thread.start()
        try:
            yield
        finally:
            with self.lock:
                del self.calls[id(call)]
            if call.warned:
                log.info(
                    "event store answered again",
                    waited_seconds=round(time.monotonic() - call.started, 1),
                )

    def _run(self) -> None:
        while True:
            time.sleep(SLOW_STORE_SECONDS / 8)
            now = time.monotonic()
            with self.lock:
                due = [call for call in self.calls.values() if now >= call.warn_at]
                for call in due:
                    call.warned = True
                    call.warn_at = call.started + 2 * (now - call.started)
            for call in due:
                log.warning(
                    "event store not answering; waiting for it",
                    waited_seconds=round(now - call.started, 1),
                    **call.context,
                )


_watched = _SlowCalls().watch


def _fault_point(phase: str, command_id: str) -> None:
    """TEST ONLY (``FAULT_POINTS_ENV``; when it is unset this returns at once).

    Announces ``reached.<command_id>.<phase>`` in that directory, then waits while
    ``hold.<command_id>.<phase>`` exists. Exists because a SIGKILL "in the middle
    of a transition" cannot be aimed any other way without racing the write."""
    where = os.environ.get(FAULT_POINTS_ENV)
    if not where:
        return
    directory = Path(where)
    (directory / f"reached.{command_id}.{phase}").touch()
    hold = directory / f"hold.{command_id}.{phase}"
    while hold.exists():
        time.sleep(0.02)
