"""What every entry point (the command line, later the HTTP API) calls.

Commands on a request go through its workflow, so that they are validated and
serialised there; reads come from the event store, which is the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .config import Settings
from .domain import lifecycle
from .domain.commands import Command, ExtendDeadline, FileRequest
from .domain.errors import Conflict, NotAllowed, NotFound, Refused
from .domain.imported import ImportedMeeting, ImportedRequest
from .domain.lifecycle import check_filing
from .domain.meeting import FollowedMeeting
from .domain.view import RequestView
from .domain.vocabulary import Actor, Role
from .register.replay import Cutoff, replay
from .starting import DEFAULT_CONCURRENCY, Advance, Starts, start_workflows
from .store import ImportOutcome, RingiStore, TimelineEntry
from .temporal import connect
from .workflows.messages import RequestStart, workflow_id
from .workflows.request import RequestWorkflow

log = structlog.get_logger("ringi.service")

T = TypeVar("T")

#: retrying a command that found its request's workflow busy: about 30 s in all
_BUSY_ATTEMPTS = 12
_BUSY_FIRST_WAIT = 0.05
_BUSY_MAX_WAIT = 5.0
_BUSY = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE)


#: a call to Temporal that failed this way may have been carried out all the same
_LOST = (
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
)


class OutcomeUnknown(TimeoutError):
    """A command was sent and its answer did not come (no answer in time, or
    Temporal went away mid-call): it may have been carried out, or may yet be
    once a worker takes it up. Not a refusal: sending it again with the same
    command id (the same idempotency key) is carried out at most once."""

    def __init__(self, why: str, key: str | None = None) -> None:
        super().__init__(why)
        self.why, self.key = why, key

    def keyed(self, key: str | None) -> OutcomeUnknown:
        """The same, naming the key to retry with (if it has none yet)."""
        return self if self.key is not None or key is None else OutcomeUnknown(self.why, key)


def lost(error: BaseException, timeout: float | None = None) -> OutcomeUnknown | None:
    """The unknown outcome ``error`` means for a command sent to Temporal, or
    None if it is a definite answer (a refusal, a bug)."""
    if isinstance(error, OutcomeUnknown):
        return error
    if isinstance(error, TimeoutError | RPCTimeoutOrCancelledError):
        within = f" within {timeout:g} s" if timeout is not None else " in time"
        return OutcomeUnknown(f"no answer{within}")
    if isinstance(error, RPCError) and error.status in _LOST:
        return OutcomeUnknown(f"Temporal stopped answering ({error.message})")
    return None


async def answered(work: Awaitable[T], timeout: float) -> T:
    """``work`` (a command sent to Temporal), or ``OutcomeUnknown`` if its answer
    does not come within ``timeout`` s or Temporal goes away meanwhile.

    Cancelled by the timeout, the Temporal client raises its own
    ``WorkflowUpdateRPCTimeoutOrCancelledError`` rather than the ``TimeoutError``
    ``wait_for`` would: both are the same unknown outcome."""
    try:
        return await asyncio.wait_for(work, timeout=timeout)
    except (TimeoutError, RPCTimeoutOrCancelledError, RPCError) as error:
        unknown = lost(error, timeout)
        if unknown is None:
            raise
        raise unknown from None


class Ringi:
    def __init__(self, settings: Settings, client: Client, store: RingiStore) -> None:
        self.settings = settings
        self.client = client
        self.store = store

    @classmethod
    async def connect(cls, settings: Settings) -> Ringi:
        client = await connect(settings)
        return cls(settings, client, RingiStore(env=settings.eventsourcing_env()))

    def close(self) -> None:
        self.store.close()

    # --- writes ----------------------------------------------------------------------

    async def file(self, cmd: FileRequest) -> RequestView:
        """File a new request; returns it with its number. Retrying with the same
        command id returns the same request."""
        # refused here, before a number is taken or a workflow started: a filing
        # refused inside its workflow fails the workflow and burns the number
        check_filing(cmd)
        # the store's reads and writes block: off the event loop, which may be
        # running a worker and an API too (``ringi up``)
        await asyncio.to_thread(self.store.require_known, cmd)
        number = await asyncio.to_thread(self.store.reserve_number, cmd.command_id)
        start = RequestStart(number=number, filing=cmd, policy=self.settings.policy())
        view = await self._filed(start, WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        if view is None or not await asyncio.to_thread(
            self._filed_in_store, number, cmd.command_id
        ):
            # The workflow of this number is another filing's, which the store does not
            # hold: the store was restored from a backup taken before it and handed the
            # number out again. The store is the record: that workflow ends, with the
            # reason, and this request is filed under the number.
            log.warning(
                "ended a request workflow the store does not know",
                number=number,
                workflow_id=workflow_id(number),
            )
            with contextlib.suppress(RPCError):  # it may have finished already
                await self._handle(number).terminate(
                    reason=f"No.{number} is not in the event store (restored from an "
                    "earlier backup); its number was handed to a new filing"
                )
            view = await self._filed(start, WorkflowIDReusePolicy.ALLOW_DUPLICATE)
            if view is None:
                raise Conflict(f"No.{number} could not be filed: its workflow id is taken")
        return view

    async def _filed(self, start: RequestStart, reuse: WorkflowIDReusePolicy) -> RequestView | None:
        """Start the filing's workflow, or find it running, and wait for the filing
        to be recorded (in one round trip). None: the number's workflow has finished
        and the store does not hold the request."""
        number = start.number
        operation = WithStartWorkflowOperation(
            RequestWorkflow.run,
            start,
            id=workflow_id(number),
            task_queue=self.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
        )
        try:
            try:
                return await self.client.execute_update_with_start_workflow(
                    RequestWorkflow.filed, start_workflow_operation=operation
                )
            except (WorkflowAlreadyStartedError, RPCError) as error:
                if isinstance(error, RPCError) and error.status is not RPCStatusCode.ALREADY_EXISTS:
                    raise
                # a retried filing whose request's workflow has already finished:
                # the filing was made, and the store has the final state
                try:
                    return await asyncio.to_thread(self.store.view, number)
                except NotFound:
                    return None
        except WorkflowUpdateFailedError as error:
            raise _as_domain_error(error) from None

    def _filed_in_store(self, number: int, command_id: str) -> bool:
        """Whether the store holds No.``number`` as filed by ``command_id``. Blocking."""
        try:
            return self.store.request(number).has_handled(command_id)
        except NotFound:
            return False

    async def act(self, number: int, cmd: Command) -> RequestView:
        try:
            return await self._update(number, cmd)
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        # no workflow runs for the request: it was released or closed, imported, or
        # its workflow was lost
        request = await asyncio.to_thread(self.store.request, number)  # refuses an unknown number
        if request.has_handled(cmd.command_id):
            return request.view()  # a retry of a command its workflow carried out before it ended
        view = request.view()
        if view.stage.is_terminal:
            # refused here with the rule's words, before a run is started for nothing
            lifecycle.check(view, cmd, datetime.now(UTC))
            # what may still happen to a finished request (a correction) runs in a
            # new run of its workflow, which takes up the state, carries out the
            # command the usual way and ends again
            return await self._busy_retried(lambda: self._update_with_start(number, cmd))
        # open in the store but without a workflow (imported, or its workflow was
        # lost): take it up from the store, then carry out the command
        await self._start(RequestStart(number=number), WorkflowIDConflictPolicy.USE_EXISTING)
        return await self._update(number, cmd)

    async def _update(self, number: int, cmd: Command) -> RequestView:
        # the command id is the update id: Temporal answers a retry with the first
        # result instead of deciding the command again
        return await self._busy_retried(
            lambda: self._handle(number).execute_update(RequestWorkflow.act, cmd, id=cmd.command_id)
        )

    async def _update_with_start(self, number: int, cmd: Command) -> RequestView:
        operation = WithStartWorkflowOperation(
            RequestWorkflow.run,
            RequestStart(number=number),
            id=workflow_id(number),
            task_queue=self.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        return await self.client.execute_update_with_start_workflow(
            RequestWorkflow.act, cmd, id=cmd.command_id, start_workflow_operation=operation
        )

    async def _busy_retried(self, send: Callable[[], Awaitable[RequestView]]) -> RequestView:
        delay = _BUSY_FIRST_WAIT
        for attempt in range(_BUSY_ATTEMPTS):
            try:
                return await send()
            except WorkflowUpdateFailedError as error:
                raise _as_domain_error(error) from None
            except RPCError as error:
                # Temporal takes a bounded number of updates in flight per workflow,
                # aborts those in flight when a workflow task is lost (an overloaded
                # worker), and starts a workflow id again only a moment after its
                # last run ended: wait for a place and send it again; the update id
                # makes that safe
                if error.status not in _BUSY or attempt == _BUSY_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, _BUSY_MAX_WAIT)
        raise AssertionError("unreachable")

    def open_numbers(self) -> list[int]:
        """The numbers of the requests still open, from the read model."""
        return [s.number for s in self.store.summaries() if s.is_open]

    async def resume_workflows(
        self, *, concurrency: int = DEFAULT_CONCURRENCY, advance: Advance | None = None
    ) -> Starts:
        """Start a workflow for every open request in the store that has none
        (after an import, or if a filing's workflow was lost), ``concurrency`` at
        a time and with no overall timeout (``ringi.starting``). Idempotent: run
        again, it starts only what is left."""
        numbers = await asyncio.to_thread(self.open_numbers)
        return await start_workflows(
            self.client,
            self.settings.task_queue,
            numbers,
            total=len(numbers),
            concurrency=concurrency,
            advance=advance,
        )

    async def import_register(
        self,
        meetings: list[ImportedMeeting],
        requests: list[ImportedRequest],
        actor: Actor,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        writing: Advance | None = None,
        starting: Advance | None = None,
    ) -> tuple[ImportOutcome, Starts]:
        """Write an imported register to the store (all of it or nothing), then
        start the workflows of the requests it leaves open: from here on they
        run under the lifecycle's rules like any other. Returns what was written
        and what the starts did (``writing`` and ``starting`` follow each)."""
        outcome = await asyncio.to_thread(
            self.store.import_register,
            meetings,
            requests,
            self.settings.policy(),
            actor,
            progress=writing,
        )
        return outcome, await self.resume_workflows(concurrency=concurrency, advance=starting)

    def open_meeting(self, number: int, held_at: datetime, actor: Actor, title: str = "") -> None:
        if actor.role is not Role.SECRETARIAT:
            raise NotAllowed("only the secretariat opens meetings")
        self.store.open_meeting(number, held_at, actor, title)

    async def reschedule_meeting(
        self,
        number: int,
        held_at: datetime,
        reason: str,
        actor: Actor,
        *,
        again: bool = False,
    ) -> FollowedMeeting:
        """Move meeting ``number`` to ``held_at``, and the support deadlines that run
        until it along with it (``follow_meeting``). ``again``: this may be the same
        move sent a second time (a retry, a second click); a meeting already held at
        ``held_at`` is then no refusal, and the deadlines are followed again (the
        first attempt may have stopped half-way)."""
        try:
            await asyncio.to_thread(self.store.reschedule_meeting, number, held_at, reason, actor)
        except Refused:
            if not again or (await asyncio.to_thread(self.store.meetings)).get(number) != held_at:
                raise
        return await self.follow_meeting(number, actor)

    async def follow_meeting(self, number: int, actor: Actor) -> FollowedMeeting:
        """Give every support deadline and objection window that runs "until meeting
        ``number``" the meeting's date, through each request's workflow, as an extension the actor
        (who moved the meeting) makes: a deadline moves later with its meeting and is
        kept when the meeting comes earlier (``lifecycle.follows_meeting``). Safe to
        run again (each extension's command id names the meeting, its date and the
        request), as after a reschedule that stopped half-way; it answers with the
        state it leaves, so a second run answers as the first."""
        held_at = (await asyncio.to_thread(self.store.meetings))[number]
        everything = Cutoff(at=datetime(9999, 1, 1, tzinfo=UTC))  # every request as it stands
        views = (await asyncio.to_thread(replay, self.store, everything)).views
        followed = FollowedMeeting(number=number, held_at=held_at)
        for view in views.values():
            deadline = lifecycle.meeting_deadline(view)
            if not lifecycle.follows_meeting(view, number) or deadline is None:
                continue
            if deadline > held_at:
                followed.kept.append(view.number)
                continue
            if deadline < held_at:
                extension = ExtendDeadline(
                    actor=actor,
                    deadline=held_at,
                    until_meeting=number,
                    reason=f"第{number}回の日程変更に伴い",
                    command_id=f"follow-meeting:{number}:{held_at.isoformat()}:{view.number}",
                )
                try:
                    await self.act(view.number, extension)
                except Refused:  # changed meanwhile (closed, or extended by hand)
                    continue
            followed.following.append(view.number)
        return followed

    # --- reads ------------------------------------------------------------------------

    def view(self, number: int) -> RequestView:
        return self.store.view(number)

    def views(self) -> list[RequestView]:
        return list(self.store.views())

    def timeline(self, number: int) -> list[TimelineEntry]:
        return self.store.timeline(number)

    async def live_view(self, number: int) -> RequestView | None:
        """What the running workflow holds (None once the workflow has finished)."""
        return await self._handle(number).query(RequestWorkflow.state)

    # --- helpers ------------------------------------------------------------------------

    def _handle(self, number: int) -> WorkflowHandle[RequestWorkflow, RequestView]:
        return self.client.get_workflow_handle_for(RequestWorkflow.run, workflow_id(number))

    async def _start(self, start: RequestStart, on_conflict: WorkflowIDConflictPolicy) -> bool:
        """Start the request's workflow; False if it was already running or done.

        A workflow that ended without finishing the request (terminated, failed)
        may be started again; one that completed may not."""
        try:
            await self.client.start_workflow(
                RequestWorkflow.run,
                start,
                id=workflow_id(start.number),
                task_queue=self.settings.task_queue,
                id_conflict_policy=on_conflict,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True


def _as_domain_error(error: WorkflowUpdateFailedError) -> Exception:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        # the workflow names the domain error it refused with; anything else is a refusal
        kind = {NotAllowed.__name__: NotAllowed, NotFound.__name__: NotFound}.get(
            cause.type or "", Refused
        )
        return kind(cause.message)
    return Refused(str(cause or error))
