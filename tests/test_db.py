"""The event store's database: created on purpose (``ringi db init``), refused
when it is not, and shared safely by several ringi processes.

The PostgreSQL tests run against the server at 127.0.0.1:5432 whatever
``RINGI_TEST_STORE`` says (each in a schema of its own, dropped after), and
fail, never skip, when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psycopg
import pytest
from psycopg import sql

from ringi import database
from ringi.audit.verify import verify
from ringi.config import Settings
from ringi.domain.request import request_id
from ringi.domain.view import RequestView
from ringi.service import Ringi
from ringi.store import RingiStore
from tests.conftest import postgres_schema
from tests.domain_builders import day, filing

ROOT = Path(__file__).resolve().parents[1]
Kind = Literal["sqlite", "postgres"]


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty PostgreSQL schema, as production has them (no
    implicit tables)."""
    with postgres_schema() as schema:
        yield Settings(data_dir=tmp_path / "data", store="postgres", postgres_schema=schema)


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "data")
        return
    with postgres_schema() as schema:
        yield Settings(data_dir=tmp_path / "data", store="postgres", postgres_schema=schema)


def opened(settings: Settings) -> RingiStore:
    return RingiStore(env=settings.eventsourcing_env())


def versions_recorded(settings: Settings) -> list[int]:
    assert settings.store == "postgres"
    with psycopg.connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version FROM {}.{} ORDER BY version").format(
                sql.Identifier(settings.postgres_schema), sql.Identifier(database.VERSION_TABLE)
            )
        ).fetchall()
    return [row[0] for row in rows]


# --- init -------------------------------------------------------------------------------------


def test_init_creates_the_schema_and_a_second_init_changes_nothing(any_store: Settings) -> None:
    first = database.init(any_store)
    assert (first.before, first.after) == (None, database.SCHEMA_VERSION)
    assert [s.version for s in first.applied] == [s.version for s in database.STEPS]

    store = opened(any_store)
    number = store.reserve_number(filing().command_id)
    store.file(number, filing(), any_store.policy(), day(0))
    store.close()

    again = database.init(any_store)
    assert (again.before, again.after, again.applied) == (database.SCHEMA_VERSION,) * 2 + ((),)
    found = database.status(any_store)
    assert found.current and found.version == database.SCHEMA_VERSION
    store = opened(any_store)
    assert store.numbers() == [number]  # nothing the first init made was touched
    store.close()


def test_inits_at_once_apply_each_step_once(pg: Settings) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: database.init(pg), range(4)))
    assert sorted(len(r.applied) for r in results) == [0, 0, 0, len(database.STEPS)]
    assert versions_recorded(pg) == [s.version for s in database.STEPS]


def test_an_uninitialised_postgres_database_is_refused_with_what_to_do(pg: Settings) -> None:
    assert pg.eventsourcing_env()["CREATE_TABLE"] == "n"  # production creates nothing implicitly
    with pytest.raises(database.StoreNotInitialised) as refused:
        opened(pg)
    message = str(refused.value)
    assert "run `ringi db init`" in message
    assert pg.postgres_schema in message
    assert not database.status(pg).tables  # ...and opening it created nothing


