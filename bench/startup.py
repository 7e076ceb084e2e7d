"""How long the command line takes to answer, whole process, against a bare
``python -c pass`` measured in the same run.

    python -m bench.startup                 # 200 requests, 9 repeats of each
    python -m bench.startup --requests 2000 --repeats 15
    python -m bench.startup --data-dir /tmp/corpus   # its events.db: a corpus kept before

It makes a small store in a temporary data directory (the corpus of
``bench.corpus``: real commands through the real aggregates), or uses the
``events.db`` of ``--data-dir`` (the read model in it is brought up to date, so
give it a copy of a corpus others read), then times, each
in a fresh process and in turn so that a burst of load on the machine falls on
all of them alike: ``python -c pass``, ``ringi --help``, ``ringi show N`` and
``ringi list --json``. It prints the median and the ratio to ``python -c pass``.

Bytecode is written and reused as in an ordinary installation (a
``PYTHONDONTWRITEBYTECODE`` in the environment is dropped, and each command runs
once before it is timed): without it every run compiles ringi's sources again,
which is not what a user's shell pays.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import generate, opened_store, stored_events


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``argv`` to its exit (which must be 0)."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="default: %(default)s")
    parser.add_argument("--repeats", type=int, default=9, help="default: %(default)s")
    parser.add_argument(
        "--data-dir", type=Path, help="an installation whose events.db to read (not made)"
    )
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="ringi-startup-") as tmp:
        data = args.data_dir or Path(tmp)
        with opened_store("sqlite", data, keep=str(data / "events.db")) as store:
            if args.data_dir is None:
                generate(store, requests=args.requests)
            requests, events = len(store.numbers()), stored_events(store)
        print(f"store: {requests} requests, {events} events in {data}", flush=True)
        env["RINGI_DATA_DIR"] = str(data)
        ringi = [sys.executable, "-m", "ringi.cli"]
        shown = max(1, requests // 2)
        subjects = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "ringi --help": [*ringi, "--help"],
            f"ringi show {shown}": [*ringi, "show", str(shown)],
            "ringi list --json": [*ringi, "list", "--json"],
        }
        for command in subjects.values():  # bytecode written, the read model caught up
            timed(command, env)
        times: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(args.repeats):
            for name, command in subjects.items():
                times[name].append(timed(command, env))

    medians = {name: statistics.median(runs) for name, runs in times.items()}
    base = medians["python -c pass"]
    print(f"median of {args.repeats} runs each, whole process:")
    for name, median in medians.items():
        runs = times[name]
        print(
            f"  {name:<22} {median * 1000:7.1f} ms  ({base and median / base:5.1f}x python -c pass;"
            f" min {min(runs) * 1000:.1f}, max {max(runs) * 1000:.1f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
