"""The HTTP API under 50 concurrent clients, next to raw Temporal update round-trips, same run.

    python -m bench.api [--clients 50] [--requests 50] [--writes 10] [--reads 40]

Starts a real `ringi up` (Temporal dev server from the `temporal` binary, the
worker and the API under uvicorn, one process, free ports on 127.0.0.1) on a
throwaway data directory whose policy.json sets a support threshold nobody
reaches, so endorsements never close the support window; rate limiting is off
(RINGI_API_RATE_PER_SECOND=0). Then, from this process, with ``--clients``
concurrent clients:

- raw: Temporal update round-trips on a trivial workflow whose update returns
  at once, against the same Temporal server (its worker in this process);
- service: endorsements through ``Ringi.act`` (the workflow update, its
  store activity), no HTTP, for reference;
- API endorse: ``POST /v1/requests/{n}/endorse``, each client with its own
  member token (its own company);
- API read: ``GET /v1/requests/{n}`` (state, timers and timeline from the store).

Every client writes ``--writes`` times, to that many of the ``--requests``
requests (or trivial workflows) in turn, each client starting at its own, so
that a request's writes queue up in its workflow as they would in life but
stay under Temporal's limit of 10 in-flight updates per workflow (the dev
server's default: an 11th concurrent update on one workflow is refused with
RESOURCE_EXHAUSTED, which the API answers with 503). Each operation's latency is measured by
the client that made it; requests per second are operations over wall time.
Absolute figures mean little on a noisy machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from ringi.api.tokens import TokenRegistry
from ringi.config import Settings
from ringi.domain.commands import Endorse
from ringi.domain.vocabulary import Actor, Role
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.cli_harness import RINGI, free_port


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


@dataclass
class Figures:
    what: str
    latencies: list[float]  # seconds, one per operation
    wall: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def row(self) -> str:
        return (
            f"{self.what:<40}{len(self.latencies):>7}{self.rate:>10.1f}"
            f"{self.pct(50):>9.1f}{self.pct(99):>9.1f}"
            f"{statistics.fmean(self.latencies) * 1000:>9.1f}"
        )


async def load(
    what: str, clients: int, work: Callable[[int], list[Callable[[], Awaitable[object]]]]
) -> Figures:
    """Run each client's operations one after another, all clients at once."""
    latencies: list[float] = []

    async def client(c: int) -> None:
        for op in work(c):
            started = time.perf_counter()
            await op()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return Figures(what, latencies, time.perf_counter() - started)


WRITES = 10


def turn(c: int, items: list[int]) -> list[int]:
    """Client ``c``'s order through the items: ``WRITES`` of them, starting at its own."""
    k = c % len(items)
    return (items[k:] + items[:k])[:WRITES]