def ringi_cli(
    settings: Settings, *args: str, module: str = "ringi.cli", temporal: str = "127.0.0.1:1"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env |= {
        "RINGI_DATA_DIR": str(settings.data_dir),
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_DSN": settings.postgres_dsn,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        # by default nothing is there: the store must refuse before Temporal is needed
        "RINGI_TEMPORAL_ADDRESS": temporal,
        "RINGI_TASK_QUEUE": settings.task_queue,
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def test_processes_on_an_uninitialised_database_stop_and_say_to_run_db_init(pg: Settings) -> None:
    for argv, module in [(["list"], "ringi.cli"), ([], "ringi.worker")]:
        done = ringi_cli(pg, *argv, module=module)
        assert done.returncode == 1, (argv, module, done.stdout, done.stderr)
        assert "run `ringi db init`" in done.stdout + done.stderr, (module, done.stderr)
        assert "Traceback" not in done.stderr

    status = ringi_cli(pg, "db", "status")
    assert status.returncode == 1 and "none recorded" in status.stdout

    init = ringi_cli(pg, "db", "init")
    assert init.returncode == 0, init.stderr
    assert f"to schema version {database.SCHEMA_VERSION}" in init.stdout
    again = ringi_cli(pg, "db", "init")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert ringi_cli(pg, "db", "status").returncode == 0
    opened(pg).close()


def test_a_database_tables_were_made_in_implicitly_is_adopted(pg: Settings) -> None:
    """An installation from before `db init`: its tables, no version recorded."""
    with psycopg.connect(pg.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg.postgres_schema)))
    old = RingiStore(
        env=pg.eventsourcing_env() | {"CREATE_TABLE": "y"}, check_schema=False
    )  # as an earlier ringi opened it
    number = old.reserve_number(filing().command_id)
    old.file(number, filing(), pg.policy(), day(0))
    old.close()
    with pytest.raises(database.StoreNotInitialised, match="no recorded schema version"):
        opened(pg)

    assert [s.version for s in database.init(pg).applied] == [s.version for s in database.STEPS]
    store = opened(pg)
    assert store.view(number).number == number
    store.close()


def test_a_database_newer_than_this_ringi_is_refused_even_by_init(any_store: Settings) -> None:
    database.init(any_store)
    newer = database.SCHEMA_VERSION + 1
    if any_store.store == "postgres":
        with psycopg.connect(any_store.postgres_dsn) as conn:
            conn.execute(
                sql.SQL("INSERT INTO {}.{} VALUES (%s, 'from the future', now())").format(
                    sql.Identifier(any_store.postgres_schema),
                    sql.Identifier(database.VERSION_TABLE),
                ),
                (newer,),
            )
    else:
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(any_store.event_store_path)) as lite, lite:
            lite.execute(
                f"INSERT INTO {database.VERSION_TABLE} VALUES (?, 'from the future', '')",
                (newer,),
            )
    with pytest.raises(database.StoreTooNew, match=f"schema version {newer}"):
        opened(any_store)
    with pytest.raises(database.StoreTooNew):
        database.init(any_store)


