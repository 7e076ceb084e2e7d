"""The HTTP API under 50 concurrent clients, next to raw Temporal update round-trips, same run.

    python -m bench.api [--clients 50] [--requests 50] [--writes 10] [--reads 40] [--together]
                        [--reads-only] [--store sqlite|postgres]

Starts a real installation on a throwaway data directory (and, with ``--store
postgres``, a fresh schema of the PostgreSQL at 127.0.0.1:5432) whose policy.json sets
a support threshold nobody reaches, so endorsements never close the support
window; rate limiting is off (RINGI_API_RATE_PER_SECOND=0); free ports on
127.0.0.1:

- by default as in production, the worker and the API in their own processes:
  `ringi up` (the Temporal dev server from the `temporal` binary, and the
  worker; its own API is not called) and `ringi serve` (the API alone, against
  that Temporal and the same event store), which is the API measured;
- with ``--together``, `ringi up` alone: worker and API in one process (one GIL).

Then, from this process, with ``--clients`` concurrent clients:

- raw: Temporal update round-trips on a trivial workflow whose update returns
  at once, against the same Temporal server (its worker in this process);
- service: the same endorsement as the API's, sent straight as the request
  workflow's update (``Ringi.act``: the update and its store activity), no HTTP:
  the baseline for what the API adds to a write;
- API endorse: ``POST /v1/requests/{n}/endorse``, each client with its own
  member token (its own company);
- API read: ``GET /v1/requests/{n}`` (state, timers and timeline).

With ``--reads-only`` only the API's write phases run, untimed, then the
reads (a quicker run for work on the read path; no write ratios).

Each kind of write is measured twice, in the order raw, service, API, API,
service, raw, so that a worker warming up and a Temporal database growing weigh
on every kind alike; the reads come last, on the requests the API endorsed.
In each write phase every client writes ``--writes`` times, to that many of the ``--requests``
requests (or trivial workflows) in turn, each client starting at its own, so
that a request's writes queue up in its workflow as they would in life but
stay under Temporal's limit of 10 in-flight updates per workflow (the dev
server's default: an 11th concurrent update on one workflow is refused with
RESOURCE_EXHAUSTED, which the API answers with 503). Each operation's latency is measured by
the client that made it; requests per second are operations over wall time.
The CPU time each process (this one, the API, the worker, the Temporal server)
spent in each phase is reported per operation, with how busy the whole machine
was and how much of that was other work (from /proc). Absolute figures mean little on a noisy machine; the
ratios are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.harness import StoreKind, installation
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
    #: CPU seconds each server process spent during the phase (name -> seconds)
    cpu: dict[str, float] = field(default_factory=dict)
    #: the latencies of all but each client's first operation (which opens its
    #: connection and may find the API's read model cold)
    later: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall

    def pct(self, p: float, *, later: bool = False) -> float:
        ordered = sorted(self.later if later else self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def row(self) -> str:
        cpu = "  ".join(
            f"{name} {seconds / len(self.latencies) * 1000:.2f}"
            for name, seconds in self.cpu.items()
            if name != MACHINE
        )
        if MACHINE in self.cpu:
            ours = sum(seconds for name, seconds in self.cpu.items() if name != MACHINE)
            cores = os.cpu_count() or 1
            cpu += (
                f"  | machine busy {self.cpu[MACHINE] / self.wall / cores:.0%} of {cores} cores, "
                f"{(self.cpu[MACHINE] - ours) / self.wall / cores:.0%} not ours"
            )
        return (
            f"{self.what:<40}{len(self.latencies):>7}{self.rate:>10.1f}"
            f"{self.pct(50):>9.1f}{self.pct(99):>9.1f}"
            f"{statistics.fmean(self.latencies) * 1000:>9.1f}   {cpu}"
        )


class Processes:
    """The server processes whose CPU time is measured, by name."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) each has used so far; empty without /proc."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        try:  # the whole machine: every core's busy time, whoever used it
            times = [int(t) for t in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except OSError:
            return used
        used[MACHINE] = (sum(times) - times[3] - times[4]) / ticks  # all but idle, iowait
        return used

    def add_children(self, pid: int) -> None:
        """``pid``'s child processes, by their program's name (the Temporal server)."""
        for task in Path(f"/proc/{pid}/task").glob("*"):
            for child in (task / "children").read_text().split():
                name = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
                self.pids[Path(name.decode()).name] = int(child)


#: the machine's busy CPU time, in the per-process figures
MACHINE = "machine"


PROCESSES = Processes({"client": os.getpid()})  # this process: the clients and the echo worker


async def load(
    what: str, clients: int, work: Callable[[int], list[Callable[[], Awaitable[object]]]]
) -> Figures:
    """Run each client's operations one after another, all clients at once."""
    latencies: list[float] = []
    later: list[float] = []  # all but each client's first operation

    async def client(c: int) -> None:
        for i, op in enumerate(work(c)):
            started = time.perf_counter()
            await op()
            latencies.append(time.perf_counter() - started)
            if i:
                later.append(latencies[-1])

    before = PROCESSES.cpu()
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - started
    after = PROCESSES.cpu()
    cpu = {name: after[name] - before[name] for name in after if name in before}
    return Figures(what, latencies, wall, cpu, later)


class Lean:
    """A minimal HTTP/1.1 client, one keep-alive connection per benchmark client.

    httpx spends 3–5 ms of CPU on a call (measured here); on a 2-core machine
    that CPU is taken from the server being measured, and real clients are not
    on the server's machine. This one writes the request and reads the answer
    (status line, headers, a Content-Length body): well under a millisecond."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._open: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def call(
        self, client: int, method: str, path: str, token: str, body: bytes = b""
    ) -> tuple[int, bytes]:
        """The status and the body of the answer."""
        if client not in self._open:
            self._open[client] = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._open[client]
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n"
            + ("Content-Type: application/json\r\n" if body else "")
            + "\r\n"
        )
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        if not status_line:
            raise SystemExit(f"{method} {path}: the server closed the connection")
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        answer = await reader.readexactly(length)
        if close:
            await self.close(client)
        return int(status_line.split()[1]), answer

    async def close(self, client: int | None = None) -> None:
        for c in [client] if client is not None else list(self._open):
            _, writer = self._open.pop(c)
            writer.close()
            await writer.wait_closed()


def merge(a: Figures, b: Figures) -> Figures:
    """Two phases of the same kind as one."""
    cpu = {name: a.cpu[name] + b.cpu[name] for name in a.cpu if name in b.cpu}
    return Figures(a.what, a.latencies + b.latencies, a.wall + b.wall, cpu, a.later + b.later)


WRITES = 10


def turn(c: int, items: list[int]) -> list[int]:
    """Client ``c``'s order through the items: ``WRITES`` of them, starting at its own."""
    k = c % len(items)
    return (items[k:] + items[:k])[:WRITES]


async def main(
    clients: int,
    requests: int,
    reads: int,
    together: bool,
    reads_only: bool = False,
    kind: StoreKind = "sqlite",
) -> list[Figures]:
    # a threshold nobody reaches keeps every request gathering support
    with installation(kind, policy='{"support_threshold": 100000}') as settings:
        return await run(settings, clients, requests, reads, together, reads_only)


async def run(
    settings: Settings, clients: int, requests: int, reads: int, together: bool, reads_only: bool
) -> list[Figures]:
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
    env |= {
        "RINGI_DATA_DIR": str(settings.data_dir),
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        "RINGI_API_RATE_PER_SECOND": "0",
    }
    log = (settings.data_dir / "bench-servers.log").open("w")
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
    servers = [up]
    try:
        assert up.stdout is not None
        line = await asyncio.to_thread(up.stdout.readline)
        if "ringi is up" not in line:
            raise SystemExit(f"`ringi up` did not come up; see {log.name}")
        PROCESSES.add_children(up.pid)
        if together:
            PROCESSES.pids.update({"worker+API": up.pid})
        else:
            # the API alone in its own process, against the same Temporal and store
            api_port = free_port()
            serve = subprocess.Popen(
                [*RINGI, "serve", "--port", str(api_port)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            servers.append(serve)
            assert serve.stdout is not None
            line = await asyncio.to_thread(serve.stdout.readline)
            if "ringi API is up" not in line:
                raise SystemExit(f"`ringi serve` did not come up; see {log.name}")
            PROCESSES.pids.update({"API": serve.pid, "worker": up.pid})
        return await measure(
            settings, port, api_port, tokens, proposer, clients, requests, reads, reads_only
        )
    finally:
        for server in reversed(servers):
            server.send_signal(2)
            server.wait(timeout=60)
        log.close()


async def measure(
    settings: Settings,
    port: int,
    api_port: int,
    tokens: list[str],
    proposer: str,
    clients: int,
    requests: int,
    reads: int,
    reads_only: bool,
) -> list[Figures]:
    address = f"127.0.0.1:{port}"
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    queue = f"bench-echo-{uuid.uuid4().hex[:6]}"
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

        async def raw() -> Figures:
            return await load(
                "raw Temporal update round-trip",
                clients,
                lambda c: [
                    lambda h=handles[i]: h.execute_update(Echo.touch, c)  # type: ignore[misc]
                    for i in turn(c, list(range(requests)))
                ],
            )

        gate = asyncio.Semaphore(8)

        async def file() -> int:
            async with gate:
                answer = await http.post(
                    "/v1/requests",
                    json={"target": "bench", "body": "b"},
                    headers={"Authorization": f"Bearer {proposer}"},
                )
            answer.raise_for_status()
            return int(answer.json()["request"]["number"])

        # the same endorsement sent straight as the workflow's update, no HTTP
        store = RingiStore(
            env=settings.model_copy(update={"temporal_address": address}).eventsourcing_env()
        )
        ringi = Ringi(settings, client, store)

        async def service(numbers: list[int]) -> Figures:
            return await load(
                "ringi service endorse (no HTTP)",
                clients,
                lambda c: [
                    lambda n=n: ringi.act(n, Endorse(actor=Actor.member(f"社{c:03d}")))  # type: ignore[misc]
                    for n in turn(c, numbers)
                ],
            )

        # the API: every client endorses each of its requests once, with its own token
        lean = Lean("127.0.0.1", api_port)

        async def endorse(c: int, n: int) -> None:
            status, text = await lean.call(c, "POST", f"/v1/requests/{n}/endorse", tokens[c])
            if status != 200:
                raise SystemExit(f"endorse No.{n} by client {c}: {status} {text.decode()}")

        async def api(numbers: list[int]) -> Figures:
            try:
                return await load(
                    "API endorse (POST .../endorse)",
                    clients,
                    lambda c: [lambda n=n: endorse(c, n) for n in turn(c, numbers)],  # type: ignore[misc]
                )
            finally:
                await lean.close()  # idle between phases longer than uvicorn keeps a connection

        # four sets of requests, one per write phase (a company endorses a request once)
        sets = [await asyncio.gather(*(file() for _ in range(requests))) for _ in range(4)]
        if reads_only:  # the API's endorsements, untimed: the reads find what they left
            await api(sets[1])
            await api(sets[2])
            results = []
        else:
            # A B C C B A: the drift of a warming worker and a growing Temporal
            # database falls on every kind alike
            first = [await raw(), await service(sets[0]), await api(sets[1])]
            second = [await api(sets[2]), await service(sets[3]), await raw()]
            results = [merge(a, b) for a, b in zip(first, reversed(second), strict=True)]
        for h in handles:
            await h.signal(Echo.finish)
        store.close()

        async def read(c: int, n: int) -> None:
            status, text = await lean.call(c, "GET", f"/v1/requests/{n}", tokens[c])
            if status != 200 or not text.startswith(b"{"):
                raise SystemExit(f"read No.{n}: {status} {text.decode()}")

        # reads of the requests the API phases endorsed, each client at random
        numbers = sets[1] + sets[2]
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
        await lean.close()
    return results


def ratios(what: Figures, base: Figures) -> str:
    mean = statistics.fmean(what.latencies) / statistics.fmean(base.latencies)
    return (
        f"p50 {what.pct(50) / base.pct(50):.2f}×, p99 {what.pct(99) / base.pct(99):.2f}×, "
        f"mean {mean:.2f}×; throughput {what.rate / base.rate:.2f}×"
    )


def report(results: list[Figures], clients: int, requests: int, reads: int, together: bool) -> None:
    read = results[-1]
    where = (
        "worker and API in one process (ringi up)"
        if together
        else ("worker (ringi up) and API (ringi serve) in separate processes")
    )
    print(
        f"{clients} concurrent clients on loopback; {where}; writes of each kind: "
        f"2 phases × {clients} clients × {WRITES} (each client once on {WRITES} of {requests} "
        f"requests), in the order raw, service, API, API, service, raw; "
        f"reads: {clients} × {reads}"
    )
    print(
        f"{'what':<40}{'ops':>7}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
        "   CPU ms per op, by process"
    )
    for figures in results:
        print(figures.row())
    if len(results) == 4:
        raw, service, endorse, _ = results
        print(
            "API endorse / service endorse (the same update without HTTP): "
            f"{ratios(endorse, service)}"
        )
        print(f"API endorse / raw round-trip on a trivial workflow: {ratios(endorse, raw)}")
        print(f"service endorse / raw round-trip: {ratios(service, raw)}")
    print(
        f"API read p99: {read.pct(99):.1f} ms (target < 100 ms); without each client's "
        f"first read: p50 {read.pct(50, later=True):.1f} ms, p99 {read.pct(99, later=True):.1f} ms"
    )
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
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--reads-only", action="store_true", help="skip the write phases: file, endorse, read"
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="the API in the worker's process (`ringi up` alone) instead of `ringi serve`",
    )
    args = parser.parse_args()
    WRITES = min(args.writes, args.requests)
    figures = asyncio.run(
        main(args.clients, args.requests, args.reads, args.together, args.reads_only, args.store)
    )
    report(figures, args.clients, args.requests, args.reads, args.together)
    from ringi.cli.exit import exit_now

    exit_now(0)