async def main(clients: int, requests: int, reads: int) -> list[Figures]:
    data = Path(tempfile.mkdtemp(prefix="ringi-bench-api-"))
    settings = Settings(data_dir=data / "data")
    settings.data_dir.mkdir(parents=True)
    # a threshold nobody reaches keeps every request gathering support
    settings.policy_path.write_text('{"support_threshold": 100000}')

    # one member token per client (its own company), one for the proposer
    store = RingiStore(env=settings.eventsourcing_env())
    registry = TokenRegistry(store)
    tokens = [
        registry.issue(Role.MEMBER, company=f"社{c:03d}", name=f"bench {c}")[0]
        for c in range(clients)
    ]
    proposer = registry.issue(Role.MEMBER, company="提案社", name="proposer")[0]
    store.close()

    port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env |= {"RINGI_DATA_DIR": str(settings.data_dir), "RINGI_API_RATE_PER_SECOND": "0"}
    log = (data / "up.log").open("w")
    up = subprocess.Popen(
        [
            *RINGI,
            "up",
            "--port",
            str(port),
            "--ui-port",
            str(free_port()),
            "--api-port",
            str(api_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert up.stdout is not None
        line = await asyncio.to_thread(up.stdout.readline)
        if "ringi is up" not in line:
            raise SystemExit(f"`ringi up` did not come up; see {log.name}")
        return await measure(settings, port, api_port, tokens, proposer, clients, requests, reads)
    finally:
        up.send_signal(2)
        up.wait(timeout=60)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


async def measure(
    settings: Settings,
    port: int,
    api_port: int,
    tokens: list[str],
    proposer: str,
    clients: int,
    requests: int,
    reads: int,
) -> list[Figures]:
    address = f"127.0.0.1:{port}"
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    queue = f"bench-echo-{uuid.uuid4().hex[:6]}"
    results = []
    # idle connections are dropped before uvicorn's 5 s keep-alive closes them under us
    limits = httpx.Limits(
        max_connections=clients * 2, max_keepalive_connections=clients * 2, keepalive_expiry=1.0
    )
    async with (
        Worker(client, task_queue=queue, workflows=[Echo]),
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", timeout=60, limits=limits
        ) as http,
    ):
        # raw: the same pattern of update round-trips on trivial workflows
        handles = [
            await client.start_workflow(Echo.run, id=f"echo-{uuid.uuid4().hex}", task_queue=queue)
            for _ in range(requests)
        ]
        raw = await load(
            "raw Temporal update round-trip",
            clients,
            lambda c: [
                lambda h=handles[i]: h.execute_update(Echo.touch, c)  # type: ignore[misc]
                for i in turn(c, list(range(requests)))
            ],
        )
        for h in handles:
            await h.signal(Echo.finish)
        results.append(raw)

        async def file() -> int:
            answer = await http.post(
                "/v1/requests",
                json={"target": "bench", "body": "b"},
                headers={"Authorization": f"Bearer {proposer}"},
            )
            answer.raise_for_status()
            return int(answer.json()["request"]["number"])

        # the service without HTTP, on requests of its own, for reference
        store = RingiStore(
            env=settings.model_copy(update={"temporal_address": address}).eventsourcing_env()
        )
        ringi = Ringi(settings, client, store)
        direct = [await file() for _ in range(requests)]
        results.append(
            await load(
                "ringi service endorse (no HTTP)",
                clients,
                lambda c: [
                    lambda n=n: ringi.act(n, Endorse(actor=Actor.member(f"社{c:03d}")))  # type: ignore[misc]
                    for n in turn(c, direct)
                ],
            )
        )
        store.close()

        # the API: every client endorses every request once, with its own token
        numbers = [await file() for _ in range(requests)]

        async def endorse(c: int, n: int) -> None:
            answer = await http.post(
                f"/v1/requests/{n}/endorse", headers={"Authorization": f"Bearer {tokens[c]}"}
            )
            if answer.status_code != 200:
                raise SystemExit(
                    f"endorse No.{n} by client {c}: {answer.status_code} {answer.text}"
                )

        results.append(
            await load(
                "API endorse (POST .../endorse)",
                clients,
                lambda c: [lambda n=n: endorse(c, n) for n in turn(c, numbers)],  # type: ignore[misc]
            )
        )

        async def read(c: int, n: int) -> None:
            answer = await http.get(
                f"/v1/requests/{n}", headers={"Authorization": f"Bearer {tokens[c]}"}
            )
            if answer.status_code != 200:
                raise SystemExit(f"read No.{n}: {answer.status_code} {answer.text}")

        chooser = random.Random(7)
        picks = [[chooser.choice(numbers) for _ in range(reads)] for _ in range(clients)]
        results.append(
            await load(
                "API read (GET /v1/requests/{n})",
                clients,
                lambda c: [
                    lambda n=n: read(c, n)  # type: ignore[misc]
                    for n in picks[c]
                ],
            )
        )
    return results


def report(results: list[Figures], clients: int, requests: int, reads: int) -> None:
    raw, service, endorse, read = results
    print(
        f"{clients} concurrent clients on loopback; writes: {clients} × {WRITES} "
        f"(each client once on {WRITES} of {requests} requests), reads: {clients} × {reads}"
    )
    print(f"{'what':<40}{'ops':>7}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for figures in results:
        print(figures.row())
    print(
        f"API endorse / raw round-trip, latency: p50 {endorse.pct(50) / raw.pct(50):.2f}×, "
        f"p99 {endorse.pct(99) / raw.pct(99):.2f}×, mean "
        f"{statistics.fmean(endorse.latencies) / statistics.fmean(raw.latencies):.2f}×; "
        f"throughput {endorse.rate / raw.rate:.2f}× raw"
    )
    print(
        f"API endorse / service endorse (what HTTP adds), mean latency: "
        f"{statistics.fmean(endorse.latencies) / statistics.fmean(service.latencies):.2f}×"
    )
    print(f"API read p99: {read.pct(99):.1f} ms (target < 100 ms)")
    print(
        json.dumps(
            {
                f.what: {
                    "rate": round(f.rate, 1),
                    "p50_ms": round(f.pct(50), 1),
                    "p99_ms": round(f.pct(99), 1),
                }
                for f in results
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--writes", type=int, default=10, help="writes per client")
    parser.add_argument("--reads", type=int, default=40)
    args = parser.parse_args()
    WRITES = min(args.writes, args.requests)
    figures = asyncio.run(main(args.clients, args.requests, args.reads))
    report(figures, args.clients, args.requests, args.reads)
    from ringi.cli.exit import exit_now

    exit_now(0)