def test_sqlite_for_development_creates_its_tables_and_records_their_version(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert database.status(settings).version is None
    opened(settings).close()
    assert database.status(settings).current


# --- two processes on one database -------------------------------------------------------------

#: one ringi process: files requests and appends notes to the shared ones, as fast as it can
CHILD = """
import json, sys
from datetime import datetime, timedelta
from ringi.domain.commands import AppendNote, FileRequest
from ringi.domain.lifecycle import JST
from ringi.domain.policy import Policy
from ringi.domain.vocabulary import Actor, Category
from ringi.store import RingiStore

env, side, rounds, shared = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
store = RingiStore(env=env)
t0 = datetime(2017, 6, 1, 10, 0, tzinfo=JST)
print("ready", flush=True)
sys.stdin.readline()  # the start line: both processes write at once
filed = []
for i in range(rounds):
    for n in shared:
        store.execute(n, AppendNote(actor=Actor.member("A社"), text=f"{side}{i}"), t0 + timedelta(days=1))
    cmd = FileRequest(actor=Actor.member("B社"), category=Category.REQUEST, target="t", body=f"{side}{i}")
    number = store.reserve_number(cmd.command_id)
    store.file(number, cmd, Policy(), t0)
    filed.append(number)
store.close()
print(json.dumps(filed), flush=True)
"""

ROUNDS = 30
SHARED = 3


def test_two_processes_on_one_database_never_duplicate_or_corrupt_events(pg: Settings) -> None:
    database.init(pg)
    store = opened(pg)
    shared = []
    for _ in range(SHARED):
        cmd = filing()
        number = store.reserve_number(cmd.command_id)
        store.file(number, cmd, pg.policy(), day(0))
        shared.append(number)

    env = pg.eventsourcing_env()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(env), side, str(ROUNDS), json.dumps(shared)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for side in ("L", "R")
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.stderr and child.stderr.read()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    filed: list[int] = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        filed += json.loads(out.strip().splitlines()[-1])

    # every filing got a number of its own, and no number was skipped
    assert sorted(filed) == list(range(SHARED + 1, SHARED + 2 * ROUNDS + 1))
    assert store.numbers() == list(range(1, SHARED + 2 * ROUNDS + 1))
    # every note of both processes is in each shared request exactly once, and the
    # request's versions run 1, 2, 3... with none twice and none missing
    expected = sorted(f"{side}{i}" for side in "LR" for i in range(ROUNDS))
    for number in shared:
        view = store.view(number)
        assert sorted(note.text for note in view.notes) == expected
        recorded = store.recorder.select_events(request_id(number))
        assert [e.originator_version for e in recorded] == list(range(1, len(recorded) + 1))
        assert view.version == len(recorded)
    # each notification once, in order; and every chain verifies
    log = store.recorder.select_notifications(start=None, limit=10**6)
    ids = [n.id for n in log]
    assert ids == sorted(set(ids))
    assert len({(n.originator_id, n.originator_version) for n in log}) == len(log)
    report = verify(store)
    assert report.clean, report.findings
    assert report.events > SHARED * 2 * ROUNDS
    store.close()


def test_postgres_settings_name_the_schema(tmp_path: Path) -> None:
    schema = f"ringi_x_{uuid.uuid4().hex[:6]}"
    env = Settings(store="postgres", postgres_schema=schema).eventsourcing_env()
    assert env["POSTGRES_SCHEMA"] == schema
    assert env["CREATE_TABLE"] == "n"
    assert Settings(store="postgres", create_tables=True).eventsourcing_env()["CREATE_TABLE"] == "y"
    sqlite = Settings(data_dir=tmp_path, create_tables=False).eventsourcing_env()
    assert sqlite["CREATE_TABLE"] == "n"
    assert Settings(data_dir=tmp_path).eventsourcing_env()["CREATE_TABLE"] == "y"


# --- rebuilding what Temporal derives from the store --------------------------------------------


async def test_resume_workflows_gives_every_open_request_its_workflow_again(
    ringi_dev: Ringi, settings: Settings
) -> None:
    """Requests in the store without workflows (Temporal's database lost, or the
    event store restored into a new deployment) get them back, loaded from the
    events; running ones are left alone."""
    store = ringi_dev.store
    running = await ringi_dev.file(filing())
    orphans = []
    for _ in range(2):  # written to the store only, as a restore would leave them
        cmd = filing()
        number = store.reserve_number(cmd.command_id)
        store.file(number, cmd, settings.policy(), datetime.now(tz=UTC))  # no deadline due yet
        orphans.append(number)
    address = ringi_dev.client.service_client.config.target_host

    done = await asyncio.to_thread(ringi_cli, settings, "db", "resume-workflows", temporal=address)
    assert done.returncode == 0, done.stderr
    assert (
        f"started the workflows of 2 open requests: No.{orphans[0]}, No.{orphans[1]}" in done.stdout
    )
    for number in orphans:
        live = await until_live(ringi_dev, number)
        assert live.version == store.view(number).version
    assert running.number not in orphans

    again = await asyncio.to_thread(ringi_cli, settings, "db", "resume-workflows", temporal=address)
    assert again.returncode == 0 and "nothing to do" in again.stdout


async def until_live(ringi: Ringi, number: int) -> RequestView:
    for _ in range(100):
        view = await ringi.live_view(number)
        if view is not None:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"No.{number}'s workflow never loaded its state")


# --- one process, many threads --------------------------------------------------------------


def test_one_aggregate_read_and_written_from_many_threads_at_once(any_store: Settings) -> None:
    """The store's threads (a worker's activities, the service's calls off the
    event loop) share its cache of aggregates: reading one while another thread
    brings it up to date must neither fail nor hand out a half-updated copy."""
    database.init(any_store)
    store = opened(any_store)
    numbering = store.reserve_number("first")
    for i in range(2000):  # a numbering with history: copying it takes a while
        store.reserve_number(f"earlier-{i}")
    threads, each = 8, 10
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            taken = list(
                pool.map(
                    lambda t: [store.reserve_number(f"{t}-{i}") for i in range(each)],
                    range(threads),
                )
            )
    finally:
        sys.setswitchinterval(switching)
    numbers = sorted(n for batch in taken for n in batch)
    assert numbers == list(range(numbering + 2001, numbering + 2001 + threads * each))
    store.close()
