"""``ringi import`` of large registers, next to raw Temporal workflow starts in the same run.

    python -m bench.importing [--rows 20000 --rows 100000] [--concurrency 32]
                              [--raw-sample 3000] [--store sqlite|postgres]

For each size, a register of that many rows made from the reference
register's rows (``bench/registers.py``) is imported by ``ringi import FILE
--json`` as a child process, against an in-memory dev server with ringi's
worker running in this process (as ``ringi up`` would). It prints:

- rows/s: rows over the command's whole wall time (parse, plan, store write,
  starts), and the store write's and the starts' own times (the command's
  ``--json`` reports them);
- workflows started/s, next to raw ``client.start_workflow`` starts/s of a
  trivial workflow (its worker in this process) on the same server at the
  same concurrency, measured right before and right after the import
  (``--raw-sample`` starts each; after, ringi's worker may still be running
  the new workflows' first tasks): the ratio to their mean is what ringi's
  starts cost over Temporal's own;
- the child's peak RSS (``os.wait4``'s rusage), and that against the file's
  size: the question is whether memory grows with the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from ringi.config import Settings

from .harness import (
    StoreKind,
    Trivial,
    at_most,
    exit_now,
    installation,
    ringi_running,
    temporal,
    trivial_worker,
)
from .registers import write_register

RINGI_IMPORT = [sys.executable, "-m", "ringi.cli", "import"]


def child_env(settings: Settings, env: WorkflowEnvironment) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    return environment | {
        "RINGI_DATA_DIR": str(settings.data_dir),
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_DSN": settings.postgres_dsn,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        "RINGI_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "RINGI_TASK_QUEUE": settings.task_queue,
    }


def run_import(
    path: Path, settings: Settings, env: WorkflowEnvironment, concurrency: int
) -> tuple[dict[str, object], float, int, int]:
    """The command's JSON summary, its wall time, its exit status and its peak RSS (bytes)."""
    began = time.perf_counter()
    child = subprocess.Popen(
        [*RINGI_IMPORT, str(path), "--json", "--concurrency", str(concurrency)],
        env=child_env(settings, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    out, err = child.stdout, child.stderr
    assert out is not None and err is not None
    output = out.read()
    errors = err.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if child.returncode not in (0, 5):
        raise SystemExit(f"ringi import exited {child.returncode}:\n{errors.decode()[-3000:]}")
    return json.loads(output), seconds, child.returncode, usage.ru_maxrss * 1024


async def raw_starts(
    env: WorkflowEnvironment, task_queue: str, count: int, concurrency: int
) -> float:
    async with trivial_worker(env, task_queue) as queue:
        run = uuid.uuid4().hex[:8]

        def job(i: int):  # type: ignore[no-untyped-def]
            async def start() -> None:
                await env.client.start_workflow(
                    Trivial.run, False, id=f"raw-{run}-{i}", task_queue=queue
                )

            return start

        timed = await at_most(concurrency, [job(i) for i in range(count)])
    return timed.per_second


async def measure(rows: int, kind: StoreKind, concurrency: int, raw_sample: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ringi-bench-import-") as directory:
        path = write_register(Path(directory) / f"register-{rows}.tsv", rows)
        size = path.stat().st_size
        async with temporal("dev") as env:
            with installation(kind) as settings:
                async with ringi_running(env, settings):
                    before = await raw_starts(env, settings.task_queue, raw_sample, concurrency)
                    summary, seconds, status, peak = await asyncio.to_thread(
                        run_import, path, settings, env, concurrency
                    )
                    after = await raw_starts(env, settings.task_queue, raw_sample, concurrency)
    raw = (before + after) / 2
    workflows = summary["workflows"]
    assert isinstance(workflows, dict)
    timing = summary["seconds"]
    assert isinstance(timing, dict)
    started = int(workflows["started"])
    per_second = started / timing["start"] if timing["start"] else float("nan")
    print(
        f"{rows:>7} rows ({size / 1e6:.1f} MB, {kind}): exit {status}, {seconds:.1f} s in all, "
        f"{rows / seconds:.0f} rows/s; store write {timing['write']:.1f} s "
        f"({rows / timing['write']:.0f} rows/s)"
    )
    print(
        f"         workflows: {started} started, {workflows['remaining']} remaining, "
        f"{timing['start']:.1f} s: {per_second:.0f}/s; raw starts {before:.0f}/s before, "
        f"{after:.0f}/s after ({raw_sample} starts each, same server, concurrency "
        f"{concurrency}): ratio {per_second / raw:.2f} to their mean"
    )
    print(
        f"         peak RSS {peak / 2**20:.0f} MiB, {peak / size:.1f}x the file",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--raw-sample", type=int, default=3000)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    for rows in args.rows or [20_000, 100_000]:
        asyncio.run(measure(rows, args.store, args.concurrency, args.raw_sample))
    return 0


if __name__ == "__main__":
    exit_now(main())
