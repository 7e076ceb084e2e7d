"""Events appended through the event store next to raw INSERTs of the same rows, same run.

    python -m bench.store [--requests 2000] [--batch 1] [--rounds 3] [--store sqlite|postgres]

The events are the corpus's (``bench.corpus``): whole request lifecycles run
through the real ``Request`` aggregate, with the outbox messages they drafted,
built in memory before anything is timed. Then, in the same database, in
interleaved rounds (the order alternating), each round on requests of its own:

- ringi: ``RingiStore.save(request, *outbox)`` for ``--batch`` requests at a
  time, as the store's services save (one transaction each): the events mapped
  to stored rows (JSON transcoding), inserted by eventsourcing's recorder with
  its notification ids (on PostgreSQL under its table lock, with a NOTIFY);
- raw: the very rows those saves store (mapped beforehand, untimed), inserted
  with a plain ``executemany`` into a scratch table with the same columns,
  keys and indexes, one transaction per the same group.

The ratio of events per second is what the event store costs over the database
itself. ``--batch 1`` is a request's whole life in one transaction (about 13
rows); larger batches are an import's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from ringi.store import RingiStore

from .corpus import life_of, outbox
from .harness import StoreKind, installation

SCRATCH = "bench_raw_events"


def lives(first: int, count: int, seed: int) -> list[list[Aggregate]]:
    """``count`` requests from No.``first``, each with its outbox messages, unsaved."""
    rng = random.Random(seed)
    made = []
    for number in range(first, first + count):
        life = life_of(number, rng)
        made.append([life.request, *outbox(life.request)])
    return made


def rows_of(store: RingiStore, group: Sequence[Aggregate]) -> list[StoredEvent]:
    return [store.mapper.to_stored_event(e) for a in group for e in a.pending_events]


class Raw:
    """Plain inserts into a scratch copy of the events table, in the same database."""

    def __init__(self, store: RingiStore, kind: StoreKind) -> None:
        self.kind = kind
        datastore: Any = store.factory.datastore  # type: ignore[attr-defined]
        if kind == "sqlite":
            import sqlite3

            self.conn: Any = sqlite3.connect(store.env["SQLITE_DBNAME"], isolation_level=None)
            table = store.recorder.events_table_name  # type: ignore[attr-defined]
            for (ddl,) in self.conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
            ).fetchall():
                # the same table, its keys and its indexes, under another name
                self.conn.execute(ddl.replace(table, SCRATCH))
            self.insert: Any = f"INSERT INTO {SCRATCH} VALUES (?, ?, ?, ?)"
        else:
            import psycopg
            from psycopg import sql

            schema = datastore.schema
            self.conn = psycopg.connect(**_pg_kwargs(datastore))
            table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(SCRATCH))
            with self.conn.transaction():
                self.conn.execute(
                    sql.SQL(
                        "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint "
                        "NOT NULL, topic text, state bytea, notification_id bigserial, "
                        "PRIMARY KEY (originator_id, originator_version))"
                    ).format(table)
                )
                self.conn.execute(
                    sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id)").format(table)
                )
            self.insert = sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)"
            ).format(table)

    def write(self, rows: Sequence[StoredEvent]) -> None:
        if self.kind == "sqlite":
            params = [(r.originator_id.hex, r.originator_version, r.topic, r.state) for r in rows]  # type: ignore[union-attr]
            self.conn.execute("BEGIN")
            self.conn.executemany(self.insert, params)
            self.conn.execute("COMMIT")
        else:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                cursor.executemany(
                    self.insert,
                    [(r.originator_id, r.originator_version, r.topic, r.state) for r in rows],
                )

    def close(self) -> None:
        self.conn.close()


def _pg_kwargs(datastore: Any) -> dict[str, Any]:
    kwargs = dict(datastore.pool.kwargs)
    kwargs.pop("row_factory", None)
    return kwargs


def timed(work: Callable[[], int]) -> tuple[float, int]:
    began = time.perf_counter()
    count = work()
    return time.perf_counter() - began, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per side and round")
    parser.add_argument("--batch", type=int, default=1, help="requests per transaction")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    kind: StoreKind = args.store

    with installation(kind) as settings:
        store = RingiStore(env=settings.eventsourcing_env())
        raw = Raw(store, kind)
        print(f"building {args.rounds} x {args.requests:,} lifecycles ...", flush=True)
        rounds = [
            lives(1 + r * args.requests, args.requests, seed=39 + r) for r in range(args.rounds)
        ]
        results: dict[str, list[float]] = {"ringi": [], "raw": []}
        for r, made in enumerate(rounds):
            groups = [made[i : i + args.batch] for i in range(0, len(made), args.batch)]
            batches = [[a for life in g for a in life] for g in groups]
            rows = [rows_of(store, b) for b in batches]  # the same rows, mapped untimed
            events = sum(len(x) for x in rows)

            def ours(batches: list[list[Aggregate]] = batches) -> int:
                return sum(len(store.save(*batch)) for batch in batches)

            def theirs(rows: list[list[StoredEvent]] = rows) -> int:
                for group in rows:
                    raw.write(group)
                return sum(len(x) for x in rows)

            order: list[tuple[str, Callable[[], int]]] = [("ringi", ours), ("raw", theirs)]
            for name, work in order if r % 2 == 0 else order[::-1]:
                seconds, count = timed(work)
                assert count == events, (name, count, events)
                results[name].append(count / seconds)
                print(
                    f"round {r + 1} {name:<5} {count:,} events in {len(batches):,} transactions: "
                    f"{seconds:6.2f} s, {count / seconds:9,.0f} events/s",
                    flush=True,
                )
        raw.close()
        store.close()

    ringi_rate = statistics.median(results["ringi"])
    raw_rate = statistics.median(results["raw"])
    print()
    print(
        f"{kind}, {args.requests:,} requests per round ({events / args.requests:.1f} events each), "
        f"{args.batch} per transaction, median of {args.rounds} rounds"
    )
    print(f"{'raw INSERT (executemany, same rows)':<40}{raw_rate:>12,.0f} events/s")
    print(f"{'RingiStore.save':<40}{ringi_rate:>12,.0f} events/s")
    print(f"ratio ringi / raw: {ringi_rate / raw_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
