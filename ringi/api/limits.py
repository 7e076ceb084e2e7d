"""Limits that keep one client from hurting the others: the size of a request
body, and the rate of each token's calls."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ErrorBody


class RateLimiter:
    """A token bucket per API token, in this process: ``burst`` calls at once,
    refilled at ``rate`` calls a second. ``rate`` 0 lets everything through."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # token id -> (level, last refill)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` from ``key``'s bucket; 0 if it could, else the seconds
        to wait until it can."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        level, last = self._buckets.get(key, (float(self.burst), now))
        level = min(float(self.burst), level + (now - last) * self.rate)
        if level >= cost:
            self._buckets[key] = (level - cost, now)
            return 0.0
        self._buckets[key] = (level, now)
        return (cost - level) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` in whole seconds, never 0 (a client would retry at once)."""
        return str(max(1, math.ceil(wait)))


class BodyTooLarge(HTTPException):
    """Raised into the application reading the body; an HTTPException so that
    FastAPI passes it on to the error handlers as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuses a body over ``limit`` bytes with 413 before the application reads
    it: at once when ``Content-Length`` says so, otherwise as soon as the bytes
    received pass the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = ErrorBody(
            status=413,
            error="too_large",
            message=f"the request body is larger than {self.limit} bytes",
        ).model_dump_json(exclude_none=True)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
