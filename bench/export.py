"""Exporting every stored event (``ringi audit export``), next to reading them raw.

    python -m bench.export [--events 1000000] [--store sqlite|postgres] [--keep FILE_OR_SCHEMA]
                           [--formats jsonl|csv|jsonl,csv] [--repeat 2] [--no-trace]

Writes ``--events`` events into a fresh store (see ``bench.corpus``), then runs
each phase in a process of its own, so that its peak memory is its own:

* raw read: ``recorder.select_notifications`` page by page (the export's page
  size), nothing decoded: the baseline;
* export: ``ringi.audit.trail.export`` streamed through the CLI's writer for the
  format (``write_jsonl`` / ``write_csv``) into a file, as
  ``ringi audit export --format F --output FILE`` does.

For each phase: the time (best of ``--repeat`` runs without tracing, the phases
interleaved), and the peak memory two ways:
``ru_maxrss`` of that run (the whole process, interpreter and libraries
included; also shown as the growth over the process's size just before the
phase), and the peak of ``tracemalloc`` in a second run (the Python objects the
phase allocated at most at once; tracing slows it, so that run is not timed).
A streaming export keeps both flat however many events there are.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from ringi.audit.records import PAGE
from ringi.audit.trail import WRITERS, export
from ringi.store import RingiStore

from .corpus import StoreKind, add_store_arguments, fill, opened_store

PHASES = ("raw", "jsonl", "csv")


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def raw_read(store: RingiStore, out: Path) -> int:
    start: int | None = None
    count = 0
    while True:
        batch = store.recorder.select_notifications(
            start=start, limit=PAGE, inclusive_of_start=False
        )
        count += len(batch)
        if len(batch) < PAGE:
            return count
        start = batch[-1].id


def exported(fmt: str, store: RingiStore, out: Path) -> int:
    with out.open("w", encoding="utf-8", newline="") as stream:
        return WRITERS[fmt](export(store), stream)


def phase(args: argparse.Namespace) -> int:
    """One measured phase, in this process; prints its figures as JSON."""
    kind: StoreKind = args.store
    out = Path(args.out)
    with opened_store(kind, out.parent, args.keep) as store:
        before = maxrss_kib()
        if args.trace:
            tracemalloc.start()
        started = time.perf_counter()
        count = raw_read(store, out) if args.phase == "raw" else exported(args.phase, store, out)
        seconds = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] if args.trace else None
        tracemalloc.stop()
    figures = {
        "events": count,
        "seconds": seconds,
        "maxrss_kib": maxrss_kib(),
        "before_kib": before,
        "traced_peak": traced,
        "bytes": out.stat().st_size if out.exists() else 0,
    }
    print(json.dumps(figures))
    return 0


def run_phase(name: str, kind: StoreKind, keep: str, out: Path, *, trace: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.export", "--phase", name, "--store", kind]
    command += ["--keep", keep, "--out", str(out)] + (["--trace"] if trace else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser, events=1_000_000)
    parser.add_argument(
        "--formats", default="jsonl", help="export formats to measure: jsonl, csv or jsonl,csv"
    )
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each, best kept")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        return phase(args)
    kind: StoreKind = args.store
    formats = [f for f in args.formats.split(",") if f]
    unknown = set(formats) - set(WRITERS)
    if unknown:
        parser.error(f"unknown format(s) {', '.join(sorted(unknown))}; use {', '.join(WRITERS)}")

    names = ["raw", *formats]
    timings: dict[str, dict[str, Any]] = {}
    traces: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ringi-bench-") as tmp,
        opened_store(kind, Path(tmp), args.keep) as store,
    ):
        fill(store, args.events, args.batch)
        keep = store.env.get("SQLITE_DBNAME") or store.env.get("POSTGRES_SCHEMA")
        assert keep
        # timed runs interleaved (raw, formats, raw, formats, ...), the best of each kept
        for round_ in range(1, args.repeat + 1):
            for name in names:
                out = Path(tmp) / f"export.{name}"
                print(f"timing {name} ({round_}/{args.repeat}) ...", flush=True)
                figures = run_phase(name, kind, keep, out, trace=False)
                out.unlink(missing_ok=True)
                if name not in timings or figures["seconds"] < timings[name]["seconds"]:
                    timings[name] = figures
        if not args.no_trace:
            for name in names:
                out = Path(tmp) / f"export.{name}"
                print(f"tracing {name} (tracemalloc, slower, not timed) ...", flush=True)
                traces[name] = run_phase(name, kind, keep, out, trace=True)
                out.unlink(missing_ok=True)
    rows = [(name, timings[name], traces.get(name)) for name in names]

    raw = rows[0][1]
    total = raw["events"]
    assert all(r[1]["events"] == total for r in rows), "every phase sees every event"
    print()
    print(f"store={kind} events={total:,} page={PAGE} best of {args.repeat}")
    header = (
        f"{'':22}  {'seconds':>8}  {'events/s':>9}  {'vs raw':>6}  {'output':>9}  "
        f"{'maxrss':>8}  {'growth':>8}  {'traced peak':>11}"
    )
    print(header)
    labels = {"raw": "raw read (baseline)", "jsonl": "export JSON Lines", "csv": "export CSV"}
    for name, timing, traced in rows:
        seconds = timing["seconds"]
        growth = timing["maxrss_kib"] - timing["before_kib"]
        peak = f"{traced['traced_peak'] / 2**20:8.1f} MiB" if traced else f"{'-':>11}"
        output = f"{timing['bytes'] / 2**20:5.0f} MiB" if timing["bytes"] else f"{'-':>9}"
        print(
            f"{labels.get(name, name):22}  {seconds:8.1f}  {total / seconds:9,.0f}  "
            f"{raw['seconds'] / seconds:6.2f}  {output}  "
            f"{timing['maxrss_kib'] / 2**10:4.0f} MiB  {growth / 2**10:4.0f} MiB  {peak}"
        )
    for name, timing, _ in rows[1:]:
        per_million = timing["seconds"] / total * 1_000_000 / 60
        print(
            f"{labels.get(name, name)}: {per_million:.1f} minutes per million events "
            "(the reference system: about 100 minutes for a million-record extraction)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
