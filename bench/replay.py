"""Replaying the register from the stored events, next to reading them raw.

    python -m bench.replay [--events 1000000] [--store sqlite|postgres] [--keep FILE_OR_SCHEMA]
                           [--page 2000] [--repeat 2] [--reference] [--stdlib-json]

Writes ``--events`` events into a fresh store (see ``bench.corpus``: real requests
through the real aggregate, saved in batches) and reports how long that took
(``--keep`` keeps the store, and a later run with the same ``--keep`` reuses it
without generating again). Then, side by side in the same process and on the
same data, each run starting from a collected heap, best of ``--repeat``:

* raw read, plain SQL: every stored event (all aggregates' rows: requests,
  outbox, numbering, meetings) selected page by page with one plain SELECT on the
  recorder's own connection, rows as tuples, nothing decoded. The baseline: the
  fastest way found to get all the events out of this store from Python;
* raw read, recorder API: the same rows through ``recorder.select_notifications``
  (a ``Notification`` and a ``UUID`` per row), the baseline of earlier figures;
* raw read of the request events only: what the replay reads (``topic LIKE``
  the request aggregate's topics), plain SQL, nothing decoded;
* + JSON: those rows' stored states parsed (``ringi.register.fold.loads``:
  orjson), nothing folded: the floor of any fold from these bytes;
* register replay: ``ringi.register.replay.replay`` with a cutoff after the last
  event, i.e. the whole register, every request folded to its current state from
  one pass over the log;
* with ``--reference``, the same replay the reference way (mapper, domain-event
  objects, ``event.mutate``; ``replay(..., reference=True)``), as before the fast
  fold: slow (≈ 40 s a round at a million events);
* with ``--stdlib-json``, the replay with the standard library's ``json`` in
  place of orjson: what that dependency buys.

events/s is over all the events in the store for every row; "vs raw" is the plain
raw read's time over the row's.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from eventsourcing.persistence import Notification

from ringi.domain.lifecycle import JST
from ringi.register import fold
from ringi.register.fold import loads, request_rows
from ringi.register.replay import PAGE, Cutoff, Replay, replay
from ringi.store import RingiStore

from .corpus import StoreKind, add_store_arguments, database_bytes, fill, opened_store


def pages(store: RingiStore, page: int) -> Iterator[Sequence[Notification]]:
    """The stored events in recording order, a page at a time (recorder API)."""
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


def plain_pages(store: RingiStore, page: int) -> Iterator[Sequence[tuple[Any, ...]]]:
    """Every stored event in recording order, a page at a time, with one plain
    SELECT per page on the recorder's own connection, rows as tuples."""
    recorder: Any = store.recorder
    if type(recorder).__module__ == "eventsourcing.sqlite":
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {recorder.events_table_name} WHERE rowid>? ORDER BY rowid LIMIT ?"
        )
        start = 0
        while True:
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.row_factory = None
                cursor.execute(statement, (start, page))
                batch = cursor.fetchall()
            if batch:
                yield batch
            if len(batch) < page:
                return
            start = batch[-1][0]
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    query = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id>%s ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    start = 0
    while True:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(query, (start, page), prepare=True)
            batch = cursor.fetchall()
        if batch:
            yield batch
        if len(batch) < page:
            return
        start = batch[-1][0]


def raw_read(store: RingiStore, page: int) -> int:
    return sum(len(batch) for batch in plain_pages(store, page))


def recorder_read(store: RingiStore, page: int) -> int:
    return sum(len(batch) for batch in pages(store, page))


def request_read(store: RingiStore, page: int) -> int:
    top = store.recorder.max_notification_id() or 0
    return sum(len(batch) for batch in request_rows(store, top, page))


def request_read_json(store: RingiStore, page: int) -> int:
    top = store.recorder.max_notification_id() or 0
    count = 0
    for batch in request_rows(store, top, page):
        for row in batch:
            loads(row[4])
            count += 1
    return count


#: after every event of the corpus: the whole register, every request as it stands
WHOLE = Cutoff(at=datetime(2100, 1, 1, tzinfo=JST))


def register_replay(store: RingiStore, page: int) -> Replay:
    return replay(store, WHOLE, page=page)


def reference_replay(store: RingiStore, page: int) -> Replay:
    return replay(store, WHOLE, page=page, reference=True)


def stdlib_json_replay(store: RingiStore, page: int) -> Replay:
    """The replay with the standard library's json in place of orjson (what the
    dependency on orjson buys)."""
    with mock.patch.object(fold, "orjson", _NoOrjson):
        return replay(store, WHOLE, page=page)


class _NoOrjson:
    """Stands in for orjson: refuses everything, so ``fold.loads`` uses json."""

    JSONDecodeError = ValueError

    @staticmethod
    def loads(data: bytes) -> object:
        raise ValueError("json instead")


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
    parser.add_argument(
        "--reference", action="store_true", help="also time the reference fold (slow)"
    )
    parser.add_argument(
        "--stdlib-json", action="store_true", help="also time the replay with json, not orjson"
    )
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
            ("raw read, plain SQL, all events (baseline)", lambda: raw_read(store, page)),
            ("raw read, recorder.select_notifications", lambda: recorder_read(store, page)),
            ("raw read, request events only", lambda: request_read(store, page)),
            ("  + JSON of each (orjson), no fold", lambda: request_read_json(store, page)),
            ("register replay (ringi.register.replay)", lambda: register_replay(store, page)),
        ]
        if args.reference:
            runs.append(("register replay, reference fold", lambda: reference_replay(store, page)))
        if args.stdlib_json:
            runs.append(
                ("register replay, json not orjson", lambda: stdlib_json_replay(store, page))
            )
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

    raw_name, api_name, replay_name = runs[0][0], runs[1][0], runs[4][0]
    (total,) = counts[raw_name]
    folded, requests = counts[replay_name]
    assert total == counts[api_name][0]
    assert folded == counts[runs[2][0]][0] == counts[runs[3][0]][0]
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
    api_ratio = timings[api_name] / timings[replay_name]
    print(
        f"\nregister replay at {ratio:.0%} of the raw read rate (target: at least 75%);"
        f" at {api_ratio:.0%} of the recorder API's read rate"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
