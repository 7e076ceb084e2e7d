"""The Temporal worker: runs request workflows, the store activities and the
delivery of the outbox (``workflows.notify``).

    python -m ringi.worker [--temporal HOST:PORT] [--namespace NS] [--task-queue Q] [--data-dir DIR]

Settings come from flags, then ``RINGI_*`` environment variables.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from .activities.notify import NotifyActivities
from .activities.store import StoreActivities
from .config import Settings
from .database import SchemaError
from .logging import configure
from .store import RingiStore
from .temporal import connect, ensure_search_attributes
from .workflows.notify import DeliveryWorkflow, OutboxDispatcher, ensure_dispatcher
from .workflows.request import RequestWorkflow

log = structlog.get_logger("ringi.worker")


def open_store(settings: Settings) -> RingiStore:
    return RingiStore(env=settings.eventsourcing_env())


def build_worker(
    client: Client,
    settings: Settings,
    store: RingiStore,
    executor: ThreadPoolExecutor,
    *,
    max_cached_workflows: int = 1000,
) -> Worker:
    """``max_cached_workflows=0`` turns off the workflow cache and with it sticky
    task queues: every workflow task replays the history on whichever worker
    polls it (the tests use this to stop one worker and start another)."""
    activities = StoreActivities(store)
    notify = NotifyActivities(store, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[RequestWorkflow, OutboxDispatcher, DeliveryWorkflow],
        activities=[*activities.all(), *notify.all()],
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        max_cached_workflows=max_cached_workflows,
    )


@contextmanager
def projection_kept(settings: Settings) -> Iterator[None]:
    """The read model kept current beside the worker (``ringi.projection.runner``)."""
    from .projection.runner import keep_current

    stop = threading.Event()
    thread = threading.Thread(
        target=keep_current,
        args=(settings.eventsourcing_env(), stop),
        name="ringi-projection",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    store = open_store(settings)  # first: an uninitialised database stops us before anything
    with projection_kept(settings):
        await _run_worker(settings, store, stop)


async def _run_worker(settings: Settings, store: RingiStore, stop: asyncio.Event) -> None:
    client = await connect(settings)
    await ensure_search_attributes(client, settings.namespace)
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="ringi-activity") as executor:
        worker = build_worker(client, settings, store, executor)
        log.info(
            "worker started",
            temporal=settings.temporal_address,
            task_queue=settings.task_queue,
            store=settings.store,
        )
        async with worker:
            await ensure_dispatcher(client, settings)  # delivers the outbox
            await stop.wait()
        log.info("worker stopped")
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ringi-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--temporal", help="Temporal address (RINGI_TEMPORAL_ADDRESS)")
    parser.add_argument("--namespace", help="Temporal namespace (RINGI_NAMESPACE)")
    parser.add_argument("--task-queue", help="task queue (RINGI_TASK_QUEUE)")
    parser.add_argument("--data-dir", help="data directory (RINGI_DATA_DIR)")
    parser.add_argument("--store", choices=["sqlite", "postgres"], help="event store (RINGI_STORE)")
    parser.add_argument("--log-format", choices=["console", "json"], help="(RINGI_LOG_FORMAT)")
    args = parser.parse_args(argv)
    overrides = {
        "temporal_address": args.temporal,
        "namespace": args.namespace,
        "task_queue": args.task_queue,
        "data_dir": args.data_dir,
        "store": args.store,
        "log_format": args.log_format,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure(settings.log_format)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(serve())
    except SchemaError as error:  # an uninitialised database: says to run `ringi db init`
        log.error("the event store refused to open", error=str(error))
        return 1
    return 0


if __name__ == "__main__":
    from .cli.exit import exit_now

    exit_now(main())
