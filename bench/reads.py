"""Reads that do not grow with the history (``ringi.projection``), next to a raw read, same run.

    python -m bench.reads [--keep FILE] [--events 142000] [--requests 3000] [--meeting 10]
                          [--history-meeting 3] [--skip-corpus]
                          [--clients 20] [--calls 400] [--repeat 3] [--skip-history] [--skip-api]

On SQLite files (the embedded default). Every timing is a whole process, as a
person runs it, best of ``--repeat``, and is printed next to the baseline
measured in the same run: **a process that reads every stored event raw**
(``sqlite3``, every row of the events table, nothing decoded).

1. On the corpus (``--keep``, generated with ``bench.corpus`` if empty):
   ``python -c pass``; ``ringi --help``; ``ringi list --json``; ``ringi show N``;
   ``ringi register --meeting N`` the first time (it folds the events and keeps
   the checkpoint and the file) and again (it reads what was kept); and catching
   the projection up from nothing (``ringi db rebuild-projections``).
2. Cost independent of history: a corpus of ``--requests`` requests (A), and one
   of ten times as many (B) made with the same seed, so that B is A with 9x more
   requests filed after meeting ``--history-meeting`` (requests are filed 50 minutes
   apart; the register of that meeting is the same file in both). The register
   of that meeting is timed in both, kept (what a past meeting costs).
3. ``GET /v1/register?meeting=N`` on ``ringi serve`` over the corpus, with
   ``--clients`` concurrent clients making ``--calls`` calls in all: p50, p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import fill, opened_store

RINGI = [sys.executable, "-m", "ringi.cli"]
RAW = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1])\n"
    "n = 0\n"
    "for row in c.execute('SELECT rowid, originator_id, originator_version, topic, state "
    "FROM stored_events'):\n"
    "    n += 1\n"
)


def timed(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed: {done.stderr.decode()[-2000:]}")
        best = min(best, elapsed)
    return best


def ringi(data_dir: Path, *args: str) -> list[str]:
    return [*RINGI, "--data-dir", str(data_dir), *args]


def line(name: str, seconds: float, base: float, target: str = "") -> None:
    print(f"  {name:<46} {seconds:8.3f} s   {seconds / base:6.2f}x raw{target}", flush=True)


def corpus_section(path: Path, meeting: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ringi-reads-") as d:
        data = Path(d)
        shutil.copy(path, data / "events.db")
        raw = timed([sys.executable, "-c", RAW, str(data / "events.db")], repeat)
        bare = timed([sys.executable, "-c", "pass"], repeat)
        print(f"corpus: {path} ({(data / 'events.db').stat().st_size / 2**20:.0f} MiB)")
        print(f"  {'raw read of every event (the baseline)':<46} {raw:8.3f} s    1.00x raw")
        line("python -c pass", bare, raw)
        helped = timed(ringi(data, "--help"), repeat)
        line("ringi --help", helped, raw, f"   {helped / bare:.1f}x python -c pass (target <= 8x)")
        started = time.perf_counter()
        subprocess.run(ringi(data, "db", "rebuild-projections"), capture_output=True, check=True)
        rebuild = time.perf_counter() - started
        line(
            "catch up from nothing (db rebuild-projections)",
            rebuild,
            raw,
            f"   rate {raw / rebuild:.2f}x raw (target >= 0.5x)",
        )
        line(
            "ringi list --json",
            timed(ringi(data, "list", "--json"), repeat),
            raw,
            "   target <= 1x",
        )
        line("ringi show 100", timed(ringi(data, "show", "100"), repeat), raw)
        first = timed(ringi(data, "register", "--meeting", str(meeting)), 1)
        line(f"ringi register --meeting {meeting}, first", first, raw)
        again = timed(ringi(data, "register", "--meeting", str(meeting)), repeat)
        line(f"ringi register --meeting {meeting}, kept", again, raw, "   target <= 1x")


def history_section(requests: int, meeting: int, repeat: int) -> None:
    print(
        f"history: the register of meeting {meeting} with {requests:,} and {10 * requests:,} requests"
    )
    with tempfile.TemporaryDirectory(prefix="ringi-history-") as d:
        kept: dict[str, float] = {}
        for name, count in (("A", requests), ("B", 10 * requests)):
            data = Path(d) / name
            data.mkdir()
            with opened_store("sqlite", data, str(data / "events.db")) as store:
                fill(store, requests=count)
                events = store.recorder.max_notification_id() or 0
            raw = timed([sys.executable, "-c", RAW, str(data / "events.db")], repeat)
            first = timed(ringi(data, "register", "--meeting", str(meeting)), 1)
            out_path = data / "register.md"
            kept[name] = timed(
                ringi(data, "register", "--meeting", str(meeting), "-o", str(out_path)), repeat
            )
            print(
                f"  {name}: {events:,} events; raw read {raw:.3f} s; register first "
                f"{first:.3f} s, kept {kept[name]:.3f} s ({kept[name] / raw:.2f}x raw)",
                flush=True,
            )
        same = (Path(d) / "A" / "register.md").read_bytes() == (
            Path(d) / "B" / "register.md"
        ).read_bytes()
        print(
            f"  kept register B/A: {kept['B'] / kept['A']:.2f}x (target <= 1.2x); "
            f"the same file in both: {same}"
        )


async def api_section(path: Path, meeting: int, clients: int, calls: int) -> None:
    import httpx

    from bench.harness import temporal
    from ringi.api.tokens import TokenRegistry
    from ringi.config import Settings
    from ringi.domain.vocabulary import Role
    from ringi.store import RingiStore

    with tempfile.TemporaryDirectory(prefix="ringi-api-reads-") as d:
        data = Path(d)
        shutil.copy(path, data / "events.db")
        settings = Settings(data_dir=data)
        store = RingiStore(env=settings.eventsourcing_env())
        token = TokenRegistry(store).issue(Role.MEMBER, company="B社", name="bench")[0]
        store.close()
        async with temporal() as env:
            port = _free_port()
            environ = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
            environ |= {
                "RINGI_DATA_DIR": str(data),
                "RINGI_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                "RINGI_API_RATE_PER_SECOND": "0",
            }
            serve = subprocess.Popen(
                [*RINGI, "serve", "--port", str(port)],
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                assert serve.stdout is not None
                up = await asyncio.to_thread(serve.stdout.readline)
                if "is up" not in up:
                    raise SystemExit(f"ringi serve did not come up: {up!r}")
                base = f"http://127.0.0.1:{port}"
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
                    for fmt in ("json", "md"):
                        url = f"/v1/register?meeting={meeting}&format={fmt}"
                        first = time.perf_counter()
                        (await http.get(url)).raise_for_status()
                        first = time.perf_counter() - first
                        print(f"  GET {url}: first call {first * 1000:.0f} ms", flush=True)
                        for coding in ("gzip", "identity"):
                            sent = {"Accept-Encoding": coding}
                            latencies, size = await _load(http, url, sent, clients, calls)
                            print(
                                f"    {coding:8} ({size / 1e6:.2f} MB sent): {clients} clients x "
                                f"{calls // clients}: p50 {_pct(latencies, 50):.1f} ms, "
                                f"p99 {_pct(latencies, 99):.1f} ms (target p99 < 100 ms)",
                                flush=True,
                            )
                async with httpx.AsyncClient(base_url=base, timeout=120) as page:
                    await _sign_in(page, token)
                    for url in (f"/web/register?meeting={meeting}", "/web/register"):
                        first = time.perf_counter()
                        (await page.get(url)).raise_for_status()
                        first = time.perf_counter() - first
                        sent = {"Accept-Encoding": "identity"}
                        latencies, size = await _load(page, url, sent, clients, calls)
                        print(
                            f"  GET {url} (the page, {size / 1e3:.0f} kB): first call "
                            f"{first * 1000:.0f} ms; {clients} clients x {calls // clients}: "
                            f"p50 {_pct(latencies, 50):.1f} ms, p99 {_pct(latencies, 99):.1f} ms "
                            "(target p99 < 150 ms)",
                            flush=True,
                        )
            finally:
                serve.terminate()
                serve.wait(timeout=30)


async def _load(
    http: object, url: str, headers: dict[str, str], clients: int, calls: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    size = 0

    async def client() -> None:
        for _ in range(calls // clients):
            started = time.perf_counter()
            # to the last byte as sent: a client's own gzip decoding is its CPU, and
            # twenty clients decoding in this one process would be what is measured
            got = 0
            async with http.stream("GET", url, headers=headers) as answer:  # type: ignore[attr-defined]
                answer.raise_for_status()
                async for chunk in answer.aiter_raw():
                    got += len(chunk)
            latencies.append((time.perf_counter() - started) * 1000)
            nonlocal size
            size = got

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, size


async def _sign_in(page: Any, token: str) -> None:
    """A signed-in session for the pages, as a person signs in."""
    import re

    form = (await page.get("/web/signin")).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    data = {"token": token} | ({"csrf": csrf.group(1)} if csrf else {})
    answer = await page.post("/web/signin", data=data)
    if answer.status_code != 303:
        raise SystemExit(f"signing in to the pages failed: {answer.status_code}")


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if p < 100 else max(values)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="the corpus's SQLite file (generated if empty)")
    parser.add_argument("--events", type=int, default=142_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--meeting", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--history-meeting",
        type=int,
        default=3,
        help="a meeting held before request --requests+1 is filed",
    )
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ringi-corpus-") as d:
        path = Path(args.keep) if args.keep else Path(d) / "events.db"
        with opened_store("sqlite", path.parent, str(path)) as store:
            fill(store, events=args.events)
        if not args.skip_corpus:
            corpus_section(path, args.meeting, args.repeat)
        if not args.skip_api:
            asyncio.run(api_section(path, args.meeting, args.clients, args.calls))
    if not args.skip_history:
        history_section(args.requests, args.history_meeting, args.repeat)
    return 0


if __name__ == "__main__":
    from bench.harness import exit_now

    exit_now(main())
