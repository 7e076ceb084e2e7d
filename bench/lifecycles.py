"""Whole lifecycles, filing to release, next to the same Temporal round trips raw.

    python -m bench.lifecycles [--requests 1000] [--concurrency 20] [--store sqlite|postgres]

Every request goes file → 5 endorsements (the hearing opens by itself: the
policy's threshold is 6, proposer included) → hearing findings → cost
evaluation (cost-effective) → objection window → (14 days, no objection:
implementation, by the workflow's timer) → approval → release, through
``Ringi.file`` and ``Ringi.act`` as every entry point does, at most
``--concurrency`` requests at once, each request's commands one after another.

The objection window is a durable 14-day timer, so this runs on Temporal's
time-skipping test server (the `temporal-test-server` of the temporalio wheel,
in memory): phase 1 takes every request to its objection window, one
``env.sleep(15 days)`` lets the timers fire (each workflow then records the
window's end through its store activity), and phase 2 approves and releases.
The store is a throwaway SQLite file or a fresh PostgreSQL schema.

Next to it, in the same run, on the same server: the raw baseline, a trivial
workflow per request taking the same round trips with nothing behind them (a
start and 10 updates, one of which sleeps 15 days on a timer, skipped the same
way). Reported: the time of each phase, lifecycles per second, the ratio, and
each request's Temporal history length (events), from its fetched history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from ringi.domain.commands import (
    Approve,
    Command,
    Endorse,
    EvaluateCost,
    FileRequest,
    OpenObjectionWindow,
    RecordFindings,
    Release,
)
from ringi.domain.cost import CostBearer, CostInputs, CostItem
from ringi.domain.vocabulary import Actor, Category, Stage
from ringi.service import Ringi
from ringi.workflows.messages import workflow_id

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

SECRETARIAT = Actor.secretariat("事務局")
ENDORSERS = [f"{c}電力" for c in "BCDEF"]
POLICY = json.dumps({"support_threshold": 6})  # the proposer and 5 endorsements
WINDOW = timedelta(days=15)  # past the policy's 14-day objection window
RELEASE = date(2030, 4, 1)


def worthwhile() -> CostInputs:
    return CostInputs(
        horizon_years=5,
        monthly_volume=6_000,
        benefit_per_unit_yen=Decimal(100),
        cost_items=(CostItem(bearer=CostBearer.CENTRAL, amount_yen=Decimal(20_000_000)),),
    )


def until_window() -> list[Command]:
    return [
        *(Endorse(actor=Actor.member(company)) for company in ENDORSERS),
        RecordFindings(actor=SECRETARIAT, text="事業者ヒアリング: 各社とも必要"),
        EvaluateCost(actor=SECRETARIAT, inputs=worthwhile()),
        OpenObjectionWindow(actor=SECRETARIAT),
    ]


def after_window() -> list[Command]:
    return [
        Approve(actor=SECRETARIAT, planned_release=RELEASE),
        Release(actor=SECRETARIAT, released_on=RELEASE),
    ]


async def ringi_phases(
    env: WorkflowEnvironment, ringi: Ringi, requests: int, concurrency: int
) -> tuple[list[Timed], list[int]]:
    numbers: list[int] = []

    def first_half(i: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            filed = await ringi.file(
                FileRequest(
                    actor=Actor.member("A電力"),
                    category=Category.REQUEST,
                    target="スイッチング支援システム API",
                    body=f"lifecycle {i}",
                )
            )
            numbers.append(filed.number)
            for cmd in until_window():
                view = await ringi.act(filed.number, cmd)
            assert view.stage is Stage.OBJECTION_WINDOW, view.stage

        return run

    def second_half(number: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            for cmd in after_window():
                view = await ringi.act(number, cmd)
            assert view.stage is Stage.RELEASED, view.stage

        return run

    phase1 = await at_most(concurrency, [first_half(i) for i in range(requests)])
    print(f"ringi phase 1 (file .. objection window): {phase1.seconds:.1f} s", flush=True)
    began = time.perf_counter()
    await skip(env, WINDOW)
    while any(ringi.view(n).stage is not Stage.IMPLEMENTATION for n in numbers):
        await asyncio.sleep(0.2)  # each workflow records its window's end
    timers = Timed(requests, time.perf_counter() - began, [])
    print(f"ringi timers (window ends recorded): {timers.seconds:.1f} s", flush=True)
    phase2 = await at_most(concurrency, [second_half(n) for n in numbers])
    print(f"ringi phase 2 (approve, release): {phase2.seconds:.1f} s", flush=True)
    return [phase1, timers, phase2], numbers


async def raw_phases(
    env: WorkflowEnvironment, queue: str, requests: int, concurrency: int
) -> list[Timed]:
    handles: list[WorkflowHandle[Trivial, int]] = []
    before, after = len(until_window()), len(after_window())

    def first_half() -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            handle = await env.client.start_workflow(
                Trivial.run, True, id=f"raw-{uuid.uuid4().hex}", task_queue=queue
            )
            handles.append(handle)
            for n in range(before):
                await handle.execute_update(Trivial.touch, n)

        return run

    def second_half(handle: WorkflowHandle[Trivial, int]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            for n in range(after):
                await handle.execute_update(Trivial.touch, n)
            await handle.signal(Trivial.finish)

        return run

    phase1 = await at_most(concurrency, [first_half() for _ in range(requests)])
    began = time.perf_counter()
    # one timer per workflow, as the objection window's, fired by skipping time
    updates = [
        asyncio.create_task(h.execute_update(Trivial.sleep, WINDOW.total_seconds()))
        for h in handles
    ]
    await asyncio.sleep(0.5)
    await skip(env, WINDOW)
    await asyncio.gather(*updates)
    timers = Timed(requests, time.perf_counter() - began, [])
    phase2 = await at_most(concurrency, [second_half(h) for h in handles])
    return [phase1, timers, phase2]


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """``env.sleep(duration)`` without its RPC deadline: the test server skips
    time only as fast as the workflows it wakes finish their work (a thousand
    store activities), which takes longer than the SDK's default timeout."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(
        request, timeout=timedelta(minutes=30)
    )


