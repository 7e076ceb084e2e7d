"""The register's search and the outbox's delivery scan through the read model,
next to the Python scans they replaced, same run.

    python -m bench.search [--store sqlite|postgres] [--keep FILE_OR_SCHEMA] [--events 142000]
                           [--repeat 5] [--messages 20000] [--few 200] [--pending 50]

1. Search (on the corpus, ``bench.corpus``): for needles of one, two, three and
   more characters (Japanese and ASCII), the requests whose texts hold the needle
   read from the search index (``RequestViews.text_matches``, every request's
   version and flag), against the baseline: the same answer from the states
   already parsed in memory, in Python (``projection.search.holds`` over
   ``store.views()``), the rule the pages and the API followed. Then the whole
   register page with ``q`` (``web.reads.register_page``) against the page made
   with the Python filter. Best of ``--repeat``; the answers are checked equal.
2. Delivery scan: two stores with one subscription, one with ``--messages``
   notifications delivered and one with ``--few``, ``--pending`` left waiting in
   each. The waiting deliveries counted from the read model's table
   (``OutboxBacklog.count``) against the baseline, the backlog's former first
   probe: every queued notification's deliveries (``deliveries_since`` from 0),
   each waiting one's message loaded to see whether it was delivered.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import add_store_arguments, fill, opened_store
from ringi.domain.notifications import SECRETARIAT
from ringi.domain.subscriptions import Channel
from ringi.domain.vocabulary import Actor
from ringi.health import OutboxBacklog
from ringi.projection.catchup import caught_up
from ringi.projection.search import holds
from ringi.store import Delivery, OutboxMessage, RingiStore
from ringi.web.reads import RegisterQuery, register_page

NEEDLES = ("ス", "検索", "API", "システム", "供給地点", "賛同", "費用対効果", "xyz", "第3回")
NOW = datetime(2100, 1, 1, tzinfo=UTC)


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    fastest, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest, result


def line(name: str, seconds: float, base: float) -> None:
    print(
        f"  {name:<44} {seconds * 1000:9.2f} ms   baseline {base * 1000:9.2f} ms   "
        f"{seconds / base:6.3f}x",
        flush=True,
    )


def search_section(store: RingiStore, repeat: int) -> None:
    started = time.perf_counter()
    views = caught_up(store)
    print(f"  projection caught up in {time.perf_counter() - started:.1f} s", flush=True)
    states = list(store.views())  # parsed once, as a long-lived process holds them
    print(f"search over {len(states):,} requests (the baseline: Python over parsed states)")
    for needle in NEEDLES:
        index_s, matched = best(repeat, lambda n=needle: views.text_matches(n, None))
        scan_s, scanned = best(repeat, lambda n=needle: {v.number for v in states if holds(v, n)})
        hits = {n for n, (_, hit) in matched.items() if hit}
        assert hits == scanned, needle
        line(f"q={needle!r} ({len(hits):,} hits)", index_s, scan_s)
    for needle in ("ス", "システム", "費用対効果"):
        query = RegisterQuery(q=needle)
        page_s, page = best(repeat, lambda q=query: register_page(store, q, NOW))
        old_s, old = best(repeat, lambda q=query: _old_page(store, q))
        assert [x.view.number for x in page.lines] == old, needle
        line(f"register page q={needle!r} ({page.matched:,} rows)", page_s, old_s)


class _Scanned(RegisterQuery):
    """The page's query as it was before the index: every state's texts looked at."""

    def text_matches(self, store: RingiStore) -> None:
        return None


def _old_page(store: RingiStore, query: RegisterQuery) -> list[int]:
    old = _Scanned(q=query.q, target=query.target)
    return [x.view.number for x in register_page(store, old, NOW).lines]


def outbox_store(store: RingiStore, messages: int, pending: int) -> None:
    """One subscription, ``messages`` notifications for it, all but ``pending`` delivered."""
    at = datetime(2017, 1, 1, tzinfo=UTC)
    sub = store.subscribe(
        SECRETARIAT, Channel.EMAIL, "s@example.jp", at, Actor.secretariat("事務局")
    )
    batch: list[OutboxMessage] = []
    for i in range(messages):
        message = OutboxMessage(
            key=f"bench:{i}",
            kind="answered",
            request_number=1 + i % 500,
            recipients=[SECRETARIAT],
            subject=f"No.{1 + i % 500} answered",
            body="回答がありました",
        )
        if i < messages - pending:
            message.delivered(subscriber=sub.id, at=at)
        batch.append(message)
        if len(batch) == 500:
            store.save(*batch)
            batch = []
    store.save(*batch)


def old_backlog(store: RingiStore) -> int:
    """The former ``OutboxBacklog.count`` on a new process: from position 0."""
    position = 0
    waiting: dict[tuple[str, str], Delivery] = {}
    while True:
        batch = store.deliveries_since(position)
        for d in batch.deliveries:
            waiting[(d.key, d.subscriber)] = d
        if batch.position == position:
            break
        position = batch.position
    for key, subscriber in list(waiting):
        message = store.outbox_message(key)
        if subscriber in message.delivered_to or subscriber in message.abandoned:
            del waiting[(key, subscriber)]
    return len(waiting)


def delivery_section(kind: Any, repeat: int, messages: int, few: int, pending: int) -> None:
    print(f"delivery scan: {pending} pending (the baseline: every queued message read)")
    for total in (few, messages):
        with (
            tempfile.TemporaryDirectory(prefix="ringi-bench-outbox-") as d,
            opened_store(kind, Path(d)) as store,
        ):
            started = time.perf_counter()
            outbox_store(store, total, pending)
            OutboxBacklog(store).count()  # the table caught up once, as the worker keeps it
            made = time.perf_counter() - started
            print(f"  {total:,} messages written and folded in {made:.1f} s", flush=True)
            new_s, counted = best(repeat, OutboxBacklog(store).count)
            old_s, old = best(repeat, lambda s=store: _fresh(s, old_backlog))
            assert counted == old == pending, (counted, old)
            line(f"{total:,} messages: pending counted", new_s, old_s)


def _fresh(store: RingiStore, read: Callable[[RingiStore], int]) -> int:
    """``read`` on a store opened anew (no aggregate cached): a new process's probe."""
    other = RingiStore(env=store.env)
    try:
        return read(other)
    finally:
        other.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser, events=142_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--few", type=int, default=200)
    parser.add_argument("--pending", type=int, default=50)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-delivery", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_search:
        with (
            tempfile.TemporaryDirectory(prefix="ringi-bench-search-") as d,
            opened_store(args.store, Path(d), args.keep) as store,
        ):
            fill(store, args.events)
            search_section(store, args.repeat)
    if not args.skip_delivery:
        delivery_section(args.store, args.repeat, args.messages, args.few, args.pending)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
