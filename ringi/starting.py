"""Starting the workflows of many requests at once (after an import, or
``ringi db resume-workflows``): bounded, resumable, with no overall timeout.

Each start is its own call to Temporal with its own deadline, a few at a time
(``concurrency``), so a register of any size finishes: however long it takes
in all, no single answer is waited for long. A request whose workflow already
runs is skipped (found in Temporal's visibility list first, then told by the
start itself: an already-started workflow is success, never a failure), so
running the same start again starts only what is left. A start that fails
(Temporal busy for too long, or refusing) is counted as remaining, with its
reason; the caller says how many remain and how to finish them. Once Temporal
stops answering altogether, the rest are not tried (each would wait out its
retries in turn) and remain, with that reason.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .workflows.messages import RequestStart, workflow_id
from .workflows.request import RequestWorkflow

#: workflow starts in flight at once by default: enough to keep a server busy,
#: few enough not to swamp a small one
DEFAULT_CONCURRENCY = 32
#: how long one start may wait for Temporal's answer
START_TIMEOUT = timedelta(seconds=30)
#: a start Temporal answers "busy" (or does not answer) is tried this often
_ATTEMPTS = 6
_FIRST_WAIT = 0.2
_RETRIED = (
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
)

#: a start that still failed so after its retries: Temporal is not answering at all
_GONE = (RPCStatusCode.UNAVAILABLE.name,)

Advance = Callable[[int, int], None]


@dataclass
class Starts:
    """What a run of starts did: the numbers whose workflows it started, those
    already running, and those still without one (with why)."""

    started: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def remaining(self) -> list[int]:
        return sorted(self.failed)

    @property
    def complete(self) -> bool:
        return not self.failed

    def summary(self) -> dict[str, object]:
        """For ``--json``."""
        return {
            "started": len(self.started),
            "already_running": len(self.running),
            "remaining": len(self.failed),
            "remaining_numbers": self.remaining,
            "errors": {str(n): why for n, why in sorted(self.failed.items())},
        }


async def running_numbers(client: Client) -> set[int]:
    """The requests whose workflows Temporal lists as running. Visibility may
    lag behind a start: this only saves calls, the start itself decides."""
    query = f"WorkflowType = '{RequestWorkflow.__name__}' AND ExecutionStatus = 'Running'"
    found: set[int] = set()
    try:
        async for execution in client.list_workflows(query, page_size=1000):
            prefix, _, tail = execution.id.rpartition("-")
            if prefix and tail.isdigit() and execution.id == workflow_id(int(tail)):
                found.add(int(tail))
    except RPCError:  # a server without visibility queries (the time-skipping test server)
        return set()
    return found


async def start_workflows(
    client: Client,
    task_queue: str,
    numbers: Iterable[int],
    *,
    total: int,
    concurrency: int = DEFAULT_CONCURRENCY,
    advance: Advance | None = None,
) -> Starts:
    """Start the workflow of each request in ``numbers`` (``total`` of them) that
    has none, ``concurrency`` at a time, each loaded from the store by the
    workflow itself. Returns what was done; never raises for one start."""
    if concurrency < 1:
        raise ValueError("concurrency is at least 1")
    starts = Starts()
    done = 0
    if advance is not None:
        advance(0, total)
    known = await running_numbers(client)
    pending: Iterator[int] = iter(numbers)
    gone: str | None = None  # why Temporal is taken to have gone away

    async def starter() -> None:
        nonlocal done, gone
        for number in pending:  # shared: each number is taken by one starter
            if gone is not None:
                starts.failed[number] = f"not tried: {gone}"
            elif number in known:
                starts.running.append(number)
            else:
                outcome = await _start(client, task_queue, number)
                if outcome is None:
                    starts.started.append(number)
                elif outcome == "":
                    starts.running.append(number)
                else:
                    starts.failed[number] = outcome
                    if outcome.startswith(_GONE):
                        gone = outcome
            done += 1
            if advance is not None:
                advance(done, total)

    await asyncio.gather(*(starter() for _ in range(concurrency)))
    starts.started.sort()
    starts.running.sort()
    return starts


async def _start(client: Client, task_queue: str, number: int) -> str | None:
    """None: started; "": it was running already (or done); else why it failed."""
    wait = _FIRST_WAIT
    for attempt in range(_ATTEMPTS):
        try:
            await client.start_workflow(
                RequestWorkflow.run,
                RequestStart(number=number),
                id=workflow_id(number),
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # a workflow that ended without finishing its request may start again
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                rpc_timeout=START_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            return ""
        except RPCError as error:
            if error.status not in _RETRIED or attempt == _ATTEMPTS - 1:
                return f"{error.status.name if error.status else 'error'}: {error.message}"
        else:
            return None
        # a lost start may have been carried out: the next attempt then finds it running
        await asyncio.sleep(wait * (0.5 + random.random()))
        wait *= 2
    raise AssertionError("unreachable")
