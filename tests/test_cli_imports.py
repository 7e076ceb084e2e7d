"""The command line imports only what the command it runs needs: ``ringi --help``
and every command's ``--help`` neither the HTTP API, the web pages, their
libraries, the Temporal client nor the event store (and ``ringi --help`` not
pydantic: typer itself converts a command's options with it); a read
(``ringi show``, ``ringi list``) not the API, the pages, FastAPI, Jinja2 or
openpyxl.

Each command runs in a fresh interpreter with ``-X importtime``, which names on
stderr every module the process imported; the test asserts which, never how long.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ringi.config import Settings
from ringi.store import RingiStore

from .domain_builders import NUMBER, State, request_in

#: what no command that only reads the store, or only prints its help, imports
NOT_FOR_READS = ("fastapi", "starlette", "jinja2", "openpyxl", "ringi.api", "ringi.web")
#: and what printing the help does not need either
NOT_FOR_HELP = (
    *NOT_FOR_READS,
    "temporalio",
    "eventsourcing",
    "pydantic_settings",
    "structlog",
    "ringi.store",
    "ringi.service",
)

HELPS = [
    ["--help"],
    ["show", "--help"],
    ["list", "--help"],
    ["file", "--help"],
    ["evaluate-cost", "--help"],
    ["register", "--help"],
    ["audit", "verify", "--help"],
    ["token", "issue", "--help"],
    ["subscribe", "webhook", "--help"],
    ["db", "--help"],
]


def imported(args: list[str], data_dir: Path) -> tuple[int, set[str], str]:
    """The exit status, the modules ``ringi ARGS`` imported, and its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGI_")}
    env["RINGI_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ringi.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and not line.rstrip().endswith("| package")
    }
    return done.returncode, modules, done.stdout


def offending(modules: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in banned))


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_help_imports_no_more_than_the_command_line(args: list[str], tmp_path: Path) -> None:
    status, modules, out = imported(args, tmp_path)
    assert status == 0
    assert "Usage:" in out
    assert "typer" in modules  # the importtime listing was read
    assert offending(modules, NOT_FOR_HELP) == []


def test_the_top_help_does_not_import_pydantic(tmp_path: Path) -> None:
    status, modules, _ = imported(["--help"], tmp_path)
    assert status == 0
    assert offending(modules, ("pydantic", "pydantic_core")) == []


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An SQLite installation holding one request, No.NUMBER, gathering support."""
    settings = Settings(data_dir=tmp_path / "data")
    store = RingiStore(env=settings.eventsourcing_env())
    try:
        store.save(request_in(State.GATHERING_SUPPORT))
    finally:
        store.close()
    return settings.data_dir


@pytest.mark.parametrize(
    "args",
    [["show", str(NUMBER)], ["show", str(NUMBER), "--json"], ["list", "--json"]],
    ids=" ".join,
)
def test_reads_import_neither_the_api_nor_the_pages(args: list[str], data_dir: Path) -> None:
    status, modules, out = imported(args, data_dir)
    assert status == 0, out
    assert f"{NUMBER}" in out  # the request was read from the store
    assert "ringi.store" in modules
    assert offending(modules, NOT_FOR_READS) == []


def test_a_write_imports_neither_the_api_nor_the_pages(data_dir: Path) -> None:
    """A request command goes through Temporal (unreachable here: a closed port,
    exit 3) and the store, without FastAPI or the pages."""
    args = ["--temporal", "127.0.0.1:1", "endorse", str(NUMBER), "--as", "B社"]
    status, modules, _ = imported(args, data_dir)
    assert status == 3
    assert {"temporalio", "ringi.service"} <= modules
    assert offending(modules, tuple(b for b in NOT_FOR_READS if b != "ringi.api")) == []
    assert offending(modules, ("ringi.api.app", "ringi.api.routers")) == []


def test_a_banned_module_is_seen(tmp_path: Path) -> None:
    """The check can fail: the API's server command does import FastAPI once it runs
    (here it stops at once, Temporal being unreachable at a closed port)."""
    status, modules, _ = imported(["--temporal", "127.0.0.1:1", "serve", "--port", "1"], tmp_path)
    assert status != 0
    assert "fastapi" in offending(modules, NOT_FOR_READS)
