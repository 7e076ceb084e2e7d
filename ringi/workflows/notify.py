"""Delivering the outbox: one long-lived dispatcher, one workflow per delivery.

The store queues notifications in the same transaction as the events that
cause them. ``OutboxDispatcher`` (id ``ringi-outbox``) reads the notification
log from where it left off, through an activity, and starts a
``DeliveryWorkflow`` per notification and subscriber (its id names the
delivery, so it is started once). Each delivery workflow runs the ``deliver``
activity until the receiver takes it, retrying with exponential backoff; if
the receiver has not taken it when the delivery's patience runs out, the
workflow records that it gave up (``DeliveryAbandoned``) so that the register
of what was sent says so, rather than a failed workflow nobody reads. The
dispatcher's position is workflow state, so a worker that stops between the
event and the delivery loses nothing: the next worker replays the dispatcher
and carries on; ``deliver`` checks the delivery record before it sends.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    RetryState,
    TimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from ..config import Settings
    from ..store import AbandonedDelivery, Delivery, DeliveryBatch
    from .messages import DISPATCHER_ID, DispatcherStart, delivery_workflow_id

#: a receiver that is down is tried again after 1 s, 2 s, 4 s, ... then every 10 minutes
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["NotFound"],
)


@workflow.defn
class DeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: Delivery) -> str:
        try:
            outcome: str = await workflow.execute_activity(
                "deliver",
                delivery,
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(seconds=delivery.patience_seconds),
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as error:
            # the receiver kept refusing until the patience ran out; anything else
            # (a message not in the outbox) is a bug, and fails the workflow to be seen
            if error.retry_state not in (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED):
                raise
            reason = _last_failure(error)
            abandoned: str = await workflow.execute_activity(
                "abandon_delivery",
                AbandonedDelivery(delivery=delivery, reason=reason),
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
            )
            return abandoned
        return outcome


def _last_failure(error: ActivityError) -> str:
    """What the receiver last answered: the server fails the activity with the
    last attempt's failure, or with a timeout that carries it as its cause."""
    last = error.cause
    if isinstance(last, TimeoutError) and last.cause is not None:
        last = last.cause
    return f"gave up: {last if last is not None else error}"


@workflow.defn
class OutboxDispatcher:
    def __init__(self) -> None:
        self.position = 0
        self.polls = 0
        self.patience = DispatcherStart().delivery_patience_seconds

    @workflow.run
    async def run(self, start: DispatcherStart) -> None:
        self.position = start.position
        self.patience = start.delivery_patience_seconds
        while True:
            batch: DeliveryBatch = await workflow.execute_activity(
                "deliveries_since",
                self.position,
                result_type=DeliveryBatch,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
            for delivery in batch.deliveries:
                await self._start(delivery)
            moved, self.position = batch.position != self.position, batch.position
            self.polls += 1
            if self.polls >= start.polls_per_run or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(start.model_copy(update={"position": self.position}))
            if not moved:  # otherwise there may be more behind: read on at once
                await workflow.sleep(timedelta(seconds=start.poll_seconds))

    @workflow.query
    def progress(self) -> tuple[int, int]:
        """(position in the notification log, polls made in this run)"""
        return self.position, self.polls

    async def _start(self, delivery: Delivery) -> None:
        # one already started (a poll replayed after a restart) is on its way
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                DeliveryWorkflow.run,
                delivery.model_copy(update={"patience_seconds": self.patience}),
                id=delivery_workflow_id(delivery.id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )


async def ensure_dispatcher(client: Client, settings: Settings) -> None:
    """Start the outbox dispatcher unless it is running."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            OutboxDispatcher.run,
            DispatcherStart(
                poll_seconds=settings.outbox_poll_seconds,
                delivery_patience_seconds=settings.delivery_patience_hours * 3600,
            ),
            id=DISPATCHER_ID,
            task_queue=settings.task_queue,
        )