def stored(ringi: Ringi) -> int:
    """The events in the store, counted (notification ids may have gaps)."""
    count, start = 0, None
    while True:
        page = ringi.store.recorder.select_notifications(
            start=start, limit=5000, inclusive_of_start=False
        )
        count += len(page)
        if len(page) < 5000:
            return count
        start = page[-1].id


async def history_lengths(env: WorkflowEnvironment, numbers: list[int]) -> list[int]:
    lengths = []
    for number in numbers:
        history = await env.client.get_workflow_handle(workflow_id(number)).fetch_history()
        lengths.append(len(history.events))
    return lengths


async def main(kind: StoreKind, requests: int, concurrency: int) -> None:
    async with temporal("time-skipping") as env:
        with installation(kind, policy=POLICY) as settings:
            async with (
                ringi_running(env, settings) as ringi,
                trivial_worker(env, settings.task_queue) as queue,
            ):
                raw = await raw_phases(env, queue, requests, concurrency)
                print(f"raw: {sum(p.seconds for p in raw):.1f} s", flush=True)
                ours, numbers = await ringi_phases(env, ringi, requests, concurrency)
                lengths = await history_lengths(env, numbers)
                events = stored(ringi)
                highest = ringi.store.recorder.max_notification_id() or 0

    raw_total = sum(p.seconds for p in raw)
    total = sum(p.seconds for p in ours)
    commands = 1 + len(until_window()) + len(after_window())
    print()
    print(
        f"{requests} lifecycles, concurrency {concurrency}, store {kind}, time-skipping server; "
        f"{commands} commands each"
    )
    print(f"{'':<34}{'phase 1 s':>10}{'timers s':>10}{'phase 2 s':>10}{'total s':>10}{'per s':>9}")
    for name, phases, whole in (
        ("raw Temporal (same round trips)", raw, raw_total),
        ("ringi", ours, total),
    ):
        p1, t, p2 = (p.seconds for p in phases)
        print(f"{name:<34}{p1:>10.1f}{t:>10.1f}{p2:>10.1f}{whole:>10.1f}{requests / whole:>9.2f}")
    print(f"ratio ringi / raw (lifecycles per second): {raw_total / total:.2f}")
    print(
        f"one request's phase 1 ({1 + len(until_window())} commands): p50 {ours[0].p50_ms / 1000:.2f} s, "
        f"raw {raw[0].p50_ms / 1000:.2f} s; phase 2 ({len(after_window())} commands): "
        f"p50 {ours[2].p50_ms / 1000:.2f} s, raw {raw[2].p50_ms / 1000:.2f} s"
    )
    print(
        "Temporal history events per request: "
        f"min {min(lengths)}, median {statistics.median(lengths):.0f}, max {max(lengths)}"
    )
    print(
        f"event store: {events:,} events in all, {events / requests:.1f} per request "
        f"(highest notification id {highest:,}: PostgreSQL's have gaps where a writer "
        "that lost a race rolled back)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    asyncio.run(main(args.store, args.requests, args.concurrency))
    exit_now(0)
