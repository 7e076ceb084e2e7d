"""Serving the API with uvicorn inside an asyncio loop that is already running
(``ringi up`` runs the worker in the same loop; ``ringi serve`` runs it alone)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Scope


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller owns Ctrl-C and SIGTERM
    and stops the server through ``ApiServer.stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now so that a port in use is a clear error at
    start-up (``OSError``) rather than a server that exits by itself later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on connections whose socket says it is TCP. Without it
    # a response's body, written after its headers, waited for the client's
    # delayed ACK of the headers: about 40 ms on every call (Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class ApiServer:
    """The API listening on ``sock`` until ``stop``."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.app, self.sock = app, sock
        config = uvicorn.Config(
            app,
            # httptools' C parser, not h11's pure-Python one: a third of the API's
            # CPU per read (0.94 -> 0.66 ms, bench.api --reads-only)
            http="httptools",
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    async def start(self) -> None:
        await warm_up(self.app)
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self.task.done():
                await self.task  # raises what stopped it
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        self.sock.close()
        context = getattr(self.app.state, "ringi", None)
        if context is not None:  # the API's context (api.app): what it holds open
            context.close()


#: a path no route answers: the warm-up request walks every router looking for it
WARM_UP_PATH = "/.ringi-warm-up"


async def warm_up(app: ASGIApp) -> None:
    """Answer one request in-process before taking any connection.

    FastAPI prepares each router's routes on the first request that reaches
    that router (field models, dependencies: ~70 ms for the API's reading
    router), on the event loop: the first read after start-up held up every
    call behind it (bench.api: the first reads' p99 over 100 ms). A path
    that no route answers reaches them all."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": WARM_UP_PATH,
        "raw_path": WARM_UP_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    await app(scope, receive, send)


def freeze_startup_heap() -> None:
    """Keep what exists once the service is up (modules, FastAPI's routes and
    schemas, pydantic's validators, the Temporal client) out of the cyclic
    garbage collector's full collections. They live as long as the process, and
    walking them stopped the API for ~70 ms each time, the whole of its slowest
    reads (bench.api: p99 146 -> 86 ms). Objects made later are collected as
    before."""
    gc.collect()
    gc.freeze()
