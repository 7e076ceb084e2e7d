"""How the API's server treats its connections (``ringi/api/server.py``), on a
real socket: Nagle's algorithm is off on every connection it accepts, and the
HTTP parser is httptools'.

Without TCP_NODELAY a response's body, written after its headers, waited for
the client's delayed ACK: every call took ~40 ms longer on Linux, whatever
the server did (bench.api found it: 44 ms a read with two clients, 1.5 ms
after)."""

from __future__ import annotations

import asyncio
import gc
import socket

import pytest
from fastapi import FastAPI

from ringi.api.server import ApiServer, bind, freeze_startup_heap


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_every_accepted_connection_has_nagle_off(host: str) -> None:
    sock = bind(host, 0)
    server = ApiServer(_app(), sock)
    await server.start()
    port = sock.getsockname()[1]
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        opened = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection(host, port, family=family)
            writer.write(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            opened.append(writer)
        connections = list(server.server.server_state.connections)
        assert len(connections) == 3
        for protocol in connections:
            assert type(protocol).__name__ == "HttpToolsProtocol"
            accepted = protocol.transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        for writer in opened:
            writer.close()
            await writer.wait_closed()
    finally:
        await server.stop()


def test_freezing_the_startup_heap_keeps_it_out_of_full_collections() -> None:
    before = gc.get_freeze_count()
    kept = [object() for _ in range(10)]
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= before + len(kept)
        assert gc.isenabled()  # objects made later are still collected
    finally:
        gc.unfreeze()


async def test_the_routes_are_prepared_before_the_first_connection() -> None:
    """FastAPI prepares an included router's routes on the first request that
    reaches it; ``ApiServer.start`` sends one through every router first, so no
    caller waits for it. (This reads FastAPI's own record of that preparation:
    if a FastAPI release renames it, this test fails and the warm-up wants a look.)"""
    from fastapi import APIRouter
    from fastapi.routing import _IncludedRouter

    app = FastAPI()
    for name in ("a", "b", "c"):
        router = APIRouter(prefix=f"/{name}")

        @router.get("/x")
        async def x() -> dict[str, str]:
            return {}

        app.include_router(router)
    included = [r for r in app.router.routes if isinstance(r, _IncludedRouter)]
    assert len(included) == 3
    assert all(r._effective_candidates_version is None for r in included)

    server = ApiServer(app, bind("127.0.0.1", 0))
    await server.start()
    try:
        assert all(r._effective_candidates_version is not None for r in included)
    finally:
        await server.stop()
