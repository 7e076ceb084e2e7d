"""One durable workflow per request (id ``request-<number>``).

The workflow is the request's stage machine in time: it serialises the
commands people send (Temporal updates, checked first by a validator that
writes nothing when it refuses), sleeps until the next deadline the rules say
is running and fires it, and keeps its search attributes current so that
``temporal workflow list --query "RingiStage = 'hearing'"`` finds requests by
stage. Every fact is written by an activity to the event store, which returns
the state folded from the stored events; that state is the workflow's state,
so the two cannot disagree.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ..activities.store import StoreActivities
    from ..domain import lifecycle
    from ..domain.commands import Command, Endorse, TimerFired, WithdrawEndorsement
    from ..domain.errors import DomainError
    from ..domain.view import Outcome, RequestView
    from .messages import ExecuteInput, FileInput, RequestStart
    from .waking import Wake

STAGE = SearchAttributeKey.for_keyword("RingiStage")
SUPPORT = SearchAttributeKey.for_int("RingiSupport")
CATEGORY = SearchAttributeKey.for_keyword("RingiCategory")
DEADLINE = SearchAttributeKey.for_datetime("RingiDeadline")
NUMBER = SearchAttributeKey.for_int("RingiNumber")
SEARCH_ATTRIBUTES = (STAGE, SUPPORT, CATEGORY, DEADLINE, NUMBER)

#: patch ids: what this workflow decides differently from runs recorded earlier.
#: Endorsements after the threshold opened the hearing, until the support deadline
#: (``lifecycle.SUPPORT_AFTER_THRESHOLD``); earlier runs refused them under the lock.
SUPPORT_AFTER_THRESHOLD = "support-after-threshold"

_ACTIVITY_TIMEOUT = timedelta(seconds=30)
_CONFLICT_ATTEMPTS = 3
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["Refused", "NotAllowed", "Conflict"],
)


@workflow.defn
class RequestWorkflow:
    @workflow.init
    def __init__(self, start: RequestStart) -> None:
        self.number = start.number
        self.view: RequestView | None = start.carried
        # one command at a time: each is decided on the state the previous one left
        self.lock = asyncio.Lock()
        # set by every change of state: the deadlines it was sleeping to may have moved
        self.wake = Wake()

    @workflow.run
    async def run(self, start: RequestStart) -> RequestView:
        if self.view is None:
            self.view = await self._first_state(start)
            self._publish()
        while True:
            view = self.view
            if view.stage.is_terminal:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.view.stage.is_terminal:
                    return self.view
                continue  # reopened (issue 20): its timers run again in this run
            if self._history_is_long(start.history_limit):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    RequestStart(
                        number=self.number, carried=self.view, history_limit=start.history_limit
                    )
                )
            timer = lifecycle.next_timer(view)
            if await self.wake.at(timer.due if timer else None):
                assert timer is not None
                await self._fire(timer)

    # --- updates: every action of every role ------------------------------------------

    @workflow.update
    async def act(self, command: Command) -> RequestView:
        # a workflow just taken up from the store is still loading its state
        await workflow.wait_condition(lambda: self.view is not None)
        async with self.lock:
            view = self._require_view()
            try:
                # again under the lock: an earlier command may have changed the state
                lifecycle.check(view, command, workflow.now())
                self._as_recorded(view, command)
            except DomainError as error:
                raise _refusal(error) from None
            return await self._execute(command)

    def _as_recorded(self, view: RequestView, command: Command) -> None:
        """Refuse what ``lifecycle.check`` allows now but this run, as recorded,
        refused here before a rule changed (``workflow.patched``: a history written
        by the earlier code replays as it ran; anything new takes today's rule)."""
        if (
            isinstance(command, Endorse | WithdrawEndorsement)
            and view.stage in lifecycle.SUPPORT_AFTER_THRESHOLD
            and not workflow.patched(SUPPORT_AFTER_THRESHOLD)
        ):
            raise lifecycle.support_window_not_open(view)

    @act.validator
    def _validate_act(self, command: Command) -> None:
        if self.view is not None:  # otherwise the handler checks once the state is loaded
            lifecycle.check(self.view, command, workflow.now())

    @workflow.update
    async def filed(self) -> RequestView:
        """Waits until the filing is recorded; the ``ringi file`` command waits on it."""
        await workflow.wait_condition(lambda: self.view is not None)
        return self._require_view()

    @workflow.query
    def state(self) -> RequestView | None:
        return self.view

    @workflow.query
    def timers(self) -> list[TimerFired]:
        return lifecycle.pending_timers(self.view) if self.view else []

    # --- the work -------------------------------------------------------------------------

    async def _first_state(self, start: RequestStart) -> RequestView:
        if start.filing is None:
            return await self._reload()
        assert start.policy is not None
        filing = FileInput(
            number=self.number, command=start.filing, policy=start.policy, at=workflow.now()
        )
        outcome = await workflow.execute_activity_method(
            StoreActivities.file_request,
            filing,
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_RETRY,
        )
        return outcome.view

    async def _execute(self, command: Command) -> RequestView:
        view = self._require_view()
        for attempt in range(_CONFLICT_ATTEMPTS):
            request = ExecuteInput(
                number=self.number,
                command=command,
                at=workflow.now(),
                expected_version=view.version,
            )
            try:
                outcome: Outcome = await workflow.execute_activity_method(
                    StoreActivities.execute_command,
                    request,
                    start_to_close_timeout=_ACTIVITY_TIMEOUT,
                    retry_policy=_RETRY,
                )
                break
            except ActivityError as error:
                cause = error.cause
                if not isinstance(cause, ApplicationError):
                    raise
                if cause.type == "Conflict" and attempt < _CONFLICT_ATTEMPTS - 1:
                    # The store is ahead of this run's state (written behind the
                    # workflow's back). The store is the record: take its state and let
                    # it decide again (it answers a command it already carried out
                    # without writing).
                    view = self.view = await self._reload()
                    continue
                raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from None
        self.view = outcome.view
        self.wake.changed()
        self._publish()
        return self.view

    async def _fire(self, timer: TimerFired) -> None:
        async with self.lock:
            view = self._require_view()
            try:
                lifecycle.check(view, timer, workflow.now())
            except DomainError:
                return  # a command while we waited for the lock made the timer moot
            try:
                await self._execute(timer)
            except ApplicationError as error:
                workflow.logger.warning(
                    "timer refused",
                    extra={"request": self.number, "timer": timer.timer, "reason": error.message},
                )

    async def _reload(self) -> RequestView:
        """The request as the store holds it."""
        return await workflow.execute_activity_method(
            StoreActivities.load_request,
            self.number,
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_RETRY,
        )

    def _require_view(self) -> RequestView:
        if self.view is None:
            raise ApplicationError(
                f"No.{self.number} is still being filed; try again", type="Refused"
            )
        return self.view

    def _history_is_long(self, limit: int) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit

    def _publish(self) -> None:
        view = self._require_view()
        deadline = view.current_deadline
        workflow.upsert_search_attributes(
            [
                STAGE.value_set(view.stage.value),
                SUPPORT.value_set(view.support),
                CATEGORY.value_set(view.category.value),
                NUMBER.value_set(view.number),
                DEADLINE.value_set(deadline) if deadline else DEADLINE.value_unset(),
            ]
        )


def _refusal(error: DomainError) -> ApplicationError:
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)
