"""An import that finishes at any size (issue 19): the store is written first,
then the open requests' workflows start a few at a time, each start with its
own deadline and none for the whole; a start that fails leaves the import
written, says how many remain (exit 5), and ``ringi db resume-workflows``
starts only the rest. On a real dev server with a real worker, on the store
``RINGI_TEST_STORE`` names."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from bench.registers import closed_numbers, register_lines, write_register
from ringi.config import Settings
from ringi.domain.vocabulary import Actor
from ringi.register.importer import parse_register, plan_import
from ringi.starting import DEFAULT_CONCURRENCY, start_workflows
from ringi.store import RingiStore
from ringi.temporal import connect
from ringi.workflows.messages import workflow_id
from tests.conftest import running_worker
from tests.fault_harness import DevServer

ROOT = Path(__file__).resolve().parents[1]
SECRETARIAT = Actor.secretariat("事務局")
#: more requests than one command timeout (below) leaves time to start
ROWS = 120
#: a command timeout no import of ROWS rows fits in
TINY_TIMEOUT = "0.5"


def cli(
    settings: Settings, client: Client, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    environment |= {
        "RINGI_DATA_DIR": str(settings.data_dir),
        "RINGI_STORE": settings.store,
        "RINGI_POSTGRES_DSN": settings.postgres_dsn,
        "RINGI_POSTGRES_SCHEMA": settings.postgres_schema,
        "RINGI_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "RINGI_TASK_QUEUE": settings.task_queue,
        "RINGI_COMMAND_TIMEOUT": TINY_TIMEOUT,
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "ringi.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def open_numbers(rows: int) -> list[int]:
    return [n for n in range(1, rows + 1) if n not in closed_numbers(rows)]


async def running(client: Client, numbers: list[int]) -> list[int]:
    """Those of ``numbers`` whose workflows run, asked of each workflow itself."""

    async def runs(number: int) -> bool:
        try:
            described = await client.get_workflow_handle(workflow_id(number)).describe()
        except RPCError:
            return False
        return described.status is WorkflowExecutionStatus.RUNNING

    found = await asyncio.gather(*(runs(n) for n in numbers))
    return [n for n, yes in zip(numbers, found, strict=True) if yes]


def write_store_only(store: RingiStore, settings: Settings, path: Path) -> list[int]:
    """Import ``path`` into the store without starting a workflow (as an import
    cut short after its write leaves it); the open numbers."""
    plan = plan_import(parse_register(path.read_bytes(), str(path)))
    store.import_register(plan.meetings, plan.requests, settings.policy(), SECRETARIAT)
    return plan.open_rows


@pytest.fixture
async def worker_on_dev(
    dev_env: WorkflowEnvironment, settings: Settings, store: RingiStore
) -> AsyncIterator[Client]:
    async with running_worker(dev_env.client, settings, store):
        yield dev_env.client


async def test_an_import_finishes_with_more_requests_than_one_command_timeout_allows(
    worker_on_dev: Client, settings: Settings, tmp_path: Path
) -> None:
    """The store write and every start once shared one command timeout: a
    register too large for it exited 4 ("no answer within 60 s") with most
    workflows unstarted. Now the import finishes, however small the timeout."""
    register = write_register(tmp_path / "register.tsv", ROWS)
    done = await asyncio.to_thread(cli, settings, worker_on_dev, "import", str(register))
    assert done.returncode == 0, done.stderr
    wanted = open_numbers(ROWS)
    assert f"{ROWS} rows: {ROWS} imported, 0 already imported" in done.stdout
    assert f"workflows: {len(wanted)} started, 0 already running, 0 remaining" in done.stdout
    assert await running(worker_on_dev, wanted) == wanted

    again = await asyncio.to_thread(cli, settings, worker_on_dev, "import", str(register), "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["imported"], summary["already_imported"]) == (0, ROWS)
    assert summary["workflows"]["started"] == 0
    assert summary["workflows"]["already_running"] == len(wanted)
    assert summary["workflows"]["remaining"] == 0


async def test_resume_after_a_partial_start_starts_only_the_rest_and_is_idempotent(
    worker_on_dev: Client, settings: Settings, store: RingiStore, tmp_path: Path
) -> None:
    register = write_register(tmp_path / "register.tsv", ROWS)
    wanted = await asyncio.to_thread(write_store_only, store, settings, register)
    first = wanted[: len(wanted) // 3]  # what an import cut short had started
    partial = await start_workflows(
        worker_on_dev, settings.task_queue, first, total=len(first), concurrency=4
    )
    assert partial.started == first and partial.complete

    done = await asyncio.to_thread(
        cli, settings, worker_on_dev, "db", "resume-workflows", "--json", "--concurrency", "8"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["started"] == len(wanted) - len(first)
    assert summary["already_running"] == len(first)
    assert summary["remaining"] == 0
    assert await running(worker_on_dev, wanted) == wanted

    again = await asyncio.to_thread(cli, settings, worker_on_dev, "db", "resume-workflows")
    assert again.returncode == 0, again.stderr
    assert "every open request has its workflow; nothing to do" in again.stdout


async def test_starts_cut_short_leave_the_import_written_say_how_many_remain_and_resume(
    settings: Settings, store: RingiStore, tmp_path: Path
) -> None:
    """Temporal goes away (SIGKILL) while the workflows start: the import is
    written, the command says how many remain and exits 5; once Temporal is
    back, `db resume-workflows` starts the rest and nothing twice."""
    rows = 300
    register = write_register(tmp_path / "register.tsv", rows)
    wanted = open_numbers(rows)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # for Temporal's database and its log
    server = DevServer(settings)
    settings = settings.model_copy(update={"temporal_address": server.address})
    server.settings = settings
    await server.start()
    try:
        client = await connect(settings)
        # one start at a time, so that the server is gone long before the last
        importing = asyncio.create_task(
            asyncio.to_thread(
                cli, settings, client, "import", str(register), "--json", "--concurrency", "1"
            )
        )

        while not await running(client, [5]):  # the first workflows have started
            assert not importing.done(), importing.result()
            await asyncio.sleep(0.02)
        server.stop(signal.SIGKILL)
        done = await importing
        assert done.returncode == 5, (done.stdout, done.stderr)
        assert done.stdout.startswith("{"), done.stderr
        summary = json.loads(done.stdout)
        assert summary["imported"] == rows  # the store is written all the same
        first = summary["workflows"]
        assert first["started"] >= 5 and first["remaining"] > 0
        assert first["started"] + first["already_running"] + first["remaining"] == len(wanted)
        assert f"{first['remaining']} open requests have no workflow yet" in done.stderr
        assert "run `ringi db resume-workflows` to start the rest" in done.stderr
        assert "Traceback" not in done.stderr
        assert store.numbers() == list(range(1, rows + 1))

        await server.start()  # on the same database: what was started is still there
        client = await connect(settings)
        resumed = await asyncio.to_thread(cli, settings, client, "db", "resume-workflows", "--json")
        assert resumed.returncode == 0, resumed.stderr
        then = json.loads(resumed.stdout)
        # a start whose answer was cut off by the kill may have been carried out
        assert 0 < then["started"] <= first["remaining"]
        assert then["already_running"] >= first["started"]
        assert then["started"] + then["already_running"] == len(wanted)
        assert then["remaining"] == 0
        assert await running(client, wanted) == wanted

        again = await asyncio.to_thread(cli, settings, client, "db", "resume-workflows", "--json")
        assert json.loads(again.stdout)["started"] == 0
    finally:
        server.stop(signal.SIGKILL)


def test_the_default_concurrency_is_the_one_the_command_line_shows() -> None:
    from ringi.cli.starts import DEFAULT_CONCURRENCY as SHOWN

    assert SHOWN == DEFAULT_CONCURRENCY


def test_the_benchmark_registers_are_registers_ringi_imports() -> None:
    lines = list(register_lines(50))
    plan = plan_import(parse_register("".join(lines)))
    assert [r.number for r in plan.requests] == list(range(1, 51))
    assert plan.open_rows == open_numbers(50)
