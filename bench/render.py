"""Rendering the register (資料2) of 10,000 requests in every format.

    python -m bench.render [--requests 10000] [--store sqlite|postgres] [--keep FILE_OR_SCHEMA]
                           [--lang ja|en] [--repeat 3]

Writes ``--requests`` requests (with their whole lifecycles, see ``bench.corpus``)
into a fresh store, then, best of ``--repeat``, side by side:

* fold: ``ringi.register.replay.replay`` of the whole register (every request as
  it stands): the baseline, what any view of the register costs;
* document: ``ringi.register.document.document_of``, the rows of the register;
* each format: ``ringi.register.render.render(document, format, lang)``, with the
  size of what it produced.

Rendering is timed from the document, so each format's time is what it adds to
the fold; ``fold + document + format`` is what ``ringi register`` takes.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ringi.domain.lifecycle import JST
from ringi.register.document import document_of
from ringi.register.render import FORMATS, LANGS, render
from ringi.register.replay import Cutoff, replay

from .corpus import StoreKind, add_store_arguments, fill, opened_store

T = TypeVar("T")
WHOLE = Cutoff(at=datetime(2100, 1, 1, tzinfo=JST))


def timed(run: Callable[..., T], *args: Any) -> tuple[float, T]:
    gc.collect()
    started = time.perf_counter()
    result = run(*args)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    add_store_arguments(parser, events=None)
    parser.add_argument("--lang", choices=LANGS, default="ja")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept")
    args = parser.parse_args(argv)
    kind: StoreKind = args.store

    best: dict[str, float] = {}
    sizes: dict[str, int] = {}
    rows = events = 0

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    with (
        tempfile.TemporaryDirectory(prefix="ringi-bench-") as tmp,
        opened_store(kind, Path(tmp), args.keep) as store,
    ):
        fill(store, requests=args.requests, batch=args.batch)
        for _ in range(args.repeat):
            seconds, folded = timed(replay, store, WHOLE)
            keep("fold", seconds)
            events = folded.events
            seconds, doc = timed(document_of, folded)
            keep("document", seconds)
            rows = len(doc.rows)
            del folded
            for fmt in FORMATS:
                seconds, data = timed(render, doc, fmt, args.lang)
                keep(fmt, seconds)
                sizes[fmt] = len(data)

    fold = best["fold"]
    print()
    print(
        f"store={kind} register of {rows:,} rows ({events:,} request events) "
        f"lang={args.lang}, best of {args.repeat}"
    )
    print(f"{'':34}  {'seconds':>8}  {'vs fold':>7}  {'size':>14}")
    print(f"{'fold the views (replay, baseline)':34}  {fold:8.2f}  {1:7.2f}  {'':>10}")
    print(
        f"{'register document (rows)':34}  {best['document']:8.2f}  {best['document'] / fold:7.2f}"
    )
    for fmt in FORMATS:
        print(
            f"{'render ' + fmt:34}  {best[fmt]:8.2f}  {best[fmt] / fold:7.2f}  "
            f"{sizes[fmt] / 2**10:10,.0f} KiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
