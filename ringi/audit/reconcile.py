"""``ringi audit reconcile``: does every workflow hold the state the store folds?

The workflow of a request keeps the state its last command returned (folded
from the store by the activity that wrote it). Nothing but that workflow should
write to its request, so the two agree unless the store was changed behind the
workflow's back: an event appended by another writer, or one deleted or edited
in the database. A command in flight at the moment of comparing can make them
differ for an instant; a difference is reported only if it is still there after
a short wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from ..domain.errors import Refused
from ..domain.view import RequestView
from ..service import Ringi
from ..workflows.messages import workflow_id
from ..workflows.request import RequestWorkflow
from .records import highest_number
from .verify import Anchor


class WorkflowState(BaseModel):
    number: int
    #: "running", "completed", ... or "none" when the request has no workflow
    status: str
    view: RequestView | None


class Difference(BaseModel):
    number: int
    status: str
    #: the top-level fields of the request's state that differ
    fields: list[str]
    workflow_version: int | None
    store_version: int | None
    message: str

    def line(self) -> str:
        return f"No.{self.number}: {self.message}"


async def workflow_state(ringi: Ringi, number: int) -> WorkflowState:
    """What No.``number``'s workflow holds: the live state of a running one, the
    final state of a completed one."""
    handle: WorkflowHandle[RequestWorkflow, RequestView] = ringi.client.get_workflow_handle_for(
        RequestWorkflow.run, workflow_id(number)
    )
    try:
        # the raw call: the SDK's describe() cannot decode the null payload the
        # time-skipping server keeps for an unset datetime search attribute
        described = await ringi.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=ringi.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id(number)),
            )
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return WorkflowState(number=number, status="none", view=None)
        raise
    status = WorkflowExecutionStatus(described.workflow_execution_info.status)
    name = status.name.lower()
    if status is WorkflowExecutionStatus.RUNNING:
        return WorkflowState(
            number=number, status=name, view=await handle.query(RequestWorkflow.state)
        )
    if status is WorkflowExecutionStatus.COMPLETED:
        return WorkflowState(number=number, status=name, view=await handle.result())
    return WorkflowState(number=number, status=name, view=None)


async def workflow_states(
    ringi: Ringi, numbers: Iterable[int] | None = None
) -> list[WorkflowState]:
    """The workflows of ``numbers``; by default of every number the store handed out,
    and of the numbers after it that have a workflow all the same: requests filed
    after the backup a store was restored from, which it knows nothing of."""
    if numbers is not None:
        return [await workflow_state(ringi, n) for n in numbers]
    highest = highest_number(ringi.store)
    states = [await workflow_state(ringi, n) for n in range(1, highest + 1)]
    beyond = await workflow_state(ringi, highest + 1)
    while beyond.status != "none":
        states.append(beyond)
        beyond = await workflow_state(ringi, beyond.number + 1)
    return states


async def workflow_anchors(ringi: Ringi) -> list[Anchor]:
    """The version each request's workflow holds: its store must reach it."""
    return [
        Anchor(number=s.number, version=s.view.version, source=f"the {s.status} workflow")
        for s in await workflow_states(ringi)
        if s.view is not None
    ]


async def reconcile(
    ringi: Ringi, numbers: Iterable[int] | None = None, settle: float = 0.5, attempts: int = 4
) -> list[Difference]:
    """Every request whose workflow and store disagree."""
    differences = []
    for state in await workflow_states(ringi, numbers):
        difference = _compare(ringi, state)
        for _ in range(attempts - 1):
            if difference is None:
                break
            await asyncio.sleep(settle)  # a command may be in flight: look again
            difference = _compare(ringi, await workflow_state(ringi, state.number))
        if difference is not None:
            differences.append(difference)
    return differences


def _compare(ringi: Ringi, state: WorkflowState) -> Difference | None:
    held = state.view
    try:
        stored: RequestView | None = ringi.store.view(state.number)
    except Refused:
        stored = None
    except Exception as error:  # an event the store cannot read or apply any more
        return Difference(
            number=state.number,
            status=state.status,
            fields=[],
            workflow_version=held.version if held else None,
            store_version=None,
            message=(
                f"the store cannot fold its events ({type(error).__name__}: {error}); "
                "`ringi audit verify` names the event"
            ),
        )
    if held is None and stored is None:
        return None  # a number handed out to a filing that never happened
    if held is None:
        assert stored is not None
        if state.status == "running" or not stored.is_open:
            return None  # still being filed, or closed and its workflow long gone
        return Difference(
            number=state.number,
            status=state.status,
            fields=[],
            workflow_version=None,
            store_version=stored.version,
            message=(
                f"the store has it open ({stored.stage.value}, version {stored.version}) "
                + (
                    "but it has no workflow (`ringi up` starts one for it when it starts)"
                    if state.status == "none"
                    else f"but its workflow is {state.status}"
                )
            ),
        )
    if stored is None:
        highest = highest_number(ringi.store)
        restored = (
            f"; the store has handed out numbers up to {highest} only: was it restored "
            "from an earlier backup? The next filing takes the number and ends this workflow"
            if state.number > highest
            else ""
        )
        return Difference(
            number=state.number,
            status=state.status,
            fields=[],
            workflow_version=held.version,
            store_version=None,
            message=(
                f"the {state.status} workflow holds version {held.version} "
                f"({held.stage.value}), but the store has no event of it{restored}"
            ),
        )
    fields = _differing(held.model_dump(mode="json"), stored.model_dump(mode="json"))
    if not fields:
        return None
    return Difference(
        number=state.number,
        status=state.status,
        fields=fields,
        workflow_version=held.version,
        store_version=stored.version,
        message=(
            f"the {state.status} workflow holds version {held.version} ({held.stage.value}), "
            f"the store folds version {stored.version} ({stored.stage.value}); "
            f"they differ in {', '.join(fields)}"
        ),
    )


def _differing(held: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    return sorted(k for k in held.keys() | stored.keys() if held.get(k) != stored.get(k))
