"""Replaying the register from the stored events, next to reading them raw.

    python -m bench.replay [--events 1000000] [--store sqlite|postgres] [--keep FILE_OR_SCHEMA]
                           [--page 2000] [--repeat 2]

Writes ``--events`` events into a fresh store (see ``bench.corpus``: real requests
through the real aggregate, saved in batches) and reports how long that took
(``--keep`` keeps the store, and a later run with the same ``--keep`` reuses it
without generating again). Then, side by side in the same process and on the
same data, each run starting from a collected heap, best of ``--repeat``:

* raw read: ``recorder.select_notifications`` page by page, nothing decoded (the
  baseline: the fastest anything can get the events out of this store);
* read + decode: every event turned into its domain event by the application's
  mapper, nothing folded (to show where the time goes);
* register replay: ``ringi.register.replay.replay`` with a cutoff after the last
  event, i.e. the whole register, every request folded to its current state from
  one pass over the log (other aggregates' events are skipped by topic);
* the same with Python's cyclic garbage collector paused during the replay.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from eventsourcing.persistence import Notification

from ringi.domain.lifecycle import JST
from ringi.register.replay import PAGE, Cutoff, Replay, replay
from ringi.store import RingiStore

from .corpus import StoreKind, add_store_arguments, database_bytes, fill, opened_store


def pages(store: RingiStore, page: int) -> Iterator[Sequence[Notification]]:
    """The stored events in recording order, a page at a time."""
    start: int | None = None
    while True:
        batch = store.recorder.select_notifications(
            start=start, limit=page, inclusive_of_start=False
        )
        if batch:
            yield batch
        if len(batch) < page:
            return
        start = batch[-1].id


def raw_read(store: RingiStore, page: int) -> int:
    count = 0
    for batch in pages(store, page):
        count += len(batch)
    return count


def read_and_decode(store: RingiStore, page: int) -> int:
    to_domain_event = store.mapper.to_domain_event
    count = 0
    for batch in pages(store, page):
        for notification in batch:
            to_domain_event(notification)
            count += 1
    return count


#: after every event of the corpus: the whole register, every request as it stands
WHOLE = Cutoff(at=datetime(2100, 1, 1, tzinfo=JST))


def register_replay(store: RingiStore, page: int) -> Replay:
    return replay(store, WHOLE, page=page)


def paused_gc(store: RingiStore, page: int) -> Replay:
    """The register replay with Python's cyclic garbage collector off: a replay
    allocates millions of objects that mostly stay alive (the register), and every
    collection on the way walks the growing register again."""
    gc.disable()
    try:
        return register_replay(store, page)
    finally:
        gc.enable()


def summary(result: object) -> tuple[int, ...]:
    if isinstance(result, Replay):
        return (result.events, len(result.views))
    assert isinstance(result, int)
    return (result,)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser, events=1_000_000)
    parser.add_argument("--page", type=int, default=PAGE, help="events per select")
    parser.add_argument("--repeat", type=int, default=2, help="rounds, the best of each kept")
    args = parser.parse_args(argv)
    kind: StoreKind = args.store
    page: int = args.page

    with (
        tempfile.TemporaryDirectory(prefix="ringi-bench-") as tmp,
        opened_store(kind, Path(tmp), args.keep) as store,
    ):
        fill(store, args.events, args.batch)
        size = database_bytes(store)
        if size:
            print(f"database: {size / 2**20:,.0f} MiB", flush=True)

        # interleaved, so that the caches and the machine's mood treat them alike; each
        # run starts from a collected heap, so none pays for the garbage of another
        runs: list[tuple[str, Callable[[], object]]] = [
            ("raw read (select_notifications, nothing decoded)", lambda: raw_read(store, page)),
            ("read + decode every event (mapper)", lambda: read_and_decode(store, page)),
            ("register replay (ringi.register.replay)", lambda: register_replay(store, page)),
            ("register replay, cyclic GC paused", lambda: paused_gc(store, page)),
        ]
        timings: dict[str, float] = {}
        counts: dict[str, tuple[int, ...]] = {}
        for _ in range(args.repeat):
            for name, run in runs:
                gc.collect()
                started = time.perf_counter()
                result = run()
                seconds = time.perf_counter() - started
                timings[name] = min(timings.get(name, float("inf")), seconds)
                counts[name] = summary(result)
                del result

    raw_name, replay_name = runs[0][0], runs[2][0]
    (total,) = counts[raw_name]
    folded, requests = counts[replay_name]
    assert total == counts[runs[1][0]][0]
    print()
    print(
        f"store={kind} events={total:,} page={page} best of {args.repeat};"
        f" register: {requests:,} requests from {folded:,} request events"
    )
    width = max(len(name) for name, _ in runs)
    print(f"{'':{width}}  {'seconds':>8}  {'events/s':>11}  {'vs raw':>6}")
    raw_seconds = timings[raw_name]
    for name, _ in runs:
        seconds = timings[name]
        print(
            f"{name:{width}}  {seconds:8.2f}  {total / seconds:11,.0f}  "
            f"{raw_seconds / seconds:6.2f}"
        )
    ratio = raw_seconds / timings[replay_name]
    print(f"\nregister replay at {ratio:.0%} of the raw read rate (target: at least 75%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
